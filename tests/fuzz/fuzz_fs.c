/*
 * The fs.* host functions (src/host/fs.c): path cleaning, mount matching and
 * the race-safe resolver, with both the openat2 path and the O_NOFOLLOW walk
 * used where openat2 is missing.
 *
 * A private temporary tree holds three mounts -- /data (rwc), /ro (ro) and
 * /data/rw (rw, nested in /data's guest path) -- full of traps: symlinks
 * inside and out of the mount, absolute and relative, to files and
 * directories, a loop, a FIFO.  Beside the mounts lies a directory the guest
 * must never reach, holding one file whose name and contents are random.
 *
 * Input: a byte (bit 0: use the walk resolver), the operation ("read",
 * "write", ...), a NUL, the JSON arguments, a NUL, then the blob.
 *
 * Invariants:
 *  - nothing outside the mounts changes, and nothing of it is read or listed
 *    (checked by hash, so the fuzzer cannot learn the secret from the
 *    comparison and plant it itself);
 *  - every failure has a documented error type and a non-empty UTF-8
 *    message; successes have the documented shapes.
 * The tree is rebuilt after every operation that may change it, so each input
 * starts from the same state.
 */
#include "fuzz.h"
#include "host/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[PATH_MAX];
static char secret_name[40];
static uint8_t secret[32];
static uint64_t secret_hash, secret_name_hash;
static struct stat secret_st;
static struct fs_table *tables[2]; /* openat2, walk */

static void path_of(char *out, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", base, rel);

	FUZZ_ASSERT(n > 0 && n < PATH_MAX);
}

