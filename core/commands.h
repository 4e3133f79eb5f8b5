/* core/commands.h — the command line entry point. */
#ifndef CC_CORE_COMMANDS_H
#define CC_CORE_COMMANDS_H

/* Runs `changecast <command> ...`; returns the exit status. */
int cc_main(int argc, char **argv);

#endif
