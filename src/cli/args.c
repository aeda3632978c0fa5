#include "cli/args.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/parse.h"

const char cli_usage[] =
    "usage: brig [OPTIONS] [FILE]\n"
    "       brig doctor\n"
    "       brig daemon start [--idle DURATION] | stop | status\n"
    "       brig deps install [--dir DIR] [--package-index URL] PKG[SPEC]... | list\n"

    "       brig serve [OPTIONS]    (an HTTP service; brig serve --help)\n"
    "       brig mcp [OPTIONS]      (an MCP server on stdio; brig mcp --help)\n"
    "\n"
    "Run Python, JavaScript or shell code in a sandbox.  The code comes from -c,\n"
    "from FILE, or from standard input.\n"
    "\n"
    "  -c, --code CODE          run CODE\n"
    "  -l, --lang LANG          python|py|js|javascript|sh (default: from the FILE\n"
    "                           extension, else python)\n"
    "      --timeout DURATION   wall-clock limit, e.g. 500ms, 2s, 1m (default 30s)\n"
    "      --cpu-timeout DURATION  CPU-time limit for all guest processes\n"
    "      --memory SIZE        memory limit, e.g. 64m, 1g (default 256m)\n"
    "      --pids N             process/thread limit (default 128)\n"
    "      --max-output SIZE    limit for each of stdout and stderr (default 1m)\n"
    "      --tmp-size SIZE      what /tmp, /home/user and /dev/shm hold in all\n"
    "                           (default 64m)\n"
    "      --tmp-inodes N       files in /tmp, /home/user and /dev/shm in all\n"
    "                           (default 16384)\n"
    "      --max-open-files N   open files per guest process (default 256)\n"
    "      --max-frame SIZE     largest protocol frame; also bounds the host memory\n"
    "                           of host calls, about twice this (default 32m)\n"
    "      --allow-host HOST[:PORT]  allow http to HOST and its subdomains (repeatable)\n"
    "      --mount VPATH:HOSTPATH[:ro|rw|rwc]  expose a host directory (repeatable)\n"
    "      --mount-write-limit SIZE  what a run may add to its rwc mounts, all\n"
    "                           together (default 64m)\n"
    "      --host-fn NAME=COMMAND  host function run as COMMAND: JSON args on stdin,\n"
    "                           JSON result on stdout (repeatable)\n"
    "      --kv FILE            durable key-value store in the SQLite FILE\n"
    "      --allow-package NAME  let Python's install_pkg() install NAME (repeatable)\n"
    "      --allow-packages     let install_pkg() install any package\n"
    "      --package-index URL  PEP 503 index for install_pkg and deps install\n"
    "                           (default https://pypi.org/simple)\n"
    "      --package-cache DIR  installed packages (default ~/.cache/brig/python)\n"
    "      --packages DIR       put DIR (e.g. .brig/python/packages) read-only on\n"
    "                           Python's sys.path (repeatable)\n"
    "      --host-path PATH     also show the guest this host file or directory,\n"
    "                           read-only at the same path (repeatable)\n"
    "      --outputs DIR        write the run's artifacts (what the guest left in\n"
    "                           /home/user/outputs, and Python's display()) into\n"
    "                           the host directory DIR (made if missing)\n"
    "      --max-artifacts N    files the outputs directory may hold (default 64)\n"
    "      --artifacts-size SIZE  its size, all files together (default 32m)\n"
    "      --json               print the whole result as one JSON object\n"
    "      --no-daemon          start cold even when a brig daemon runs\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Exit status: the guest's own; 124 after a timeout; 137 when a limit killed\n"
    "the guest; 128+N when signal N did; 2 for bad usage; 125 when brig failed.\n"
    "\n"
    "brig daemon start keeps warm interpreters for this user's runs, which then\n"
    "start faster; it exits after --idle (default 15m) without a client.\n"
    "brig daemon status exits 0 when it runs, 3 when it does not.\n";

