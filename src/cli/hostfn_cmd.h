/* --host-fn NAME=COMMAND: a host function served by running a command. */
#ifndef BRIG_CLI_HOSTFN_CMD_H
#define BRIG_CLI_HOSTFN_CMD_H

/*
 * A brig_host_fn whose userdata is the command line (a const char *).  The
 * command runs on the host through /bin/sh -c with the JSON arguments on
 * stdin; its stdout is the JSON result; a non-zero exit is an error whose
 * message is its stderr.  The command leads a process group of its own:
 * when it ends, times out (30 s) or its call is cancelled (the run's
 * deadline), the group is killed, so nothing it started outlives the call.
 */
int hostfn_command(void *userdata, const char *name, const char *args_json, char **result_json,
		   char **error_message);

#endif
