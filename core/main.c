/* core/main.c — the changecast daemon. */
#include <stdlib.h>

#include "core/commands.h"

int main(int argc, char **argv)
{
    /* libmongoc (loaded with the mongo and database plugins) keeps counters
     * in /dev/shm/mongoc-<pid> for its mongoc-stat tool; a killed process
     * leaves the file behind, and a later process given the same pid then
     * gets a raw warning on stderr from libmongoc's load-time constructor,
     * before any plugin can route it to the log. The counters serve nothing
     * here: off, unless the user asked for them. */
    setenv("MONGOC_DISABLE_SHM", "1", 0);
    return cc_main(argc, argv);
}