enum {
	OPT_TIMEOUT = 256,
	OPT_CPU,
	OPT_MEMORY,
	OPT_PIDS,
	OPT_OUTPUT,
	OPT_TMP,
	OPT_TMP_INODES,
	OPT_NOFILE,
	OPT_FRAME,
	OPT_ALLOW,
	OPT_MOUNT,
	OPT_HOSTFN,
	OPT_KV,
	OPT_JSON,
	OPT_MOUNT_LIMIT,
	OPT_NO_DAEMON,
	OPT_ALLOW_PKG,
	OPT_ALLOW_PKGS,
	OPT_PKG_INDEX,
	OPT_PKG_CACHE,
	OPT_PACKAGES,
	OPT_HOST_PATH,
	OPT_OUTPUTS,
	OPT_MAX_ARTIFACTS,
	OPT_ARTIFACTS_SIZE,
};

static const struct option longopts[] = {
    {"code", required_argument, NULL, 'c'},
    {"lang", required_argument, NULL, 'l'},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"cpu-timeout", required_argument, NULL, OPT_CPU},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"pids", required_argument, NULL, OPT_PIDS},
    {"max-output", required_argument, NULL, OPT_OUTPUT},
    {"tmp-size", required_argument, NULL, OPT_TMP},
    {"tmp-inodes", required_argument, NULL, OPT_TMP_INODES},
    {"max-open-files", required_argument, NULL, OPT_NOFILE},
    {"max-frame", required_argument, NULL, OPT_FRAME},
    {"allow-host", required_argument, NULL, OPT_ALLOW},
    {"mount", required_argument, NULL, OPT_MOUNT},
    {"mount-write-limit", required_argument, NULL, OPT_MOUNT_LIMIT},
    {"host-fn", required_argument, NULL, OPT_HOSTFN},
    {"kv", required_argument, NULL, OPT_KV},
    {"json", no_argument, NULL, OPT_JSON},
    {"no-daemon", no_argument, NULL, OPT_NO_DAEMON},
    {"allow-package", required_argument, NULL, OPT_ALLOW_PKG},
    {"allow-packages", no_argument, NULL, OPT_ALLOW_PKGS},
    {"package-index", required_argument, NULL, OPT_PKG_INDEX},
    {"package-cache", required_argument, NULL, OPT_PKG_CACHE},
    {"packages", required_argument, NULL, OPT_PACKAGES},
    {"host-path", required_argument, NULL, OPT_HOST_PATH},
    {"outputs", required_argument, NULL, OPT_OUTPUTS},
    {"max-artifacts", required_argument, NULL, OPT_MAX_ARTIFACTS},
    {"artifacts-size", required_argument, NULL, OPT_ARTIFACTS_SIZE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

int cli_lang_from_ext(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;

	if (!dot)
		return -1;
	if (strcasecmp(dot, ".py") == 0)
		return BRIG_LANG_PYTHON;
	if (strcasecmp(dot, ".js") == 0 || strcasecmp(dot, ".mjs") == 0)
		return BRIG_LANG_JS;
	if (strcasecmp(dot, ".sh") == 0)
		return BRIG_LANG_SH;
	return -1;
}

static int mount_usage(const char *spec, char *err, size_t errlen)
{
	snprintf(err, errlen, "--mount wants VPATH:HOSTPATH[:ro|rw|rwc], got '%s'", spec);
	return -1;
}

int cli_parse_mount(char *spec, struct cli_mount *m, char *err, size_t errlen)
{
	char *host = strchr(spec, ':');
	char *mode;

	if (!host || host == spec || !host[1])
		return mount_usage(spec, err, errlen);
	/* "/d::rw" names no host directory: say so before the string is cut. */
	mode = strrchr(host + 1, ':');
	if (mode == host + 1 &&
	    (!strcmp(mode, ":ro") || !strcmp(mode, ":rw") || !strcmp(mode, ":rwc")))
		return mount_usage(spec, err, errlen);
	*host++ = '\0';
	m->vpath = spec;
	m->host_path = host;
	m->mode = BRIG_MOUNT_RO;
	if (!mode)
		return 0;
	if (strcmp(mode, ":ro") == 0)
		m->mode = BRIG_MOUNT_RO;
	else if (strcmp(mode, ":rw") == 0)
		m->mode = BRIG_MOUNT_RW;
	else if (strcmp(mode, ":rwc") == 0)
		m->mode = BRIG_MOUNT_RWC;
	else
		return 0; /* a colon inside the host path */
	*mode = '\0';
	return 0;
}

static int bad(char *err, size_t errlen, const char *opt, const char *val, const char *want)
{
	snprintf(err, errlen, "invalid %s '%s': expected %s", opt, val, want);
	return -1;
}

static int parse_limit(int c, const char *v, brig_limits *l, char *err, size_t errlen)
{
	const char *dur = "a duration such as 500ms, 2s or 1m";
	const char *size = "a size such as 64m, 1g or 256mb";

	switch (c) {
	case OPT_TIMEOUT:
		return parse_duration_ms(v, &l->wall_timeout_ms)
			   ? bad(err, errlen, "--timeout", v, dur)
			   : 0;
	case OPT_CPU:
		return parse_duration_ms(v, &l->cpu_timeout_ms)
			   ? bad(err, errlen, "--cpu-timeout", v, dur)
			   : 0;
	case OPT_MEMORY:
		return parse_size(v, &l->memory_bytes) ? bad(err, errlen, "--memory", v, size) : 0;
	case OPT_PIDS:
		return parse_count(v, &l->max_pids)
			   ? bad(err, errlen, "--pids", v, "a positive integer")
			   : 0;
	case OPT_OUTPUT:
		return parse_size(v, &l->max_output_bytes)
			   ? bad(err, errlen, "--max-output", v, size)
			   : 0;
	case OPT_TMP:
		return parse_size(v, &l->tmp_bytes) ? bad(err, errlen, "--tmp-size", v, size) : 0;
	case OPT_MOUNT_LIMIT:
		return parse_size(v, &l->mount_write_bytes)
			   ? bad(err, errlen, "--mount-write-limit", v, size)
			   : 0;
	case OPT_TMP_INODES: {
		uint32_t n;

		if (parse_count(v, &n))
			return bad(err, errlen, "--tmp-inodes", v, "a positive integer");
		l->tmp_inodes = n;
		return 0;
	}
	case OPT_NOFILE:
		return parse_count(v, &l->max_open_files)
			   ? bad(err, errlen, "--max-open-files", v, "a positive integer")
			   : 0;
	case OPT_FRAME:
		return parse_size(v, &l->max_frame_bytes) ? bad(err, errlen, "--max-frame", v, size)
							  : 0;
	}
	return -1;
}

static int too_many(char *err, size_t errlen)
{
	snprintf(err, errlen, "too many repetitions (at most %d)", CLI_MAX_LIST);
	return -1;
}

static int push(const char **list, size_t *n, const char *v, char *err, size_t errlen)
{
	if (*n >= CLI_MAX_LIST)
		return too_many(err, errlen);
	list[(*n)++] = v;
	return 0;
}

static int parse_hostfn(struct cli_opts *o, char *spec, char *err, size_t errlen)
{
	char *eq = strchr(spec, '=');

	if (!eq || eq == spec || !eq[1]) {
		snprintf(err, errlen, "--host-fn wants NAME=COMMAND, got '%s'", spec);
		return -1;
	}
	if (o->nfns >= CLI_MAX_LIST)
		return too_many(err, errlen);
	*eq = '\0';
	o->fns[o->nfns++] = (struct cli_hostfn){spec, eq + 1};
	return 0;
}

static int parse_one(struct cli_opts *o, int c, char *arg, char *err, size_t errlen)
{
	switch (c) {
	case 'c':
		o->code = arg;
		return 0;
	case 'l':
		o->lang_set = true;
		return brig_lang_parse(arg, &o->lang)
			   ? bad(err, errlen, "--lang", arg, "python, py, js, javascript or sh")
			   : 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_NO_DAEMON:
		o->no_daemon = true;
		return 0;
	case OPT_ALLOW:
		return push(o->hosts, &o->nhosts, arg, err, errlen);
	case OPT_ALLOW_PKG:
		return push(o->packages, &o->npackages, arg, err, errlen);
	case OPT_ALLOW_PKGS:
		o->any_package = true;
		return 0;
	case OPT_PKG_INDEX:
		o->package_index = arg;
		return 0;
	case OPT_PKG_CACHE:
		o->package_cache = arg;
		return 0;
	case OPT_PACKAGES:
		return push(o->package_dirs, &o->npackage_dirs, arg, err, errlen);
	case OPT_MOUNT:
		if (o->nmounts >= CLI_MAX_LIST)
			return too_many(err, errlen);
		return cli_parse_mount(arg, &o->mounts[o->nmounts++], err, errlen);
	case OPT_HOSTFN:
		return parse_hostfn(o, arg, err, errlen);
	case OPT_KV:
		o->kv_path = arg;
		return 0;
	case OPT_HOST_PATH:
		return push(o->host_paths, &o->nhost_paths, arg, err, errlen);
	case OPT_OUTPUTS:
		o->outputs_dir = arg;
		return 0;
	case OPT_MAX_ARTIFACTS:
		return parse_count(arg, &o->max_artifacts)
			   ? bad(err, errlen, "--max-artifacts", arg, "a positive integer")
			   : 0;
	case OPT_ARTIFACTS_SIZE:
		return parse_size(arg, &o->artifacts_bytes)
			   ? bad(err, errlen, "--artifacts-size", arg,
				 "a size such as 64m, 1g or 256mb")
			   : 0;
	case 'h':
		o->command = CLI_HELP;
		return 0;
	case 'V':
		o->command = CLI_VERSION;
		return 0;
	case '?':
		snprintf(err, errlen, "unknown or incomplete option (see brig --help)");
		return -1;
	}
	return parse_limit(c, arg, &o->limits, err, errlen);
}

/* `daemon start [--idle DURATION]`, `daemon stop`, `daemon status`. */
static int parse_daemon(int argc, char **argv, struct cli_opts *o, char *err, size_t errlen)
{
	static const char *const actions[] = {"start", "stop", "status"};
	const char *usage = "usage: brig daemon start [--idle DURATION] | stop | status";
	int a = 0, i = 3;

	o->command = CLI_DAEMON;
	while (argc > 2 && a < 3 && strcmp(argv[2], actions[a]) != 0)
		a++;
	if (argc < 3 || a == 3)
		return snprintf(err, errlen, "%s", usage), -1;
	o->daemon = (enum cli_daemon_action)a;
	if (o->daemon == CLI_DAEMON_START && i < argc && strcmp(argv[i], "--idle") == 0) {
		if (i + 1 >= argc || parse_duration_ms(argv[i + 1], &o->idle_ms))
			return bad(err, errlen, "--idle", i + 1 < argc ? argv[i + 1] : "",
				   "a duration such as 90s, 15m or 1h");
		i += 2;
	}
	if (i < argc)
		return snprintf(err, errlen, "%s", usage), -1;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_opts *o, char *err, size_t errlen)
{
	int c;

	memset(o, 0, sizeof(*o));
	brig_limits_init(&o->limits);
	if (argc > 1 && strcmp(argv[1], "doctor") == 0) {
		o->command = CLI_DOCTOR;
		return argc == 2 ? 0 : (snprintf(err, errlen, "doctor takes no arguments"), -1);
	}
	if (argc > 1 && strcmp(argv[1], "daemon") == 0)
		return parse_daemon(argc, argv, o, err, errlen);
	optind = 1;
	if (argc > 1 && strcmp(argv[1], "repl") == 0) {
		o->command = CLI_REPL;
		optind = 2;
	}
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+c:l:hV", longopts, NULL)) != -1) {
		if (parse_one(o, c, optarg, err, errlen) < 0)
			return -1;
	}
	if (optind < argc && o->command == CLI_REPL) {
		snprintf(err, errlen, "repl takes no FILE or code");
		return -1;
	}
	if (o->command == CLI_REPL && o->code) {
		snprintf(err, errlen, "repl takes no FILE or code");
		return -1;
	}
	if (optind < argc)
		o->file = argv[optind++];
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (o->code && o->file) {
		snprintf(err, errlen, "give either -c CODE or FILE, not both");
		return -1;
	}
	if (!o->lang_set && o->file && cli_lang_from_ext(o->file) >= 0)
		o->lang = (brig_lang)cli_lang_from_ext(o->file);
	return 0;
}
