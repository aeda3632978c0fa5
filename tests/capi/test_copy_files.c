/*
 * brig_session_copy_files: one session's files copied into another by the
 * host, and what a guest plants in its tree (links, FIFOs, mounts, deep
 * trees) never leading that copy astray.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/check.h"
#include "brig.h"
#include "capi.h"

static brig_executor *ex;

static brig_session *open_with(const brig_run_opts *o)
{
	brig_session *s = NULL;
	char *why = NULL;

	if (brig_session_new(ex, BRIG_LANG_PYTHON, o, &s, &why) != BRIG_OK)
		fprintf(stderr, "session: %s\n", why ? why : "?");
	free(why);
	return s;
}

static brig_session *open_session(void)
{
	return open_with(NULL);
}

/* Run code; its stdout in out.  BRIG_OK only when it also exits 0. */
static int run(brig_session *s, const char *code, char *out, size_t len)
{
	brig_result *r = NULL;
	int rc = brig_session_run(s, code, strlen(code), NULL, &r);

	if (out)
		snprintf(out, len, "%s", brig_result_stdout(r, NULL));
	if (rc == BRIG_OK && brig_result_exit_code(r) != 0) {
		fprintf(stderr, "guest failed: %s\n", brig_result_stderr(r, NULL));
		rc = BRIG_E_GUEST_ABORT;
	}
	brig_result_free(r);
	return rc;
}

static bool prints(brig_session *s, const char *code, const char *want)
{
	char out[8192];

	if (run(s, code, out, sizeof(out)) == BRIG_OK && strcmp(out, want) == 0)
		return true;
	fprintf(stderr, "printed '%s'\nexpected '%s'\n", out, want);
	return false;
}

static int copy(brig_session *dst, brig_session *src, char *why, size_t len)
{
	char *msg = NULL;
	int rc = brig_session_copy_files(dst, src, &msg);

	snprintf(why, len, "%s", msg ? msg : "");
	if ((rc == BRIG_OK) != (msg == NULL))
		fprintf(stderr, "copy: rc %s with message '%s'\n", brig_err_name(rc), why);
	CHECK((rc == BRIG_OK) == (msg == NULL));
	free(msg);
	return rc;
}

/* What a tree holds: every entry's path, kind, mode and content or target. */
static const char listing[] =
    "import os, stat, hashlib\n"
    "for top in ('/home/user', '/tmp'):\n"
    "    for root, dirs, files in sorted(os.walk(top)):\n"
    "        dirs.sort()\n"
    "        for n in sorted(dirs + files):\n"
    "            p = os.path.join(root, n)\n"
    "            st = os.lstat(p)\n"
    "            if stat.S_ISLNK(st.st_mode):\n"
    "                what = '-> ' + os.readlink(p)\n"
    "            elif stat.S_ISREG(st.st_mode):\n"
    "                what = hashlib.sha256(open(p, 'rb').read()).hexdigest()[:12]\n"
    "            else:\n"
    "                what = 'dir' if stat.S_ISDIR(st.st_mode) else 'other'\n"
    "            print(p, oct(stat.S_IMODE(st.st_mode)), int(st.st_mtime), what)\n"
    "    print(top, oct(stat.S_IMODE(os.stat(top).st_mode)))\n";

