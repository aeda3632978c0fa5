/* The fs.* host functions: modes, path rules, traversal, limits, shapes. */
#include "check.h"
#include "host/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* CHECK_STR evaluates its arguments twice; calls must run once. */
#define CHECK_ERR(expr, want)                                                                      \
	do {                                                                                       \
		const char *got_ = (expr);                                                         \
		CHECK_STR(got_, want);                                                             \
	} while (0)

#define MTIME 1704067200
#define SMALL 1000

struct tree {
	char root[64];
	bool follows; /* symlinks inside a mount are followed (openat2 in use) */
	bool walk;
};

/* ------------------------------------------------------------ helpers */

static void tpath(const struct tree *tr, const char *rel, char *out)
{
	snprintf(out, PATH_MAX, "%s/%s", tr->root, rel);
}

static void put(const struct tree *tr, const char *rel, const void *data, size_t len)
{
	char p[PATH_MAX];
	FILE *f;

	tpath(tr, rel, p);
	f = fopen(p, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(fwrite(data, 1, len, f) == len);
	fclose(f);
}

static void put_str(const struct tree *tr, const char *rel, const char *s)
{
	put(tr, rel, s, strlen(s));
}

static void mk(const struct tree *tr, const char *rel)
{
	char p[PATH_MAX];

	tpath(tr, rel, p);
	CHECK(mkdir(p, 0755) == 0);
}

static void ln(const struct tree *tr, const char *target, const char *rel)
{
	char p[PATH_MAX];

	tpath(tr, rel, p);
	CHECK(symlink(target, p) == 0);
}

static bool host_exists(const struct tree *tr, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	tpath(tr, rel, p);
	return lstat(p, &st) == 0;
}

/* The host file's contents equal s. */
static bool host_is(const struct tree *tr, const char *rel, const char *s)
{
	char p[PATH_MAX], buf[256];
	FILE *f;
	size_t n;

	tpath(tr, rel, p);
	f = fopen(p, "rb");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return n == strlen(s) && memcmp(buf, s, n) == 0;
}

static void call(const struct fs_table *t, const char *op, const char *path, const void *blob,
		 size_t len, struct hc_reply *rep)
{
	json_t *args = json_pack("{s:s}", "path", path);

	fs_call(t, op, args, blob, len, rep);
	json_decref(args);
}

/* The error type of the call, or "ok". */
static const char *err_of(const struct fs_table *t, const char *op, const char *path,
			  const void *blob, size_t len)
{
	struct hc_reply rep;
	const char *type;

	call(t, op, path, blob, len, &rep);
	type = rep.err_type ? rep.err_type : "ok";
	if (getenv("TEST_FS_VERBOSE") && rep.err_type)
		fprintf(stderr, "  %s %s: %s: %s\n", op, path, rep.err_type, rep.err_msg);
	hc_reply_clear(&rep);
	return type;
}

static const char *err(const struct fs_table *t, const char *op, const char *path)
{
	return err_of(t, op, path, NULL, 0);
}

static const char *write_str(const struct fs_table *t, const char *path, const char *s)
{
	return err_of(t, "write", path, s, strlen(s));
}

/* fs.read gives exactly s (and a null value). */
static bool reads(const struct fs_table *t, const char *path, const char *s)
{
	struct hc_reply rep;
	bool ok;

	call(t, "read", path, NULL, 0, &rep);
	ok = rep.err_type == NULL && rep.value == NULL && rep.blob_len == strlen(s) &&
	     (rep.blob_len == 0 || memcmp(rep.blob, s, rep.blob_len) == 0);
	if (rep.err_type)
		fprintf(stderr, "read %s: %s: %s\n", path, rep.err_type, rep.err_msg);
	hc_reply_clear(&rep);
	return ok;
}

static bool exists(const struct fs_table *t, const char *path)
{
	struct hc_reply rep;
	bool v;

	call(t, "exists", path, NULL, 0, &rep);
	CHECK(rep.err_type == NULL && json_is_boolean(rep.value));
	v = json_is_true(rep.value);
	hc_reply_clear(&rep);
	return v;
}

/* The ok value of a call, or NULL on error. */
static json_t *value_of(const struct fs_table *t, const char *op, const char *path)
{
	struct hc_reply rep;
	json_t *v;

	call(t, op, path, NULL, 0, &rep);
	if (rep.err_type)
		fprintf(stderr, "%s %s: %s: %s\n", op, path, rep.err_type, rep.err_msg);
	v = rep.err_type ? NULL : json_incref(rep.value);
	hc_reply_clear(&rep);
	return v;
}

static struct fs_table *table1(const struct tree *tr, const char *vpath, const char *rel,
			       brig_mount_mode mode, const brig_fs_limits *lim)
{
	char host[PATH_MAX], e[256] = "";
	struct fs_mount_spec spec = {vpath, host, mode};
	struct fs_table *t = NULL;

	tpath(tr, rel, host);
	CHECK(fs_table_new(&spec, 1, lim, &t, e, sizeof(e)) == 0);
	if (t && tr->walk)
		fs_table_force_walk(t);
	return t;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static bool have_openat2(void)
{
	struct open_how how = {.flags = O_PATH, .resolve = RESOLVE_BENEATH};
	long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));

	if (fd >= 0)
		close((int)fd);
	return fd >= 0;
}

/* ------------------------------------------------------------ the tree */

