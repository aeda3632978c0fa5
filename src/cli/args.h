/* Command-line parsing for `brig`.  No side effects beyond filling cli_opts. */
#ifndef BRIG_CLI_ARGS_H
#define BRIG_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brig.h"

enum cli_command { CLI_RUN, CLI_REPL, CLI_DOCTOR, CLI_DAEMON, CLI_HELP, CLI_VERSION };

/* `brig daemon start|stop|status` */
enum cli_daemon_action { CLI_DAEMON_START, CLI_DAEMON_STOP, CLI_DAEMON_STATUS };

struct cli_mount {
	const char *vpath;
	const char *host_path;
	brig_mount_mode mode;
};

struct cli_hostfn {
	const char *name;
	const char *command;
};

#define CLI_MAX_LIST 64

struct cli_opts {
	enum cli_command command;
	const char *code; /* -c */
	const char *file; /* positional FILE, or NULL */
	brig_lang lang;
	bool lang_set;
	bool json;
	brig_limits limits;
	const char *hosts[CLI_MAX_LIST];
	size_t nhosts;
	struct cli_mount mounts[CLI_MAX_LIST];
	size_t nmounts;
	struct cli_hostfn fns[CLI_MAX_LIST];
	size_t nfns;
	const char *kv_path;
	const char *packages[CLI_MAX_LIST]; /* --allow-package */
	size_t npackages;
	bool any_package; /* --allow-packages */
	const char *package_index;
	const char *package_cache;
	const char *package_dirs[CLI_MAX_LIST]; /* --packages */
	size_t npackage_dirs;
	const char *host_paths[CLI_MAX_LIST]; /* --host-path */
	size_t nhost_paths;
	const char *outputs_dir; /* --outputs: where artifacts go on the host */
	uint32_t max_artifacts;	 /* 0: the default */
	uint64_t artifacts_bytes;
	bool no_daemon;		       /* --no-daemon: always start cold */
	enum cli_daemon_action daemon; /* with CLI_DAEMON */
	uint64_t idle_ms;	       /* daemon start --idle; 0: the default */
};

/*
 * Parse argv into o.  Returns 0, or -1 with a message in err.  Strings in o
 * point into argv (the mount and host-fn arguments are split in place).
 */
int cli_parse(int argc, char **argv, struct cli_opts *o, char *err, size_t errlen);
/* The language a file name implies (.py .js .mjs .sh); -1 when none. */
int cli_lang_from_ext(const char *path);
/* Parse "VPATH:HOSTPATH[:ro|rw|rwc]" in place. */
int cli_parse_mount(char *spec, struct cli_mount *m, char *err, size_t errlen);

extern const char cli_usage[];

#endif
