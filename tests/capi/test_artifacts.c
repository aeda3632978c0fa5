/*
 * The C API of what a run sees of the host and hands back: the host paths
 * an embedder adds (brig_executor_add_host_path), and artifacts
 * (brig_caps_set_outputs, brig_result_artifact*, brig_result_write_artifacts,
 * brig_result_to_json).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../unit/check.h"
#include "brig.h"
#include "capi.h"

static brig_executor *ex;

static brig_result *sh_with(brig_executor *e, const char *code, const brig_caps *caps)
{
	brig_run_opts o;
	brig_result *r = NULL;

	brig_run_opts_init(&o);
	o.caps = caps;
	brig_run(e, BRIG_LANG_SH, code, strlen(code), &o, &r);
	return r;
}

static brig_result *sh(const char *code, const brig_caps *caps)
{
	return sh_with(ex, code, caps);
}

static bool ran(const brig_result *r, int code)
{
	return r && brig_result_error(r) == BRIG_OK && brig_result_exit_code(r) == code;
}

/* A fresh directory below /var/tmp (not a jail directory), readable by the guest. */
static int host_dir(char *dir, const char *stem)
{
	snprintf(dir, 64, "/var/tmp/%s.XXXXXX", stem);
	return mkdtemp(dir) && chmod(dir, 0755) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
	chmod(path, 0644);
}

static void host_path_refusals(brig_executor *e)
{
	static const char *const refused[] = {
	    "/etc/shadow",
	    "/etc",
	    "/etc/ssh/sshd_config",
	    "/etc/ssl/private",
	    "/proc/self",
	    "relative",
	    "/etc/../etc/shadow",
	    "/var//tmp",
	    "/var/tmp/",
	    "/",
	    "/tmp",
	    "/home/user/x",
	    "/opt/brig/python",
	    "/etc/passwd",
	    "/root",
	    "/etc/machine-id",
	    "/etc/resolv.conf",
	};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int rc = brig_executor_add_host_path(e, refused[i]);

		if (rc != BRIG_E_INVAL)
			fprintf(stderr, "add_host_path(%s) = %d\n", refused[i], rc);
		CHECK(rc == BRIG_E_INVAL);
	}
	CHECK(brig_executor_add_host_path(e, NULL) == BRIG_E_INVAL);
	CHECK(brig_executor_add_host_path(NULL, "/var/tmp") == BRIG_E_INVAL);
	CHECK(brig_executor_add_host_path(e, "/var/brig-no-such-path") == BRIG_E_NOTFOUND);
	/* What a link leads to is checked too, and a socket is never exposed. */
	if (access("/var/run", F_OK) == 0) /* a link to /run on Debian */
		CHECK(brig_executor_add_host_path(e, "/var/run") == BRIG_E_INVAL);
}

/* A unix socket, and a link to /etc/shadow, in dir: both refused. */
static void host_path_targets(brig_executor *e, const char *dir)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char link_path[128];
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(brig_executor_add_host_path(e, sa.sun_path) == BRIG_E_INVAL);
	snprintf(link_path, sizeof(link_path), "%s/shadow", dir);
	CHECK(symlink("/etc/shadow", link_path) == 0);
	CHECK(brig_executor_add_host_path(e, link_path) == BRIG_E_INVAL);
	unlink(link_path);
	unlink(sa.sun_path);
	if (fd >= 0)
		close(fd);
}

static void host_paths(void)
{
	brig_executor *e = test_executor_warm(-1);
	char dir[64], file[128], code[320];
	brig_result *r;

	CHECK(e != NULL);
	if (!e || host_dir(dir, "brig-hostpath") < 0)
		return;
	snprintf(file, sizeof(file), "%s/app.conf", dir);
	write_file(file, "setting=1\n");
	host_path_refusals(e);
	host_path_targets(e, dir);
	CHECK(brig_executor_add_host_path(e, dir) == BRIG_OK);
	CHECK(brig_executor_add_host_path(e, dir) == BRIG_OK); /* once is enough */
	snprintf(code, sizeof(code), "cat %s; echo x > %s 2>/dev/null && echo WROTE", file, file);
	r = sh_with(e, code, NULL);
	CHECK(r && strcmp(brig_result_stdout(r, NULL), "setting=1\n") == 0);
	brig_result_free(r);
	/* Not a path brig adds by itself. */
	r = sh("cat /var/tmp/brig-hostpath* 2>/dev/null; echo end", NULL);
	CHECK(r && strcmp(brig_result_stdout(r, NULL), "end\n") == 0);
	brig_result_free(r);
	/* The executor has run: its paths are fixed. */
	CHECK(brig_executor_add_host_path(e, "/var/tmp") == BRIG_E_INVAL);
	brig_executor_free(e);
	unlink(file);
	rmdir(dir);
}