static void build_tree(struct tree *tr)
{
	static const char bin[] = {'a', 0, 'b', 0, 0, (char)0xff, 'c'};
	char p[PATH_MAX], big[2048], name[64];
	struct timespec ts[2] = {{MTIME, 0}, {MTIME, 0}};
	int fd;

	snprintf(tr->root, sizeof(tr->root), "/tmp/brig-fs-XXXXXX");
	CHECK(mkdtemp(tr->root) != NULL);
	mk(tr, "data");
	mk(tr, "data/sub");
	mk(tr, "data/emptydir");
	mk(tr, "data/many");
	mk(tr, "data2");
	put_str(tr, "secret.txt", "TOP SECRET");
	put_str(tr, "data2/other.txt", "other");
	put_str(tr, "data/hello.txt", "hello");
	put_str(tr, "data/empty.txt", "");
	put(tr, "data/bin.dat", bin, sizeof(bin));
	put_str(tr, "data/sub/inner.txt", "inner");
	memset(big, 'B', sizeof(big));
	put(tr, "data/big.bin", big, sizeof(big));
	put(tr, "data/exact.bin", big, SMALL);
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "data/many/entry-with-a-long-name-%02d", i);
		put_str(tr, name, "x");
	}
	ln(tr, "hello.txt", "data/link_in");
	ln(tr, "sub", "data/link_sub");
	ln(tr, "../hello.txt", "data/sub/link_up");
	tpath(tr, "secret.txt", p);
	ln(tr, p, "data/link_abs");
	ln(tr, "../secret.txt", "data/link_rel_out");
	ln(tr, "sub/../../secret.txt", "data/link_deep_out");
	ln(tr, "../newfile", "data/link_dangling_out");
	ln(tr, "/proc/self/root", "data/link_proc");
	tpath(tr, "data/fifo", p);
	CHECK(mkfifo(p, 0644) == 0);
	/* Sparse: one byte over the default limit without using the disk. */
	tpath(tr, "data/sparse.bin", p);
	fd = open(p, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)FS_DEFAULT_MAX_BYTES + 1) == 0);
	close(fd);
	tpath(tr, "data/hello.txt", p);
	CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
}

