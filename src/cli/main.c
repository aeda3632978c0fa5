/* The brig command: parse options, build capabilities, run, report. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brig.h"
#include "brig_build.h"
#include "cli/cli.h"
#include "cli/daemon_dir.h"
#include "cli/hostfn_cmd.h"
#include "cli/serve.h"
#include "util/buf.h"

#define EXIT_USAGE 2
#define EXIT_BRIG 125

static int read_all(int fd, struct buf *b, uint64_t max)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(b, chunk, (size_t)n))
			return -1;
		if (b->len > max) {
			errno = EFBIG;
			return -1;
		}
	}
	return 0;
}

static int load_code(const struct cli_opts *o, struct buf *code, const char **filename)
{
	uint64_t max =
	    o->limits.max_code_bytes ? o->limits.max_code_bytes : BRIG_DEFAULT_MAX_CODE_BYTES;
	int fd = 0, rc;

	if (o->code) {
		*filename = "<string>";
		return buf_append(code, o->code, strlen(o->code));
	}
	*filename = "<stdin>";
	if (o->file) {
		if ((fd = open(o->file, O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "brig: %s: %s\n", o->file, strerror(errno));
			return -1;
		}
		*filename = o->file;
	}
	rc = read_all(fd, code, max);
	if (rc < 0)
		fprintf(stderr, "brig: cannot read code from %s: %s\n", o->file ? o->file : "stdin",
			errno == EFBIG ? "larger than the code size limit" : strerror(errno));
	if (fd != 0)
		close(fd);
	return rc;
}

static void stream_output(void *ud, brig_stream stream, const char *data, size_t len)
{
	int fd = stream == BRIG_STDOUT ? 1 : 2;

	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		data += n;
		len -= (size_t)n;
	}
}

/*
 * A relative host path is taken from the current directory, now: the
 * jail's init resolves it, and a daemon's (warm) init has another one.
 * When that fails the path stays relative, and *cold is set.
 */
static const char *absolute(const char *path, char *buf, size_t len, bool *cold)
{
	size_t n;

	if (path[0] == '/')
		return path;
	if (!getcwd(buf, len) || (n = strlen(buf)) >= len - 1 ||
	    snprintf(buf + n, len - n, "%s%s", n > 1 ? "/" : "", path) >= (int)(len - n)) {
		*cold = true;
		return path;
	}
	return buf;
}

static int package_fail(const char *opt, const char *v)
{
	fprintf(stderr, "brig: invalid %s '%s'\n", opt, v);
	return -1;
}

/* install_pkg's grants, and --packages directories (made absolute). */
static int build_package_caps(const struct cli_opts *o, brig_caps *caps)
{
	char abs[PATH_MAX];

	for (size_t i = 0; i < o->npackages; i++)
		if (brig_caps_allow_package(caps, o->packages[i]))
			return package_fail("--allow-package", o->packages[i]);
	if (o->any_package)
		brig_caps_allow_any_package(caps);
	if (o->package_index && brig_caps_set_package_index(caps, o->package_index))
		return package_fail("--package-index", o->package_index);
	if (o->package_cache)
		(void)mkdir(o->package_cache, 0755);
	if (o->package_cache &&
	    (!realpath(o->package_cache, abs) || brig_caps_set_package_cache(caps, abs)))
		return package_fail("--package-cache", o->package_cache);
	for (size_t i = 0; i < o->npackage_dirs; i++)
		if (!realpath(o->package_dirs[i], abs) || brig_caps_add_packages(caps, abs))
			return package_fail("--packages", o->package_dirs[i]);
	return 0;
}

/* *cold: a mount's path that only a cold run resolves right. */
static int build_caps(const struct cli_opts *o, brig_caps *caps, brig_kv **kv, bool *cold)
{
	char abs[PATH_MAX];

	for (size_t i = 0; i < o->nhosts; i++) {
		if (brig_caps_allow_host(caps, o->hosts[i])) {
			fprintf(stderr, "brig: invalid --allow-host '%s'\n", o->hosts[i]);
			return -1;
		}
	}
	for (size_t i = 0; i < o->nmounts; i++) {
		const struct cli_mount *m = &o->mounts[i];
		if (brig_caps_mount(caps, m->vpath, absolute(m->host_path, abs, sizeof(abs), cold),
				    m->mode)) {
			fprintf(stderr,
				"brig: invalid --mount '%s': the guest path must be "
				"absolute and outside /proc, /dev, /usr, /etc, ...\n",
				m->vpath);
			return -1;
		}
	}
	for (size_t i = 0; i < o->nfns; i++) {
		if (brig_caps_add_function(caps, o->fns[i].name, hostfn_command,
					   (void *)o->fns[i].command)) {
			fprintf(stderr, "brig: invalid --host-fn '%s'\n", o->fns[i].name);
			return -1;
		}
	}
	if (build_package_caps(o, caps) < 0)
		return -1;
	if ((o->max_artifacts || o->artifacts_bytes) &&
	    brig_caps_set_outputs(caps, BRIG_DEFAULT_OUTPUTS, o->max_artifacts,
				  o->artifacts_bytes)) {
		fprintf(stderr, "brig: --max-artifacts or --artifacts-size out of range "
				"(at most 4096 files, 1g)\n");
		return -1;
	}
	if (o->kv_path) {
		int rc = brig_kv_open(o->kv_path, NULL, kv);
		if (rc) {
			fprintf(stderr, "brig: cannot open --kv %s: %s\n", o->kv_path,
				brig_strerror(rc));
			return -1;
		}
		brig_caps_set_kv(caps, *kv);
	}
	return 0;
}