/* The default allowlist: what libraries need, nothing that leaks. */
static void default_etc(void)
{
	brig_result *r = sh("test -s /etc/ssl/certs/ca-certificates.crt && test -r /etc/mime.types"
			    " && test ! -e /etc/shadow && test ! -e /etc/machine-id"
			    " && test ! -e /etc/ssh && test ! -s /etc/resolv.conf",
			    NULL);

	CHECK(ran(r, 0));
	brig_result_free(r);
}

static bool artifact_is(const brig_result *r, size_t i, const char *name, const char *mime,
			const char *data, size_t len)
{
	const char *n, *m;
	const void *d;
	size_t l;

	return brig_result_artifact(r, i, &n, &m, &d, &l) == BRIG_OK && strcmp(n, name) == 0 &&
	       strcmp(m, mime) == 0 && l == len && memcmp(d, data, len) == 0;
}

static void check_saved(const brig_result *r)
{
	char dir[64], path[128], victim[128], *why = NULL;

	if (host_dir(dir, "brig-artifacts") < 0)
		return;
	CHECK(brig_result_write_artifacts(r, dir, &why) == BRIG_OK && !why);
	CHECK_STR(rwc_read(dir, "d/b.txt"), "abc");
	CHECK(rwc_read(dir, "a.png") && memcmp(rwc_read(dir, "a.png"), "\x89PNG", 4) == 0);
	/* A hard link in the way is replaced, not written through. */
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(path, sizeof(path), "%s/d/b.txt", dir);
	write_file(victim, "keep");
	unlink(path);
	CHECK(link(victim, path) == 0);
	CHECK(brig_result_write_artifacts(r, dir, &why) == BRIG_OK);
	CHECK_STR(rwc_read(dir, "victim"), "keep");
	CHECK_STR(rwc_read(dir, "d/b.txt"), "abc");
	/* A symbolic link in the way is refused, never followed. */
	unlink(path);
	CHECK(symlink(victim, path) == 0);
	CHECK(brig_result_write_artifacts(r, dir, &why) == BRIG_E_DENIED);
	CHECK(why && strstr(why, "d/b.txt") && strstr(why, "symbolic link"));
	free(why);
	CHECK_STR(rwc_read(dir, "victim"), "keep");
	/* Nor is a directory reached through one. */
	snprintf(path, sizeof(path), "%s/d", dir);
	rwc_dir_remove(path);
	CHECK(symlink("/var/tmp", path) == 0);
	CHECK(brig_result_write_artifacts(r, dir, &why) == BRIG_E_DENIED);
	free(why);
	CHECK(brig_result_write_artifacts(r, "/var/brig-no-such-dir", &why) == BRIG_E_IO);
	free(why);
	rwc_dir_remove(dir);
}

static void artifacts_default(void)
{
	brig_result *r = sh("mkdir -p ~/outputs/d && printf abc > ~/outputs/d/b.txt && "
			    "printf '\\211PNG' > ~/outputs/a.png && ln -s /etc/passwd ~/outputs/l"
			    " && mkfifo ~/outputs/f && ! rmdir ~/outputs 2>/dev/null",
			    NULL);
	char *json;

	CHECK(ran(r, 0));
	CHECK(brig_result_artifact_count(r) == 2);
	CHECK(artifact_is(r, 0, "a.png", "image/png", "\x89PNG", 4));
	CHECK(artifact_is(r, 1, "d/b.txt", "text/plain", "abc", 3));
	CHECK(brig_result_artifacts_truncated(r)); /* the link and the fifo */
	CHECK(brig_result_artifact(r, 2, NULL, NULL, NULL, NULL) == BRIG_E_NOTFOUND);
	CHECK(brig_result_artifact(NULL, 0, NULL, NULL, NULL, NULL) == BRIG_E_NOTFOUND);
	json = brig_result_to_json(r);
	CHECK(json && strstr(json, "{\"name\":\"d/b.txt\",\"mime\":\"text/plain\",\"size\":3,"
				   "\"base64\":\"YWJj\"}"));
	CHECK(json && strstr(json, "\"artifacts_truncated\":true"));
	free(json);
	check_saved(r);
	brig_result_free(r);
}