static void remove_tree(const struct tree *tr)
{
	char p[PATH_MAX];

	tpath(tr, "data/noperm", p);
	chmod(p, 0755);
	CHECK(nftw(tr->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* ------------------------------------------------------------ vpaths, tables */

static void test_vpath_valid(void)
{
	static const char *const good[] = {"/data",   "/tmp/x",	 "/home/user/x", "/mnt/a/b",
					   "/libfoo", "/etcetc", "/tmpx",	 "/srv"};
	static const char *const bad[] = {
	    "",		 "data",       "/",	  "/data/",    "//data",      "/data//x",
	    "/data/./x", "/data/..",   "/./data", "/proc",     "/proc/1",     "/dev",
	    "/sys/fs",	 "/usr/lib",   "/bin",	  "/sbin",     "/lib",	      "/lib64/x",
	    "/lib32",	 "/libx32",    "/etc",	  "/run/brig", "/run/brig/x", "/opt/brig",
	    "/tmp",	 "/home/user", "/home",	  "/run",      "/opt"};
	char e[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(fs_vpath_valid(good[i], e, sizeof(e)) == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e[0] = '\0';
		CHECK(fs_vpath_valid(bad[i], e, sizeof(e)) == BRIG_E_INVAL);
		CHECK(e[0] != '\0');
	}
	CHECK(fs_vpath_valid(NULL, NULL, 0) == BRIG_E_INVAL);
}

static int new_table(const struct fs_mount_spec *s, size_t n, struct fs_table **t)
{
	char e[256] = "";
	int rc = fs_table_new(s, n, NULL, t, e, sizeof(e));

	CHECK((rc == 0) == (e[0] == '\0'));
	return rc;
}

static void test_table_new(const struct tree *tr)
{
	char data[PATH_MAX], missing[PATH_MAX], file[PATH_MAX];
	struct fs_table *t = (struct fs_table *)&t;

	tpath(tr, "data", data);
	tpath(tr, "nope", missing);
	tpath(tr, "data/hello.txt", file);
	struct fs_mount_spec missing_dir[] = {{"/data", missing, BRIG_MOUNT_RO}};
	struct fs_mount_spec not_dir[] = {{"/data", file, BRIG_MOUNT_RO}};
	struct fs_mount_spec dup[] = {{"/data", data, BRIG_MOUNT_RO},
				      {"/data", data, BRIG_MOUNT_RW}};
	struct fs_mount_spec reserved[] = {{"/proc/x", data, BRIG_MOUNT_RO}};
	struct fs_mount_spec bad_mode[] = {{"/data", data, (brig_mount_mode)7}};
	struct fs_mount_spec no_host[] = {{"/data", NULL, BRIG_MOUNT_RO}};

	CHECK(new_table(missing_dir, 1, &t) == BRIG_E_NOTFOUND && t == NULL);
	t = (struct fs_table *)&t;
	CHECK(new_table(not_dir, 1, &t) == BRIG_E_INVAL && t == NULL);
	CHECK(new_table(dup, 2, &t) == BRIG_E_INVAL && t == NULL);
	CHECK(new_table(reserved, 1, &t) == BRIG_E_INVAL && t == NULL);
	CHECK(new_table(bad_mode, 1, &t) == BRIG_E_INVAL && t == NULL);
	CHECK(new_table(no_host, 1, &t) == BRIG_E_INVAL && t == NULL);
	/* No mounts at all: every path is outside. */
	CHECK(new_table(NULL, 0, &t) == 0 && t != NULL);
	CHECK_ERR(err(t, "read", "/data/hello.txt"), "PermissionError");
	CHECK(!exists(t, "/data"));
	fs_table_free(t);
	CHECK_ERR(err(NULL, "stat", "/data"), "PermissionError");
}

/* ------------------------------------------------------------ reading */

static void test_bad_args(const struct fs_table *t)
{
	struct hc_reply rep;
	json_t *args = json_object();

	fs_call(t, "read", args, NULL, 0, &rep);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	json_object_set_new(args, "path", json_integer(3));
	fs_call(t, "exists", args, NULL, 0, &rep);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	json_object_set_new(args, "path", json_stringn("/data/hello.txt\0x", 17));
	fs_call(t, "read", args, NULL, 0, &rep);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	fs_call(t, "read", NULL, NULL, 0, &rep);
	CHECK_STR(rep.err_type, "ValueError");
	hc_reply_clear(&rep);
	json_decref(args);
	CHECK_ERR(err(t, "chmod", "/data/hello.txt"), "ValueError");
	CHECK_ERR(err(t, "read", "data/hello.txt"), "ValueError");
	CHECK_ERR(err(t, "stat", ""), "ValueError");
	CHECK(!exists(t, "data/hello.txt"));
}

static void test_read(const struct tree *tr, const struct fs_table *t)
{
	static const char bin[] = {'a', 0, 'b', 0, 0, (char)0xff, 'c'};
	struct hc_reply rep;

	CHECK(reads(t, "/data/hello.txt", "hello"));
	CHECK(reads(t, "/data/empty.txt", ""));
	CHECK(reads(t, "/data//sub/./inner.txt", "inner"));
	CHECK(reads(t, "//data/hello.txt", "hello"));
	CHECK(reads(t, "/data/sub/../hello.txt", "hello"));
	call(t, "read", "/data/bin.dat", NULL, 0, &rep);
	CHECK(rep.err_type == NULL && rep.blob_len == sizeof(bin) &&
	      memcmp(rep.blob, bin, sizeof(bin)) == 0);
	hc_reply_clear(&rep);
	CHECK_ERR(err(t, "read", "/data/sub"), "IsADirectoryError");
	CHECK_ERR(err(t, "read", "/data"), "IsADirectoryError");
	CHECK_ERR(err(t, "read", "/data/sub/"), "IsADirectoryError");
	CHECK_ERR(err(t, "read", "/data/hello.txt/"), "NotADirectoryError");
	CHECK_ERR(err(t, "read", "/data/hello.txt/x"), "NotADirectoryError");
	CHECK_ERR(err(t, "read", "/data/missing"), "FileNotFoundError");
	CHECK_ERR(err(t, "read", "/data/missing/x"), "FileNotFoundError");
	/* A FIFO with no writer would block a plain open or read. */
	CHECK_ERR(err(t, "read", "/data/fifo"), "OSError");
	if (tr->follows) {
		CHECK(reads(t, "/data/link_in", "hello"));
		CHECK(reads(t, "/data/link_sub/inner.txt", "inner"));
		CHECK(reads(t, "/data/sub/link_up", "hello"));
	} else {
		CHECK_ERR(err(t, "read", "/data/link_in"), "PermissionError");
		CHECK_ERR(err(t, "read", "/data/link_sub/inner.txt"), "PermissionError");
		CHECK_ERR(err(t, "read", "/data/sub/link_up"), "PermissionError");
	}
}

static void test_read_unreadable(const struct tree *tr, const struct fs_table *t)
{
	char p[PATH_MAX];

	put_str(tr, "data/noperm.txt", "no");
	tpath(tr, "data/noperm.txt", p);
	CHECK(chmod(p, 0) == 0);
	/* Root reads it anyway; anyone else must get PermissionError. */
	if (access(p, R_OK) == 0)
		CHECK(reads(t, "/data/noperm.txt", "no"));
	else
		CHECK_ERR(err(t, "read", "/data/noperm.txt"), "PermissionError");
	mk(tr, "data/noperm");
	tpath(tr, "data/noperm", p);
	CHECK(chmod(p, 0) == 0);
	if (access(p, R_OK) == 0)
		CHECK_ERR(err(t, "listdir", "/data/noperm"), "ok");
	else
		CHECK_ERR(err(t, "listdir", "/data/noperm"), "PermissionError");
}

/* ------------------------------------------------------------ traversal */

static const char *const escapes[] = {
    "/data/..",
    "/data/../secret.txt",
    "/data/../../etc/passwd",
    "/data/sub/../../secret.txt",
    "/data/../data2/other.txt",
    "/data/link_abs",
    "/data/link_rel_out",
    "/data/link_deep_out",
    "/data/link_proc",
    "/data/link_proc/etc/passwd",
    "/data/link_proc/",
};

static const char *const unmounted[] = {"/data2/other.txt", "/data2", "/dat", "/", "/secret.txt"};

/* Paths that leave the mount through ".." or a directory link. */
static const char *const dir_escapes[] = {
    "/data/..",
    "/data/../secret.txt",
    "/data/sub/../../secret.txt",
    "/data/../data2/other.txt",
    "/data/link_proc/etc/passwd",
    "/data/link_abs/x",
    "/data/link_rel_out/x",
};

static void test_traversal_reads(const struct fs_table *t)
{
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		const char *p = escapes[i];

		CHECK_ERR(err(t, "read", p), "PermissionError");
		CHECK_ERR(err(t, "stat", p), "PermissionError");
		CHECK_ERR(err(t, "listdir", p), "PermissionError");
		CHECK(!exists(t, p));
	}
	for (size_t i = 0; i < sizeof(unmounted) / sizeof(unmounted[0]); i++) {
		const char *p = unmounted[i];

		CHECK_ERR(err(t, "read", p), "PermissionError");
		CHECK_ERR(err(t, "listdir", p), "PermissionError");
		CHECK(!exists(t, p));
	}
}

/* Nothing outside the mount may change, whatever the path. */
static void test_traversal_writes(const struct tree *tr, const struct fs_table *t)
{
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++)
		CHECK(strcmp(write_str(t, escapes[i], "pwned"), "ok") != 0);
	for (size_t i = 0; i < sizeof(dir_escapes) / sizeof(dir_escapes[0]); i++) {
		const char *r = err(t, "remove", dir_escapes[i]);

		CHECK(strcmp(r, "PermissionError") == 0 || strcmp(r, "ValueError") == 0);
	}
	CHECK_ERR(write_str(t, "/data/link_dangling_out", "pwned"), "PermissionError");
	CHECK_ERR(write_str(t, "/data/link_abs/x", "pwned"), "PermissionError");
	CHECK_ERR(write_str(t, "/data/link_rel_out/x", "pwned"), "PermissionError");
	CHECK_ERR(write_str(t, "/data2/new.txt", "pwned"), "PermissionError");
	CHECK_ERR(err(t, "mkdir", "/data/../escape"), "PermissionError");
	CHECK_ERR(err(t, "mkdir", "/data/link_abs/x"), "PermissionError");
	CHECK_ERR(err(t, "mkdir", "/data/link_proc/x"), "PermissionError");
	CHECK_ERR(err(t, "remove", "/data/../data"), "PermissionError");
	CHECK(host_is(tr, "secret.txt", "TOP SECRET"));
	CHECK(host_is(tr, "data2/other.txt", "other"));
	CHECK(!host_exists(tr, "newfile"));
	CHECK(!host_exists(tr, "escape"));
	CHECK(!host_exists(tr, "data2/new.txt"));
	CHECK(host_exists(tr, "data"));
}

/* ------------------------------------------------------------ listdir, stat */

static bool entry_ok(json_t *e)
{
	return json_is_object(e) && json_object_size(e) == 3 &&
	       json_is_string(json_object_get(e, "name")) &&
	       json_is_boolean(json_object_get(e, "is_dir")) &&
	       json_is_integer(json_object_get(e, "size"));
}

static json_t *find_entry(json_t *list, const char *name)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
			return e;
	}
	return NULL;
}

