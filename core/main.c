/* core/main.c — the changecast daemon. */
#include "core/commands.h"

int main(int argc, char **argv)
{
    return cc_main(argc, argv);
}