static void outputs_config(void)
{
	brig_caps *caps = NULL;
	brig_result *r;
	char dir[64];
	char *json;

	CHECK(brig_caps_new(&caps) == BRIG_OK);
	CHECK(brig_caps_set_outputs(caps, "/proc/out", 0, 0) == BRIG_E_INVAL);
	CHECK(brig_caps_set_outputs(caps, "relative", 0, 0) == BRIG_E_INVAL);
	CHECK(brig_caps_set_outputs(caps, BRIG_DEFAULT_OUTPUTS, 5000, 0) == BRIG_E_INVAL);
	CHECK(brig_caps_set_outputs(caps, BRIG_DEFAULT_OUTPUTS, 0, 2ull << 30) == BRIG_E_INVAL);
	/* A directory of its own, holding at most two files. */
	CHECK(brig_caps_set_outputs(caps, "/outputs", 2, 0) == BRIG_OK);
	r = sh("for f in a b c; do echo $f > /outputs/$f; done; test ! -e ~/outputs", caps);
	CHECK(ran(r, 0) && brig_result_artifact_count(r) == 2 &&
	      brig_result_artifacts_truncated(r));
	CHECK(artifact_is(r, 1, "b", "application/octet-stream", "b\n", 2));
	brig_result_free(r);
	/* The size bound: the guest gets ENOSPC. */
	CHECK(brig_caps_set_outputs(caps, BRIG_DEFAULT_OUTPUTS, 0, 65536) == BRIG_OK);
	r = sh("head -c 200000 /dev/zero > ~/outputs/big 2>/dev/null", caps);
	CHECK(r && brig_result_exit_code(r) != 0);
	brig_result_free(r);
	/* None at all. */
	CHECK(brig_caps_set_outputs(caps, NULL, 0, 0) == BRIG_OK);
	r = sh("test -e ~/outputs", caps);
	CHECK(ran(r, 1) && brig_result_artifact_count(r) == 0);
	json = brig_result_to_json(r);
	CHECK(json && strstr(json, "\"artifacts\":[]"));
	free(json);
	brig_result_free(r);
	brig_caps_free(caps);
	/* A mount over the outputs directory is a clear error. */
	CHECK(brig_caps_new(&caps) == BRIG_OK);
	if (host_dir(dir, "brig-outmount") == 0) {
		CHECK(brig_caps_mount(caps, "/home/user/outputs", dir, BRIG_MOUNT_RO) == BRIG_OK);
		r = sh("true", caps);
		CHECK(r && brig_result_error(r) == BRIG_E_INVAL &&
		      strstr(brig_result_message(r), "overlaps"));
		brig_result_free(r);
		rmdir(dir);
	}
	brig_caps_free(caps);
}

/* What the guest hides from the host is left out; the run still succeeds. */
static void unreadable_outputs(void)
{
	brig_result *r = sh("mkdir ~/outputs/locked && echo x > ~/outputs/locked/f && "
			    "chmod 000 ~/outputs/locked && echo y > ~/outputs/z",
			    NULL);
	size_t n = brig_result_artifact_count(r);

	CHECK(ran(r, 0) && n >= 1);
	CHECK(n >= 1 && artifact_is(r, n - 1, "z", "application/octet-stream", "y\n", 2));
	if (geteuid() != 0) /* root reads it anyway */
		CHECK(brig_result_artifacts_truncated(r));
	brig_result_free(r);
}

/* A sandbox from a warm zygote has its outputs directory too. */
static void warm_outputs(void)
{
	const char *code = "open('/home/user/outputs/w.txt', 'w').write('warm')";
	brig_result *r = NULL;
	bool warm = false;

	for (int i = 0; i < 40 && !warm; i++) {
		brig_result_free(r);
		r = NULL;
		brig_run(ex, BRIG_LANG_PYTHON, code, strlen(code), NULL, &r);
		warm = r && brig_result_warm(r);
		if (!warm)
			usleep(100 * 1000);
	}
	CHECK(warm);
	CHECK(ran(r, 0) && artifact_is(r, 0, "w.txt", "text/plain", "warm", 4));
	brig_result_free(r);
}

/* Python's display(): a matplotlib figure comes back as a PNG. */
static void python_display(void)
{
	const char *code = "import matplotlib\n"
			   "matplotlib.use('Agg')\n"
			   "import matplotlib.pyplot as plt\n"
			   "fig, ax = plt.subplots()\n"
			   "ax.plot([1, 2, 3])\n"
			   "print(display(fig))\n";
	brig_result *r = NULL;
	const void *data = NULL;
	const char *mime = NULL;
	size_t len = 0;

	brig_run(ex, BRIG_LANG_PYTHON, code, strlen(code), NULL, &r);
	CHECK(ran(r, 0) && strcmp(brig_result_stdout(r, NULL), "display-001.png\n") == 0);
	CHECK(brig_result_artifact(r, 0, NULL, &mime, &data, &len) == BRIG_OK);
	CHECK(mime && strcmp(mime, "image/png") == 0 && len > 1000 &&
	      memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0);
	if (r && brig_result_error(r) != BRIG_OK)
		fprintf(stderr, "display: %s %s\n", brig_result_message(r),
			brig_result_stderr(r, NULL));
	brig_result_free(r);
}

int main(void)
{
	if (!(ex = test_executor()))
		return 1;
	host_paths();
	default_etc();
	artifacts_default();
	outputs_config();
	unreadable_outputs();
	python_display();
	warm_outputs();
	brig_executor_free(ex);
	return CHECK_DONE();
}