static void check_listing_shape(json_t *list)
{
	size_t i;
	json_t *e;
	const char *prev = "";

	CHECK(json_is_array(list));
	json_array_foreach(list, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "name"));

		CHECK(entry_ok(e));
		CHECK(name && strcmp(prev, name) < 0);
		CHECK(name && strcmp(name, ".") != 0 && strcmp(name, "..") != 0);
		prev = name ? name : prev;
	}
}

static void test_listdir(const struct tree *tr, const struct fs_table *t)
{
	json_t *root = value_of(t, "listdir", "/data");
	json_t *sub = value_of(t, "listdir", "/data/sub/");
	json_t *e;

	check_listing_shape(root);
	check_listing_shape(sub);
	CHECK(json_array_size(sub) == 2);
	e = find_entry(sub, "inner.txt");
	CHECK(e && json_is_false(json_object_get(e, "is_dir")) &&
	      json_integer_value(json_object_get(e, "size")) == 5);
	CHECK(find_entry(sub, "link_up") != NULL);
	e = find_entry(root, "sub");
	CHECK(e && json_is_true(json_object_get(e, "is_dir")));
	/* Links are listed as themselves, never looked through. */
	e = find_entry(root, "link_sub");
	CHECK(e && json_is_false(json_object_get(e, "is_dir")));
	e = find_entry(root, "link_abs");
	CHECK(e && json_integer_value(json_object_get(e, "size")) != 10);
	CHECK(find_entry(root, "hello.txt") && find_entry(root, "fifo"));
	CHECK(json_array_size(root) == 17);
	json_decref(root);
	json_decref(sub);
	root = value_of(t, "listdir", "/data/emptydir");
	CHECK(json_is_array(root) && json_array_size(root) == 0);
	json_decref(root);
	CHECK_ERR(err(t, "listdir", "/data/hello.txt"), "NotADirectoryError");
	CHECK_ERR(err(t, "listdir", "/data/missing"), "FileNotFoundError");
	CHECK_ERR(err(t, "listdir", "/data/fifo"), "NotADirectoryError");
	CHECK_ERR(err(t, "listdir", "/data/link_sub"), tr->follows ? "ok" : "PermissionError");
}

static void test_stat(const struct tree *tr, const struct fs_table *t)
{
	json_t *v = value_of(t, "stat", "/data/hello.txt");

	CHECK(json_is_object(v) && json_object_size(v) == 4);
	CHECK_STR(json_string_value(json_object_get(v, "name")), "hello.txt");
	CHECK(json_integer_value(json_object_get(v, "size")) == 5);
	CHECK(json_is_false(json_object_get(v, "is_dir")));
	CHECK(json_is_integer(json_object_get(v, "mod_time")) &&
	      json_integer_value(json_object_get(v, "mod_time")) == MTIME);
	json_decref(v);
	v = value_of(t, "stat", "/data");
	CHECK_STR(json_string_value(json_object_get(v, "name")), "data");
	CHECK(json_is_true(json_object_get(v, "is_dir")));
	json_decref(v);
	v = value_of(t, "stat", "/data/sub/");
	CHECK_STR(json_string_value(json_object_get(v, "name")), "sub");
	CHECK(json_is_true(json_object_get(v, "is_dir")));
	json_decref(v);
	CHECK_ERR(err(t, "stat", "/data/missing"), "FileNotFoundError");
	CHECK_ERR(err(t, "stat", "/data/hello.txt/"), "NotADirectoryError");
	if (tr->follows) {
		v = value_of(t, "stat", "/data/link_in");
		CHECK_STR(json_string_value(json_object_get(v, "name")), "link_in");
		CHECK(json_integer_value(json_object_get(v, "size")) == 5);
		json_decref(v);
	} else {
		CHECK_ERR(err(t, "stat", "/data/link_in"), "PermissionError");
	}
}