/* Any --host-path the executor refuses is a usage error. */
static int add_host_paths(const struct cli_opts *o, brig_executor *ex)
{
	for (size_t i = 0; i < o->nhost_paths; i++) {
		int rc = brig_executor_add_host_path(ex, o->host_paths[i]);

		if (rc) {
			fprintf(stderr, "brig: --host-path %s: %s\n", o->host_paths[i],
				rc == BRIG_E_INVAL
				    ? "refused (see SECURITY.md: secrets, /etc itself "
				      "and the jail's own directories stay out)"
				    : brig_strerror(rc));
			return -1;
		}
	}
	return 0;
}

/* --outputs: the artifacts into a host directory; a failure fails the run. */
static int save_artifacts(const struct cli_opts *o, const brig_result *res)
{
	char *why = NULL;
	int rc;

	if (!o->outputs_dir || brig_result_artifact_count(res) == 0)
		return 0;
	/* The directory itself may be new; nothing below it is followed. */
	if (mkdir(o->outputs_dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "brig: --outputs %s: %s\n", o->outputs_dir, strerror(errno));
		return -1;
	}
	rc = brig_result_write_artifacts(res, o->outputs_dir, &why);
	if (rc)
		fprintf(stderr, "brig: --outputs %s: %s\n", o->outputs_dir,
			why ? why : brig_strerror(rc));
	free(why);
	return rc ? -1 : 0;
}

static int report(const struct cli_opts *o, const brig_result *res)
{
	int saved = save_artifacts(o, res);

	if (o->json) {
		char *j = brig_result_to_json(res);
		if (j)
			printf("%s\n", j);
		free(j);
	} else if (brig_result_error(res) != BRIG_OK) {
		fprintf(stderr, "brig: %s: %s\n", brig_err_name(brig_result_error(res)),
			brig_result_message(res));
	}
	return saved < 0 ? EXIT_BRIG : cli_exit_status(res);
}

static int run(const struct cli_opts *o)
{
	struct buf code = BUF_INIT;
	brig_executor *ex = NULL;
	brig_caps *caps = NULL;
	brig_kv *kv = NULL;
	brig_result *res = NULL;
	brig_run_opts ro;
	brig_config cfg;
	char *why = NULL, sock[DAEMON_SUN_PATH];
	bool cold = o->no_daemon || o->command != CLI_RUN;
	int rc = EXIT_BRIG;

	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	cfg.native_dir = getenv("BRIG_NATIVE_DIR");
	brig_run_opts_init(&ro);
	ro.limits = o->limits;
	if ((o->command == CLI_RUN && load_code(o, &code, &ro.filename) < 0) ||
	    brig_caps_new(&caps) || build_caps(o, caps, &kv, &cold) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	/*
	 * One run per process: a zygote of our own would cost more than it
	 * saves, but a running daemon's are warm already.  Sessions (the
	 * REPL) are never served warm.
	 */
	cfg.warm_start = -1;
	if (!cold && daemon_for_run(sock, sizeof(sock)) == 0) {
		cfg.daemon_socket = sock;
		cfg.warm_start = 1;
	}
	if (brig_executor_new(&cfg, &ex, &why)) {
		fprintf(stderr, "brig: sandbox unavailable: %s\n", why ? why : "unknown reason");
		goto out;
	}
	if (add_host_paths(o, ex) < 0) {
		rc = EXIT_USAGE;
		goto out;
	}
	ro.caps = caps;
	/* With the code from -c or a file, our stdin is the guest's, streamed. */
	if (o->command == CLI_RUN && (o->code || o->file)) {
		ro.stdin_stream = true;
		ro.stdin_fd = STDIN_FILENO;
	}
	if (!o->json)
		ro.on_output = stream_output;
	if (o->command == CLI_REPL) {
		ro.on_output = stream_output;
		rc = cli_repl(ex, o->lang, &ro);
		goto out;
	}
	brig_run(ex, o->lang, code.data ? code.data : "", code.len, &ro, &res);
	rc = res ? report(o, res) : EXIT_BRIG;
out:
	brig_result_free(res);
	brig_executor_free(ex);
	brig_caps_free(caps);
	brig_kv_free(kv);
	buf_free(&code);
	free(why);
	return rc;
}

int cli_exit_status(const brig_result *r)
{
	switch (brig_result_error(r)) {
	case BRIG_OK:
		return brig_result_exit_code(r) & 0xff;
	case BRIG_E_CANCELLED:
		return 124;
	case BRIG_E_LIMIT:
	case BRIG_E_PROTOCOL:
		return 137;
	case BRIG_E_GUEST_ABORT:
		return brig_result_exit_code(r) > 0 ? brig_result_exit_code(r) & 0xff : 134;
	case BRIG_E_INVAL:
		return EXIT_USAGE;
	default:
		return EXIT_BRIG;
	}
}

int main(int argc, char **argv)
{
	struct cli_opts o;
	char err[512];

	/* A host function's command may exit before reading its input. */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "deps") == 0)
		return cli_deps(argc, argv);

	/* The services parse their own options (cli/serve_args.c, cli/mcp.c). */
	if (argc > 1 && strcmp(argv[1], "serve") == 0)
		return serve_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "mcp") == 0)
		return mcp_main(argc - 1, argv + 1);
	if (cli_parse(argc, argv, &o, err, sizeof(err)) < 0) {
		fprintf(stderr, "brig: %s\n", err);
		return EXIT_USAGE;
	}
	switch (o.command) {
	case CLI_HELP:
		fputs(cli_usage, stdout);
		return 0;
	case CLI_VERSION:
		printf("brig %s\n", BRIG_VERSION_STRING);
		return 0;
	case CLI_DOCTOR:
		return cli_doctor();
	case CLI_DAEMON:
		return cli_daemon(&o);
	case CLI_RUN:
	case CLI_REPL:
		break;
	}
	return run(&o);
}