static void copies_the_tree(void)
{
	brig_session *src = open_session(), *dst = open_session();
	char want[8192], why[512];

	CHECK(src && dst);
	CHECK(run(src,
		  "import os\n"
		  "os.makedirs('/home/user/d/e/f')\n"
		  "open('/home/user/d/e/f/deep.txt', 'w').write('deep')\n"
		  "open('/home/user/a.txt', 'w').write('alpha')\n"
		  "os.chmod('/home/user/a.txt', 0o640)\n"
		  "os.utime('/home/user/a.txt', (1000000000, 1000000000))\n"
		  "open('/home/user/big.bin', 'wb').write(os.urandom(3 << 20))\n"
		  "os.symlink('/etc/hostname', '/home/user/abs-link')\n"
		  "os.symlink('d/e', '/home/user/rel-link')\n"
		  "os.link('/home/user/a.txt', '/home/user/hard')\n"
		  "os.mkfifo('/tmp/fifo')\n"
		  "open('/tmp/t', 'w').write('tmp file')\n"
		  "os.chmod('/tmp', 0o1770)\n"
		  "open('/tmp/setid', 'w').write('x')\n"
		  "os.chmod('/tmp/setid', 0o4755)\n",
		  NULL, 0) == BRIG_OK);
	CHECK(run(dst, "open('/home/user/old', 'w').write('gone after the copy')", NULL, 0) ==
	      BRIG_OK);
	CHECK(run(src, listing, want, sizeof(want)) == BRIG_OK);
	CHECK(copy(dst, src, why, sizeof(why)) == BRIG_OK);
	/* The same tree, less the FIFO, and without set-id bits. */
	CHECK(strstr(want, "/tmp/fifo") != NULL && strstr(want, "0o4755") != NULL);
	{
		char adjusted[8192] = "", *line, *save = NULL;

		for (line = strtok_r(want, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *m;

			if (strstr(line, "/tmp/fifo"))
				continue;
			if ((m = strstr(line, "0o4755")))
				memcpy(m, "0o755 ", 6), memmove(m + 5, m + 6, strlen(m + 6) + 1);
			strcat(adjusted, line);
			strcat(adjusted, "\n");
		}
		CHECK(prints(dst, listing, adjusted));
	}
	/* dst's guest owns what it got: it can change and remove all of it. */
	CHECK(
	    prints(dst,
		   "import os, shutil\n"
		   "open('/home/user/a.txt', 'a').write('!')\n"
		   "print(open('/home/user/a.txt').read(), open('/home/user/hard').read())\n"
		   "shutil.rmtree('/home/user/d'); os.remove('/home/user/big.bin')\n"
		   "open('/tmp/new', 'w').write('1')\n"
		   "print(sorted(os.listdir('/home/user')), os.getuid(), os.stat('/tmp/t').st_uid)",
		   "alpha! alpha\n['a.txt', 'abs-link', 'hard', 'rel-link'] 1000 1000\n"));
	/* src is as it was: copies are copies. */
	CHECK(prints(src, "print(open('/home/user/a.txt').read(), os.path.exists('/tmp/new'))",
		     "alpha False\n"));
	brig_session_free(dst);
	brig_session_free(src);
}

/* Links are copied as links: one to a directory on the host is not walked. */
static void links_are_never_followed(void)
{
	brig_session *src = open_session(), *dst = open_session();
	char why[512];

	CHECK(src && dst);
	CHECK(run(src,
		  "import os\n"
		  "os.symlink('/', '/home/user/root')\n"
		  "os.symlink('/proc/1/root/etc', '/home/user/etc')\n"
		  "os.symlink('../../../..', '/tmp/up')\n",
		  NULL, 0) == BRIG_OK);
	CHECK(copy(dst, src, why, sizeof(why)) == BRIG_OK);
	CHECK(prints(dst,
		     "import os\n"
		     "for p in ('/home/user/root', '/home/user/etc', '/tmp/up'):\n"
		     "    print(os.path.islink(p), os.readlink(p))\n"
		     "print(len(os.listdir('/home/user')), len(os.listdir('/tmp')))",
		     "True /\nTrue /proc/1/root/etc\nTrue ../../../..\n2 1\n"));
	brig_session_free(dst);
	brig_session_free(src);
}

/* A host directory mounted in either session is neither read nor written. */
static void mounts_are_left_out(void)
{
	char host_src[] = "/tmp/brig-copy-src-XXXXXX", host_dst[] = "/tmp/brig-copy-dst-XXXXXX";
	char path[600], why[512];
	brig_caps *csrc = NULL, *cdst = NULL;
	brig_run_opts osrc, odst;
	brig_session *src, *dst;
	FILE *f;

	CHECK(mkdtemp(host_src) && mkdtemp(host_dst));
	chmod(host_src, 0755);
	chmod(host_dst, 0777);
	snprintf(path, sizeof(path), "%s/host-secret", host_src);
	CHECK((f = fopen(path, "w")) != NULL);
	fputs("host", f);
	fclose(f);
	chmod(path, 0644);
	CHECK(brig_caps_new(&csrc) == BRIG_OK && brig_caps_new(&cdst) == BRIG_OK);
	CHECK(brig_caps_mount(csrc, "/home/user/data", host_src, BRIG_MOUNT_RO) == BRIG_OK);
	CHECK(brig_caps_mount(cdst, "/home/user/data", host_dst, BRIG_MOUNT_RW) == BRIG_OK);
	brig_run_opts_init(&osrc);
	brig_run_opts_init(&odst);
	osrc.caps = csrc;
	odst.caps = cdst;
	src = open_with(&osrc);
	dst = open_with(&odst);
	CHECK(src && dst);
	CHECK(prints(src, "import os\nprint(os.listdir('/home/user/data'))", "['host-secret']\n"));
	CHECK(copy(dst, src, why, sizeof(why)) == BRIG_OK);
	/* dst's mount still shows its own (empty) host directory... */
	CHECK(prints(dst, "import os\nprint(os.listdir('/home/user/data'))", "[]\n"));
	/* ...and src's host file reached neither dst nor dst's host directory. */
	snprintf(path, sizeof(path), "%s/host-secret", host_dst);
	CHECK(access(path, F_OK) != 0);
	brig_session_free(dst);
	brig_session_free(src);
	brig_caps_free(csrc);
	brig_caps_free(cdst);
	snprintf(path, sizeof(path), "%s/host-secret", host_src);
	unlink(path);
	rmdir(host_src);
	rmdir(host_dst);
}

static void limits_and_errors(void)
{
	brig_run_opts small;
	brig_session *src = open_session(), *dst, *ended;
	char why[512];

	brig_run_opts_init(&small);
	small.limits.tmp_bytes = 1 << 20;
	dst = open_with(&small);
	CHECK(src && dst);
	CHECK(run(src, "open('/tmp/f', 'wb').write(bytes(3 << 20))", NULL, 0) == BRIG_OK);
	CHECK(copy(dst, src, why, sizeof(why)) == BRIG_E_LIMIT);
	CHECK(strstr(why, "/tmp/f") != NULL && strstr(why, "No space left") != NULL);
	/* Still usable, and the next copy replaces what the first left. */
	CHECK(run(src, "import os\nos.remove('/tmp/f')\nopen('/tmp/g', 'w').write('g')", NULL, 0) ==
	      BRIG_OK);
	CHECK(copy(dst, src, why, sizeof(why)) == BRIG_OK);
	CHECK(prints(dst, "import os\nprint(os.listdir('/tmp'))", "['g']\n"));

	/* Deeper than the walk goes: a clear error, not a crash. */
	CHECK(run(src, "import os\nos.makedirs('/home/user/' + '/'.join(['d'] * 140))", NULL, 0) ==
	      BRIG_OK);
	CHECK(copy(dst, src, why, sizeof(why)) == BRIG_E_INTERNAL);
	CHECK(strstr(why, "too deep") != NULL);
	/* A file the guest made unreadable. */
	CHECK(run(src,
		  "import os, shutil\nshutil.rmtree('/home/user/d')\n"
		  "open('/home/user/locked', 'w').write('x')\nos.chmod('/home/user/locked', 0)",
		  NULL, 0) == BRIG_OK);
	/* Even as root: the copy runs as the jail's user. */
	CHECK(copy(dst, src, why, sizeof(why)) == BRIG_E_INTERNAL);
	CHECK(strstr(why, "/home/user/locked") && strstr(why, "Permission denied"));

	CHECK(brig_session_copy_files(NULL, src, NULL) == BRIG_E_INVAL);
	CHECK(brig_session_copy_files(dst, NULL, NULL) == BRIG_E_INVAL);
	CHECK(brig_session_copy_files(src, src, NULL) == BRIG_E_INVAL);
	/* A session whose guest ended keeps its files until it is freed. */
	ended = open_session();
	CHECK(ended != NULL);
	CHECK(run(ended, "open('/home/user/last', 'w').write('words')", NULL, 0) == BRIG_OK);
	run(ended, "import os\nos._exit(0)", NULL, 0); /* the session ends */
	CHECK(run(ended, "print(1)", NULL, 0) == BRIG_E_CONSUMED);
	CHECK(copy(dst, ended, why, sizeof(why)) == BRIG_OK);
	CHECK(prints(dst,
		     "import os\nprint(os.listdir('/home/user'), open('/home/user/last').read())",
		     "['last'] words\n"));
	brig_session_free(ended);
	brig_session_free(dst);
	brig_session_free(src);
}

struct busy {
	brig_session *s;
	atomic_bool done;
};

static void *busy_call(void *p)
{
	struct busy *b = p;

	run(b->s, "import time\ntime.sleep(5)", NULL, 0);
	atomic_store(&b->done, true);
	return NULL;
}

/* A copy neither waits for a call in either session nor stops it. */
static void copies_beside_running_calls(void)
{
	struct busy a = {.s = open_session()}, b = {.s = open_session()};
	pthread_t ta, tb;
	char why[512];

	CHECK(a.s && b.s);
	CHECK(run(a.s, "open('/tmp/from-a', 'w').write('a')", NULL, 0) == BRIG_OK);
	CHECK(pthread_create(&ta, NULL, busy_call, &a) == 0);
	CHECK(pthread_create(&tb, NULL, busy_call, &b) == 0);
	usleep(300 * 1000); /* both calls are under way */
	CHECK(copy(b.s, a.s, why, sizeof(why)) == BRIG_OK);
	CHECK(!atomic_load(&a.done) && !atomic_load(&b.done));
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(prints(b.s, "print(open('/tmp/from-a').read())", "a\n"));
	brig_session_free(a.s);
	brig_session_free(b.s);
}

int main(void)
{
	if (!(ex = test_executor()))
		return 1;
	copies_the_tree();
	links_are_never_followed();
	mounts_are_left_out();
	limits_and_errors();
	copies_beside_running_calls();
	brig_executor_free(ex);
	return CHECK_DONE();
}