static void test_exists(const struct tree *tr, const struct fs_table *t)
{
	CHECK(exists(t, "/data/hello.txt"));
	CHECK(exists(t, "/data"));
	CHECK(exists(t, "/data/"));
	CHECK(exists(t, "/data/sub/"));
	CHECK(exists(t, "/data/fifo"));
	CHECK(!exists(t, "/data/missing"));
	CHECK(!exists(t, "/data/hello.txt/"));
	CHECK(!exists(t, "/nowhere"));
	CHECK(exists(t, "/data/link_in") == tr->follows);
}

/* ------------------------------------------------------------ modes */

static void test_ro(const struct tree *tr, const struct fs_table *t)
{
	CHECK_ERR(write_str(t, "/data/hello.txt", "changed"), "PermissionError");
	CHECK_ERR(write_str(t, "/data/new.txt", "new"), "PermissionError");
	CHECK_ERR(err(t, "remove", "/data/hello.txt"), "PermissionError");
	CHECK_ERR(err(t, "remove", "/data/emptydir"), "PermissionError");
	CHECK_ERR(err(t, "mkdir", "/data/newdir"), "PermissionError");
	CHECK(host_is(tr, "data/hello.txt", "hello"));
	CHECK(!host_exists(tr, "data/new.txt"));
	CHECK(host_exists(tr, "data/emptydir"));
	CHECK(!host_exists(tr, "data/newdir"));
}

static void test_rw_write(const struct tree *tr, const struct fs_table *t)
{
	static const char bin[] = {'x', 0, 'y', 0, 0, 'z'};
	struct hc_reply rep;

	put_str(tr, "data/rw.txt", "a longer original text");
	CHECK_ERR(write_str(t, "/data/rw.txt", "short"), "ok");
	CHECK(host_is(tr, "data/rw.txt", "short"));
	CHECK(reads(t, "/data/rw.txt", "short"));
	CHECK_ERR(err_of(t, "write", "/data/rw.txt", bin, sizeof(bin)), "ok");
	call(t, "read", "/data/rw.txt", NULL, 0, &rep);
	CHECK(rep.err_type == NULL && rep.blob_len == sizeof(bin) &&
	      memcmp(rep.blob, bin, sizeof(bin)) == 0);
	hc_reply_clear(&rep);
	CHECK_ERR(err_of(t, "write", "/data/rw.txt", NULL, 0), "ok");
	CHECK(host_is(tr, "data/rw.txt", ""));
	CHECK_ERR(write_str(t, "/data/new.txt", "new"), "PermissionError");
	CHECK(!host_exists(tr, "data/new.txt"));
	CHECK_ERR(write_str(t, "/data/sub", "x"), "IsADirectoryError");
	CHECK_ERR(write_str(t, "/data/sub/", "x"), "IsADirectoryError");
	CHECK_ERR(write_str(t, "/data/fifo", "x"), "OSError");
	CHECK_ERR(write_str(t, "/data", "x"), "PermissionError");
	CHECK_ERR(write_str(t, "/data/", "x"), "PermissionError");
	CHECK_ERR(write_str(t, "/data/missing/x", "x"), "FileNotFoundError");
	CHECK_ERR(write_str(t, "/data/hello.txt/x", "x"), "NotADirectoryError");
	CHECK_ERR(write_str(t, "/data/sub/..", "x"), "ValueError");
	/* The last component is never followed, even inside the mount. */
	CHECK_ERR(write_str(t, "/data/link_in", "through"), "PermissionError");
	CHECK(host_is(tr, "data/hello.txt", "hello"));
	CHECK_ERR(write_str(t, "/data/link_abs", "through"), "PermissionError");
	CHECK(host_is(tr, "secret.txt", "TOP SECRET"));
	CHECK_ERR(err(t, "mkdir", "/data/newdir"), "PermissionError");
	CHECK(!host_exists(tr, "data/newdir"));
}

static void test_rw_remove(const struct tree *tr, const struct fs_table *t)
{
	put_str(tr, "data/gone.txt", "x");
	put_str(tr, "data/notdir.txt", "x");
	CHECK_ERR(err(t, "remove", "/data/gone.txt"), "ok");
	CHECK(!host_exists(tr, "data/gone.txt"));
	CHECK_ERR(err(t, "remove", "/data/gone.txt"), "FileNotFoundError");
	CHECK_ERR(err(t, "remove", "/data/emptydir/"), "ok");
	CHECK(!host_exists(tr, "data/emptydir"));
	CHECK_ERR(err(t, "remove", "/data/sub"), "OSError");
	CHECK(host_exists(tr, "data/sub/inner.txt"));
	CHECK_ERR(err(t, "remove", "/data/notdir.txt/"), "NotADirectoryError");
	CHECK(host_exists(tr, "data/notdir.txt"));
	/* A link is removed itself; what it points at stays. */
	CHECK_ERR(err(t, "remove", "/data/link_abs"), "ok");
	CHECK(!host_exists(tr, "data/link_abs"));
	CHECK(host_is(tr, "secret.txt", "TOP SECRET"));
	CHECK_ERR(err(t, "remove", "/data/sub/.."), "ValueError");
	CHECK(host_exists(tr, "data/sub"));
}