static void put_file(const char *rel, const void *p, size_t n)
{
	char path[PATH_MAX];
	int fd;

	path_of(path, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_ASSERT(fd >= 0 && write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void put_dir(const char *rel)
{
	char path[PATH_MAX];

	path_of(path, rel);
	FUZZ_ASSERT(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static void put_link(const char *target, const char *rel)
{
	char path[PATH_MAX];

	path_of(path, rel);
	FUZZ_ASSERT(symlink(target, path) == 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag;
	if (ftw->level > 0)
		remove(path);
	return 0;
}

/* Empty a directory, keeping the directory itself (the mount holds its fd). */
static void empty_dir(const char *rel)
{
	char path[PATH_MAX];

	path_of(path, rel);
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void build_mounts(void)
{
	char abs[PATH_MAX + 64];

	empty_dir("data");
	empty_dir("rw");
	empty_dir("ro");
	put_file("data/file.txt", "hello\n", 6);
	put_dir("data/sub");
	put_dir("data/sub/deeper");
	put_file("data/sub/inner.txt", "inner", 5);
	put_dir("data/empty");
	put_link("file.txt", "data/link_in");
	put_link("sub", "data/link_sub");
	put_link("sub/../file.txt", "data/link_dotdot_in");
	put_link("..", "data/link_parent");
	put_link("link_loop", "data/link_loop");
	snprintf(abs, sizeof(abs), "../outside/%s", secret_name);
	put_link(abs, "data/link_up");
	put_link(abs + 3, "data/sub/link_up2");
	snprintf(abs, sizeof(abs), "%s/outside/%s", base, secret_name);
	put_link(abs, "data/link_abs");
	snprintf(abs, sizeof(abs), "%s/outside", base);
	put_link(abs, "data/link_absdir");
	put_link("../ro/a.txt", "data/link_other_mount");
	path_of(abs, "data/fifo");
	FUZZ_ASSERT(mkfifo(abs, 0644) == 0);
	put_file("ro/a.txt", "read only", 9);
	put_link("../outside", "ro/link_up");
	put_file("rw/w.txt", "rw", 2);
	put_link("../data/file.txt", "rw/link_sibling");
}

static void cleanup(void)
{
	for (int i = 0; i < 2; i++)
		fs_table_free(tables[i]);
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(base);
}

static void random_bytes(void *p, size_t n)
{
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	FUZZ_ASSERT(fd >= 0 && read(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void setup(void)
{
	static const char *const dirs[] = {"data", "ro", "rw", "outside"};
	brig_fs_limits lim = {.max_read_bytes = 1024, .max_write_bytes = 64};
	struct fs_mount_spec specs[3];
	char host[3][PATH_MAX], err[256], rel[64];
	const char *tmp = getenv("TMPDIR");
	uint8_t r[8];

	snprintf(base, sizeof(base), "%s/brig-fuzz-fs.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	FUZZ_ASSERT(mkdtemp(base) != NULL);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		put_dir(dirs[i]);
	random_bytes(r, sizeof(r));
	random_bytes(secret, sizeof(secret));
	snprintf(secret_name, sizeof(secret_name), "s%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7]);
	secret_hash = fuzz_hash(secret, sizeof(secret));
	secret_name_hash = fuzz_hash(secret_name, strlen(secret_name));
	snprintf(rel, sizeof(rel), "outside/%s", secret_name);
	put_file(rel, secret, sizeof(secret));
	path_of(host[0], rel);
	FUZZ_ASSERT(lstat(host[0], &secret_st) == 0);
	build_mounts();
	path_of(host[0], "data");
	path_of(host[1], "ro");
	path_of(host[2], "rw");
	specs[0] = (struct fs_mount_spec){"/data", host[0], BRIG_MOUNT_RWC};
	specs[1] = (struct fs_mount_spec){"/ro", host[1], BRIG_MOUNT_RO};
	specs[2] = (struct fs_mount_spec){"/data/rw", host[2], BRIG_MOUNT_RW};
	for (int i = 0; i < 2; i++)
		FUZZ_ASSERT(fs_table_new(specs, 3, &lim, &tables[i], err, sizeof(err)) == 0);
	fs_table_force_walk(tables[1]);
	atexit(cleanup);
}

/* Entries of a directory of the tree, besides "." and "..". */
static int count_entries(const char *rel)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	path_of(path, rel);
	d = opendir(path);
	FUZZ_ASSERT(d != NULL);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/*
 * Nothing beside the mounts changed: the top of the tree still holds the
 * four directories, and the outside one exactly the secret, intact.
 */
static void check_outside(void)
{
	char path[PATH_MAX], rel[64];
	uint8_t buf[sizeof(secret) + 1];
	struct stat st;
	int fd;

	FUZZ_ASSERT(count_entries(".") == 4);
	FUZZ_ASSERT(count_entries("outside") == 1);
	snprintf(rel, sizeof(rel), "outside/%s", secret_name);
	path_of(path, rel);
	FUZZ_ASSERT(lstat(path, &st) == 0 && st.st_mode == secret_st.st_mode);
	FUZZ_ASSERT(st.st_ino == secret_st.st_ino && st.st_uid == secret_st.st_uid);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FUZZ_ASSERT(fd >= 0);
	FUZZ_ASSERT(read(fd, buf, sizeof(buf)) == sizeof(secret));
	close(fd);
	FUZZ_ASSERT(fuzz_hash(buf, sizeof(secret)) == secret_hash);
}

static void check_error(const struct hc_reply *rep)
{
	static const char *const types[] = {
	    "ValueError",	  "PermissionError", "FileNotFoundError", "IsADirectoryError",
	    "NotADirectoryError", "FileExistsError", "OSError",
	};
	bool known = false;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		known |= strcmp(rep->err_type, types[i]) == 0;
	FUZZ_ASSERT(known);
	FUZZ_ASSERT(rep->err_msg[0] != '\0');
	FUZZ_ASSERT(fuzz_utf8_valid(rep->err_msg, strlen(rep->err_msg)));
	FUZZ_ASSERT(rep->value == NULL && rep->blob == NULL);
}

static void check_success(const char *op, const struct hc_reply *rep)
{
	size_t i;
	json_t *item;

	if (strcmp(op, "read") == 0) {
		FUZZ_ASSERT(rep->blob_len <= 1024);
		FUZZ_ASSERT(rep->blob_len != sizeof(secret) ||
			    fuzz_hash(rep->blob, rep->blob_len) != secret_hash);
	} else if (strcmp(op, "listdir") == 0) {
		FUZZ_ASSERT(json_is_array(rep->value));
		json_array_foreach(rep->value, i, item)
		{
			const char *name = json_string_value(json_object_get(item, "name"));

			FUZZ_ASSERT(name && strcmp(name, ".") && strcmp(name, ".."));
			FUZZ_ASSERT(fuzz_hash(name, strlen(name)) != secret_name_hash);
		}
	} else if (strcmp(op, "exists") == 0) {
		FUZZ_ASSERT(json_is_boolean(rep->value));
	} else if (strcmp(op, "stat") == 0) {
		FUZZ_ASSERT(json_is_object(rep->value));
		FUZZ_ASSERT(json_is_string(json_object_get(rep->value, "name")));
	}
}

static bool changes_tree(const char *op)
{
	return strcmp(op, "write") == 0 || strcmp(op, "mkdir") == 0 || strcmp(op, "remove") == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	const struct fs_table *t;
	struct hc_reply rep;
	char *op, *text;
	json_t *args;

	if (!tables[0])
		setup();
	t = tables[fuzz_take_byte(&in) & 1];
	op = fuzz_take_str(&in);
	text = fuzz_take_str(&in);
	args = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
	if (op && args) {
		fs_call(t, op, args, in.n ? in.p : NULL, in.n, &rep);
		if (rep.err_type)
			check_error(&rep);
		else
			check_success(op, &rep);
		hc_reply_clear(&rep);
		if (changes_tree(op)) {
			check_outside();
			build_mounts();
		}
	}
	json_decref(args);
	free(text);
	free(op);
	return 0;
}
