/* Entry points of the brig CLI's subcommands. */
#ifndef BRIG_CLI_H
#define BRIG_CLI_H

#include "cli/args.h"

/* `brig doctor`: report what the host offers; 0 when sandboxing works. */
int cli_doctor(void);
/* `brig repl`: an interactive session; returns the exit status. */
int cli_repl(brig_executor *ex, brig_lang lang, const brig_run_opts *ro);
/* `brig daemon start|stop|status`; returns the exit status. */
int cli_daemon(const struct cli_opts *o);
/* `brig deps install|list` (argv as main's); returns the exit status. */
int cli_deps(int argc, char **argv);
/* Map a run's outcome to the CLI's exit status. */
int cli_exit_status(const brig_result *r);

#endif