static void test_mount_root(const struct tree *tr, const struct fs_table *t)
{
	static const char *const roots[] = {"/data", "/data/", "/data/.", "/data/sub/.."};

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		const char *r = err(t, "remove", roots[i]);
		const char *w = write_str(t, roots[i], "x");

		CHECK(strcmp(r, "PermissionError") == 0 || strcmp(r, "ValueError") == 0);
		CHECK(strcmp(w, "PermissionError") == 0 || strcmp(w, "ValueError") == 0);
	}
	CHECK_ERR(err(t, "remove", "/data"), "PermissionError");
	CHECK_ERR(err(t, "remove", "/data/"), "PermissionError");
	CHECK(host_exists(tr, "data"));
	CHECK(exists(t, "/data/hello.txt"));
}

static void test_rwc(const struct tree *tr, const struct fs_table *t)
{
	char p[PATH_MAX];
	struct stat st;

	CHECK_ERR(write_str(t, "/data/created.txt", "fresh"), "ok");
	CHECK(host_is(tr, "data/created.txt", "fresh"));
	tpath(tr, "data/created.txt", p);
	CHECK(stat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644);
	CHECK_ERR(write_str(t, "/data/sub/deeper.txt", "d"), "ok");
	CHECK(host_is(tr, "data/sub/deeper.txt", "d"));
	CHECK_ERR(err_of(t, "write", "/data/zero.txt", NULL, 0), "ok");
	CHECK(host_is(tr, "data/zero.txt", ""));
	CHECK_ERR(write_str(t, "/data/nodir/x.txt", "x"), "FileNotFoundError");
	CHECK_ERR(write_str(t, "/data/link_in", "through"), "PermissionError");
	CHECK(host_is(tr, "data/hello.txt", "hello"));
	CHECK_ERR(write_str(t, "/data/link_sub/via.txt", "v"),
		  tr->follows ? "ok" : "PermissionError");
	CHECK(host_exists(tr, "data/sub/via.txt") == tr->follows);

	CHECK_ERR(err(t, "mkdir", "/data/newdir"), "ok");
	tpath(tr, "data/newdir", p);
	CHECK(lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755);
	CHECK_ERR(err(t, "mkdir", "/data/newdir"), "FileExistsError");
	CHECK_ERR(err(t, "mkdir", "/data/hello.txt"), "FileExistsError");
	CHECK_ERR(err(t, "mkdir", "/data"), "FileExistsError");
	CHECK_ERR(err(t, "mkdir", "/data/newdir2/"), "ok");
	CHECK(host_exists(tr, "data/newdir2"));
	CHECK_ERR(err(t, "mkdir", "/data/nodir/x"), "FileNotFoundError");
	CHECK_ERR(err(t, "mkdir", "/data/hello.txt/x"), "NotADirectoryError");
	CHECK_ERR(err(t, "mkdir", "/data/sub/.."), "ValueError");
	CHECK_ERR(write_str(t, "/data/newdir/f.txt", "f"), "ok");
	CHECK_ERR(err(t, "remove", "/data/newdir"), "OSError");
	CHECK_ERR(err(t, "remove", "/data/newdir/f.txt"), "ok");
	CHECK_ERR(err(t, "remove", "/data/newdir"), "ok");
	CHECK(!host_exists(tr, "data/newdir"));
}

/* ------------------------------------------------------------ atomic writes */

static int entries(const struct tree *tr, const char *rel)
{
	char p[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	tpath(tr, rel, p);
	if (!(d = opendir(p)))
		return -1;
	while ((de = readdir(d)))
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static mode_t host_mode(const struct tree *tr, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	tpath(tr, rel, p);
	return stat(p, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/*
 * A write that fails part way, here at the file size limit (a full disk
 * fails the same way), leaves the old file whole and nothing beside it.
 */
static void test_write_fails_midway(const struct tree *tr, const struct fs_table *t, bool rwc)
{
	static char big[3 * 4096];
	struct rlimit old, lim;
	struct hc_reply rep;
	int n = entries(tr, "data/atomic");

	memset(big, 'n', sizeof(big));
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = 4096;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	call(t, "write", "/data/atomic/f.txt", big, sizeof(big), &rep);
	CHECK_STR(rep.err_type, "OSError");
	CHECK(strstr(rep.err_msg, "File too large") != NULL);
	hc_reply_clear(&rep);
	CHECK_ERR(err_of(t, "write", "/data/atomic/new.txt", big, sizeof(big)),
		  rwc ? "OSError" : "PermissionError");
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK(host_is(tr, "data/atomic/f.txt", "keep me"));
	CHECK(!host_exists(tr, "data/atomic/new.txt"));
	CHECK(entries(tr, "data/atomic") == n);
}

static void test_atomic_write(const struct tree *tr, const struct fs_table *rw,
			      const struct fs_table *rwc)
{
	char p[PATH_MAX], q[PATH_MAX];
	struct stat before, after;

	mk(tr, "data/atomic");
	put_str(tr, "data/atomic/f.txt", "keep me");
	tpath(tr, "data/atomic/f.txt", p);
	CHECK(chmod(p, 04751) == 0 && stat(p, &before) == 0);
	test_write_fails_midway(tr, rw, false);
	test_write_fails_midway(tr, rwc, true);

	/* Replaced whole: the permissions stay, without the set-id bits. */
	CHECK_ERR(write_str(rw, "/data/atomic/f.txt", "rw wrote"), "ok");
	CHECK(host_is(tr, "data/atomic/f.txt", "rw wrote"));
	CHECK(host_mode(tr, "data/atomic/f.txt") == 0751);
	CHECK_ERR(write_str(rwc, "/data/atomic/f.txt", "rwc wrote"), "ok");
	CHECK(host_is(tr, "data/atomic/f.txt", "rwc wrote"));
	CHECK(host_mode(tr, "data/atomic/f.txt") == 0751);
	CHECK(stat(p, &after) == 0 && after.st_uid == before.st_uid);
	/* It is a new file: another hard link keeps the contents it had. */
	tpath(tr, "data/atomic/g.txt", q);
	CHECK(link(p, q) == 0);
	CHECK_ERR(write_str(rw, "/data/atomic/f.txt", "third"), "ok");
	CHECK(host_is(tr, "data/atomic/g.txt", "rwc wrote"));
	CHECK(host_is(tr, "data/atomic/f.txt", "third"));
	CHECK(unlink(q) == 0);
	/* No temporary file is left, whatever happened. */
	CHECK(entries(tr, "data/atomic") == 1);
	CHECK_ERR(write_str(rwc, "/data/atomic/new.txt", "new"), "ok");
	CHECK(host_mode(tr, "data/atomic/new.txt") == 0644);
	CHECK(entries(tr, "data/atomic") == 2);
}

/* ------------------------------------------------------------ limits */

static void test_limits(const struct tree *tr)
{
	brig_fs_limits lim = {SMALL, SMALL};
	struct fs_table *t = table1(tr, "/data", "data", BRIG_MOUNT_RWC, &lim);
	struct fs_table *def = table1(tr, "/data", "data", BRIG_MOUNT_RWC, NULL);
	char buf[SMALL + 1], *huge;
	struct hc_reply rep;

	memset(buf, 'w', sizeof(buf));
	call(t, "read", "/data/big.bin", NULL, 0, &rep);
	CHECK_STR(rep.err_type, "OSError");
	CHECK(strstr(rep.err_msg, "max_read_bytes") != NULL && rep.blob == NULL);
	hc_reply_clear(&rep);
	call(t, "read", "/data/exact.bin", NULL, 0, &rep);
	CHECK(rep.err_type == NULL && rep.blob_len == SMALL);
	hc_reply_clear(&rep);
	put_str(tr, "data/limit.txt", "keep");
	call(t, "write", "/data/limit.txt", buf, SMALL + 1, &rep);
	CHECK_STR(rep.err_type, "OSError");
	CHECK(strstr(rep.err_msg, "max_write_bytes") != NULL);
	hc_reply_clear(&rep);
	CHECK(host_is(tr, "data/limit.txt", "keep"));
	CHECK_ERR(err_of(t, "write", "/data/limit.txt", buf, SMALL), "ok");
	call(t, "listdir", "/data/many", NULL, 0, &rep);
	CHECK_STR(rep.err_type, "OSError");
	CHECK(strstr(rep.err_msg, "max_read_bytes") != NULL);
	hc_reply_clear(&rep);
	CHECK_ERR(err(t, "listdir", "/data/sub"), "ok");

	CHECK_ERR(err(def, "read", "/data/sparse.bin"), "OSError");
	CHECK(reads(def, "/data/hello.txt", "hello"));
	CHECK_ERR(err(def, "listdir", "/data/many"), "ok");
	huge = calloc(1, FS_DEFAULT_MAX_BYTES + 1);
	CHECK(huge != NULL);
	CHECK_ERR(err_of(def, "write", "/data/limit.txt", huge, FS_DEFAULT_MAX_BYTES + 1),
		  "OSError");
	CHECK(host_exists(tr, "data/limit.txt"));
	free(huge);
	fs_table_free(t);
	fs_table_free(def);
}

/* ------------------------------------------------------------ mounts */

static void test_nested(const struct tree *tr)
{
	char data[PATH_MAX], data2[PATH_MAX], e[256];
	struct fs_table *t = NULL;

	tpath(tr, "data", data);
	tpath(tr, "data2", data2);
	struct fs_mount_spec specs[] = {{"/m/w", data2, BRIG_MOUNT_RWC},
					{"/m", data, BRIG_MOUNT_RO}};

	CHECK(fs_table_new(specs, 2, NULL, &t, e, sizeof(e)) == 0);
	if (!t)
		return;
	if (tr->walk)
		fs_table_force_walk(t);
	CHECK(reads(t, "/m/hello.txt", "hello"));
	CHECK(reads(t, "/m/w/other.txt", "other"));
	CHECK_ERR(write_str(t, "/m/w/n.txt", "n"), "ok");
	CHECK(host_is(tr, "data2/n.txt", "n"));
	CHECK_ERR(write_str(t, "/m/n.txt", "n"), "PermissionError");
	CHECK(!host_exists(tr, "data/n.txt"));
	/* "/m/wx" is not under "/m/w". */
	CHECK_ERR(err(t, "read", "/m/wx"), "FileNotFoundError");
	CHECK_ERR(err(t, "remove", "/m/w"), "PermissionError");
	/* ".." is judged against the mount the path fell in, not lexically. */
	CHECK_ERR(err(t, "read", "/m/w/../hello.txt"), "PermissionError");
	fs_table_free(t);
}

static struct fs_table *host_table(const struct tree *tr, const char *vpath, const char *host)
{
	struct fs_mount_spec spec = {vpath, host, BRIG_MOUNT_RO};
	struct fs_table *t = NULL;
	char e[256];

	CHECK(fs_table_new(&spec, 1, NULL, &t, e, sizeof(e)) == 0);
	if (t && tr->walk)
		fs_table_force_walk(t);
	return t;
}

/* Magic links inside a mount lead anywhere; they are never crossed. */
static void test_magic_links(const struct tree *tr)
{
	static const char *const magic[] = {
	    "/p/root/etc/passwd", "/p/root", "/p/cwd", "/p/exe", "/p/fd/0", "/p/cwd/x"};
	struct fs_table *t = host_table(tr, "/p", "/proc/self");

	if (!t)
		return;
	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++) {
		CHECK_ERR(err(t, "read", magic[i]), "PermissionError");
		CHECK_ERR(err(t, "stat", magic[i]), "PermissionError");
		CHECK(!exists(t, magic[i]));
	}
	CHECK_ERR(err(t, "listdir", "/p/root"), "PermissionError");
	CHECK_ERR(err(t, "listdir", "/p/fd"), "ok");
	fs_table_free(t);
}

/* Another filesystem below the mount (here /proc below /) is not entered. */
static void test_no_xdev(const struct tree *tr)
{
	struct fs_table *t = host_table(tr, "/r", "/");

	if (!t)
		return;
	CHECK_ERR(err(t, "read", "/r/proc/version"), "PermissionError");
	CHECK_ERR(err(t, "listdir", "/r/proc"), "PermissionError");
	CHECK_ERR(err(t, "stat", "/r/proc/self"), "PermissionError");
	CHECK(!exists(t, "/r/proc/1"));
	fs_table_free(t);
}

/* The table holds the directory, not its name. */
static void test_pinned(const struct tree *tr)
{
	char a[PATH_MAX], b[PATH_MAX];
	struct fs_table *t;

	mk(tr, "pin");
	put_str(tr, "pin/f.txt", "original");
	t = table1(tr, "/pin", "pin", BRIG_MOUNT_RW, NULL);
	tpath(tr, "pin", a);
	tpath(tr, "pin_moved", b);
	CHECK(rename(a, b) == 0);
	mk(tr, "pin");
	put_str(tr, "pin/f.txt", "impostor");
	CHECK(reads(t, "/pin/f.txt", "original"));
	CHECK_ERR(write_str(t, "/pin/f.txt", "changed"), "ok");
	CHECK(host_is(tr, "pin_moved/f.txt", "changed"));
	CHECK(host_is(tr, "pin/f.txt", "impostor"));
	fs_table_free(t);
}

static void test_messages(const struct tree *tr, const struct fs_table *t)
{
	static const char *const paths[] = {"/data/missing", "/data/../secret.txt",
					    "/data/link_abs", "/data/sub", "/data2/x"};
	struct hc_reply rep;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		call(t, "read", paths[i], NULL, 0, &rep);
		CHECK(rep.err_type != NULL);
		CHECK(strstr(rep.err_msg, paths[i]) != NULL);
		CHECK(strstr(rep.err_msg, tr->root) == NULL);
		hc_reply_clear(&rep);
	}
}

/* ------------------------------------------------------------ threads */

static void *reader(void *arg)
{
	const struct fs_table *t = arg;
	long bad = 0;

	for (int i = 0; i < 200; i++) {
		json_t *v = value_of(t, "listdir", "/data/sub");

		bad += !reads(t, "/data/hello.txt", "hello");
		bad += json_array_size(v) != 2;
		json_decref(v);
	}
	return (void *)bad;
}

static void test_threads(const struct fs_table *t)
{
	pthread_t th[4];
	void *bad;

	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&th[i], NULL, reader, (void *)t) == 0);
	for (int i = 0; i < 4; i++) {
		CHECK(pthread_join(th[i], &bad) == 0);
		CHECK(bad == NULL);
	}
}

/* ------------------------------------------------------------ driver */

static void run_suite(bool walk)
{
	struct tree tr = {.walk = walk, .follows = !walk && have_openat2()};
	struct fs_table *ro, *rw, *rwc;

	build_tree(&tr);
	ro = table1(&tr, "/data", "data", BRIG_MOUNT_RO, NULL);
	rw = table1(&tr, "/data", "data", BRIG_MOUNT_RW, NULL);
	rwc = table1(&tr, "/data", "data", BRIG_MOUNT_RWC, NULL);
	if (!ro || !rw || !rwc)
		return;
	test_table_new(&tr);
	test_bad_args(ro);
	test_read(&tr, ro);
	test_traversal_reads(ro);
	test_traversal_writes(&tr, rwc);
	test_listdir(&tr, ro);
	test_stat(&tr, ro);
	test_exists(&tr, ro);
	test_messages(&tr, ro);
	test_threads(ro);
	test_ro(&tr, ro);
	test_rw_write(&tr, rw);
	test_mount_root(&tr, rwc);
	test_rwc(&tr, rwc);
	test_rw_remove(&tr, rw);
	test_atomic_write(&tr, rw, rwc);
	test_limits(&tr);
	test_nested(&tr);
	test_pinned(&tr);
	test_magic_links(&tr);
	test_no_xdev(&tr);
	test_read_unreadable(&tr, ro);
	fs_table_free(ro);
	fs_table_free(rw);
	fs_table_free(rwc);
	remove_tree(&tr);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

int main(void)
{
	int fds = count_fds();

	umask(0); /* modes below are then exactly what fs asked for */
	test_vpath_valid();
	run_suite(false);
	run_suite(true);
	/* Every call and table closes what it opened. */
	CHECK(fds > 0 && count_fds() == fds);
	return CHECK_DONE();
}
