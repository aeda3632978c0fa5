/*
 * Committing an rwc mount: an upper directory made by hand (as overlayfs
 * would leave it: files, whiteouts, opaque directories) is applied to a host
 * directory, and the host must end up exactly as the rules say, with
 * nothing written outside it.
 */
#include "check.h"
#include "host/mount_commit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "brig.h"

#define MTIME 1704067200

static char base[64];
static char up[PATH_MAX], host[PATH_MAX], outside[PATH_MAX];

/* ------------------------------------------------------------ helpers */

static void join(char *out, const char *dir, const char *rel)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, rel);

	if (n < 0 || n >= PATH_MAX)
		abort();
}

static void put(const char *dir, const char *rel, const char *s, mode_t mode)
{
	char p[PATH_MAX];
	int fd;

	join(p, dir, rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

static void dir(const char *d, const char *rel, mode_t mode)
{
	char p[PATH_MAX];

	join(p, d, rel);
	CHECK(mkdir(p, 0700) == 0);
	CHECK(chmod(p, mode) == 0);
}

static void link_(const char *d, const char *rel, const char *target)
{
	char p[PATH_MAX];

	join(p, d, rel);
	CHECK(symlink(target, p) == 0);
}

/* What overlayfs leaves for a deleted name. */
static void whiteout(const char *rel)
{
	char p[PATH_MAX];

	join(p, up, rel);
	CHECK(mknod(p, S_IFCHR | 0600, makedev(0, 0)) == 0);
}

static void opaque(const char *rel)
{
	char p[PATH_MAX];

	join(p, up, rel);
	CHECK(setxattr(p, "user.overlay.opaque", "y", 1, 0) == 0);
}

static char *slurp(const char *d, const char *rel)
{
	static char buf[4096];
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	join(p, d, rel);
	if ((fd = open(p, O_RDONLY | O_NOFOLLOW)) < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool exists(const char *d, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	join(p, d, rel);
	return lstat(p, &st) == 0;
}

static mode_t lmode(const char *d, const char *rel)
{
	char p[PATH_MAX];
	struct stat st;

	join(p, d, rel);
	return lstat(p, &st) == 0 ? st.st_mode : 0;
}

static const char *target(const char *d, const char *rel)
{
	static char buf[PATH_MAX];
	char p[PATH_MAX];
	ssize_t n;

	join(p, d, rel);
	n = readlink(p, buf, sizeof(buf) - 1);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static int open_up(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)f;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(p, (st->st_mode & 07777) | 0700);
	return 0;
}

/* Read-only directories too (a test leaves some), also when unprivileged. */
static void rm_rf(const char *p)
{
	nftw(p, open_up, 16, FTW_PHYS);
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fresh(void)
{
	rm_rf(up);
	rm_rf(host);
	rm_rf(outside);
	CHECK(mkdir(up, 0755) == 0 && mkdir(host, 0755) == 0 && mkdir(outside, 0755) == 0);
	put(outside, "secret", "outside", 0644);
}

static char msg[512];

static int commit_with(struct mount_budget *b, const struct mount_owner *o)
{
	int ufd = open(up, O_PATH | O_DIRECTORY), hfd = open(host, O_PATH | O_DIRECTORY);
	int rc = mount_commit(ufd, hfd, "/out", o, b, msg, sizeof(msg));

	close(ufd);
	close(hfd);
	return rc;
}

static int commit(void)
{
	struct mount_budget b = {1 << 20, 1000};
	struct mount_owner o = {false, 0, 0};

	msg[0] = '\0';
	return commit_with(&b, &o);
}

/* No temporary entry may be left behind anywhere in the host tree. */
static int leftovers;
static int find_tmp(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag;
	if (strncmp(p + f->base, ".brig-commit-", 13) == 0)
		leftovers++;
	return 0;
}

static void check_no_temporaries(void)
{
	leftovers = 0;
	nftw(host, find_tmp, 16, FTW_PHYS);
	CHECK(leftovers == 0);
}

static void check_outside_untouched(void)
{
	char *s = slurp(outside, "secret");

	CHECK(s && strcmp(s, "outside") == 0);
	CHECK((lmode(outside, "secret") & 07777) == 0644);
}

/* ------------------------------------------------------------ tests */

static void new_entries_and_modes(void)
{
	struct timespec t[2] = {{MTIME, 5}, {MTIME, 123456789}};
	char p[PATH_MAX];

	fresh();
	put(up, "plain", "plain", 0644);
	put(up, "setid", "setid", 06755);
	put(up, "exec", "#!/bin/sh\n", 0700);
	put(up, "wide", "wide", 0666);
	put(up, "empty", "", 0644);
	dir(up, "d", 01777);
	dir(up, "d/locked", 0700);
	put(up, "d/locked/in", "in", 0644);
	join(p, up, "d/locked");
	CHECK(chmod(p, 0500) == 0);
	join(p, up, "plain");
	CHECK(utimensat(AT_FDCWD, p, t, AT_SYMLINK_NOFOLLOW) == 0);
	CHECK(chmod(up, 0777) == 0); /* the mount root's mode is never applied */
	CHECK(commit() == BRIG_OK);
	CHECK_STR(slurp(host, "plain"), "plain");
	CHECK_STR(slurp(host, "setid"), "setid");
	CHECK_STR(slurp(host, "d/locked/in"), "in");
	CHECK_STR(slurp(host, "empty"), "");
	CHECK((lmode(host, "plain") & 07777) == 0644);
	CHECK((lmode(host, "setid") & 07777) == 0755);
	CHECK((lmode(host, "exec") & 07777) == 0700);
	CHECK((lmode(host, "wide") & 07777) == 0644);
	CHECK(S_ISDIR(lmode(host, "d")) && (lmode(host, "d") & 07777) == 0755);
	CHECK((lmode(host, "d/locked") & 07777) == 0700);
	CHECK((lmode(host, ".") & 07777) == 0755);
	join(p, host, "plain");
	{
		struct stat st;

		CHECK(stat(p, &st) == 0 && st.st_mtim.tv_sec == MTIME &&
		      st.st_mtim.tv_nsec == 123456789);
	}
	check_no_temporaries();
}

static void existing_directories_keep_their_mode(void)
{
	fresh();
	dir(host, "shared", 0777);
	dir(up, "shared", 0700); /* copied up, then chmod'ed by the guest */
	put(up, "shared/f", "f", 0644);
	CHECK(commit() == BRIG_OK);
	CHECK((lmode(host, "shared") & 07777) == 0777);
	CHECK_STR(slurp(host, "shared/f"), "f");
}

static void replaced_files_are_new_inodes(void)
{
	char p[PATH_MAX];
	struct stat before, after;

	fresh();
	put(host, "f", "old", 0644);
	join(p, host, "f");
	CHECK(stat(p, &before) == 0);
	put(up, "f", "new content", 0644);
	CHECK(commit() == BRIG_OK);
	CHECK_STR(slurp(host, "f"), "new content");
	CHECK(stat(p, &after) == 0 && after.st_ino != before.st_ino);
	/* A second commit of the same upper changes nothing: the file is skipped. */
	CHECK(commit() == BRIG_OK);
	CHECK(stat(p, &before) == 0 && before.st_ino == after.st_ino);
	check_no_temporaries();
}

static void whiteouts_remove_files_and_trees(void)
{
	fresh();
	put(host, "gone", "x", 0644);
	dir(host, "tree", 0755);
	dir(host, "tree/a", 0755);
	dir(host, "tree/a/b", 0755);
	put(host, "tree/a/b/c", "c", 0444);
	if (geteuid() == 0) { /* read-only to anyone else, as rm -rf finds it too */
		char p[PATH_MAX];

		join(p, host, "tree/a/b");
		CHECK(chmod(p, 0555) == 0);
	}
	link_(host, "tree/out", outside);
	put(host, "kept", "k", 0644);
	whiteout("gone");
	whiteout("tree");
	whiteout("never_existed");
	CHECK(commit() == BRIG_OK);
	CHECK(!exists(host, "gone") && !exists(host, "tree") && exists(host, "kept"));
	check_outside_untouched();
	CHECK(exists(outside, "."));
}

static void opaque_directories_replace_the_host_one(void)
{
	fresh();
	dir(host, "o", 0755);
	put(host, "o/old1", "1", 0644);
	put(host, "o/keep_name", "old", 0644);
	dir(host, "o/sub", 0755);
	put(host, "o/sub/deep", "d", 0644);
	dir(up, "o", 0755);
	opaque("o");
	put(up, "o/keep_name", "new", 0644);
	put(up, "o/fresh", "f", 0644);
	CHECK(commit() == BRIG_OK);
	CHECK(!exists(host, "o/old1") && !exists(host, "o/sub"));
	CHECK_STR(slurp(host, "o/keep_name"), "new");
	CHECK_STR(slurp(host, "o/fresh"), "f");
}

static void type_changes(void)
{
	fresh();
	dir(host, "was_dir", 0755);
	put(host, "was_dir/x", "x", 0644);
	put(host, "was_file", "f", 0644);
	link_(host, "was_link", "../outside/secret");
	link_(host, "linked_dir", outside);
	put(up, "was_dir", "now a file", 0644);
	dir(up, "was_file", 0755);
	put(up, "was_file/in", "in", 0644);
	put(up, "was_link", "through?", 0644);
	dir(up, "linked_dir", 0755);
	put(up, "linked_dir/secret", "pwned", 0644);
	CHECK(commit() == BRIG_OK);
	CHECK_STR(slurp(host, "was_dir"), "now a file");
	CHECK_STR(slurp(host, "was_file/in"), "in");
	CHECK(S_ISREG(lmode(host, "was_link")));
	CHECK_STR(slurp(host, "was_link"), "through?");
	CHECK(S_ISDIR(lmode(host, "linked_dir")));
	CHECK_STR(slurp(host, "linked_dir/secret"), "pwned");
	check_outside_untouched();
	CHECK(!exists(outside, "in"));
	check_no_temporaries();
}

static void symlinks_stay_inside(void)
{
	int rc;

	fresh();
	put(host, "a.txt", "a", 0644);
	link_(host, "ext", outside); /* the host's own link out */
	dir(up, "sub", 0755);
	dir(up, "sub/deeper", 0755);
	link_(up, "good", "a.txt");
	link_(up, "dot", ".");
	link_(up, "dangling", "not/yet");
	link_(up, "sub/back", "../a.txt");
	link_(up, "sub/deeper/up2", "../../a.txt");
	link_(up, "sub/loop", "..");
	link_(up, "abs", "/etc/passwd");
	link_(up, "escape", "../x");
	link_(up, "sub/escape2", "../../x");
	link_(up, "after_name", "sub/loop/..");
	link_(up, "via_host_link", "ext/secret");
	rc = commit();
	CHECK(rc == BRIG_E_DENIED);
	CHECK(strstr(msg, "/out/abs (a symbolic link leaving the mount)") != NULL);
	CHECK(strstr(msg, "/out/escape ") != NULL && strstr(msg, "/out/sub/escape2 ") != NULL);
	CHECK(strstr(msg, "/out/after_name ") != NULL);
	CHECK(strstr(msg, "/out/via_host_link ") != NULL);
	CHECK(strstr(msg, "/out/good ") == NULL && strstr(msg, "back") == NULL);
	CHECK_STR(target(host, "good"), "a.txt");
	CHECK_STR(target(host, "dot"), ".");
	CHECK_STR(target(host, "dangling"), "not/yet");
	CHECK_STR(target(host, "sub/back"), "../a.txt");
	CHECK_STR(target(host, "sub/deeper/up2"), "../../a.txt");
	CHECK_STR(target(host, "sub/loop"), "..");
	CHECK(!exists(host, "abs") && !exists(host, "escape") && !exists(host, "sub/escape2"));
	CHECK(!exists(host, "after_name") && !exists(host, "via_host_link"));
	/* The same link twice is left alone; a changed one is replaced. */
	CHECK(commit() == BRIG_E_DENIED);
	CHECK_STR(target(host, "good"), "a.txt");
	check_no_temporaries();
}

static void special_files_are_refused(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char p[PATH_MAX];
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	fresh();
	join(p, up, "fifo");
	CHECK(mkfifo(p, 0666) == 0);
	join(p, up, "sock");
	CHECK(strlen(p) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, p, strlen(p) + 1 < sizeof(sa.sun_path) ? strlen(p) + 1 : 0);
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(s);
	if (geteuid() == 0) {
		join(p, up, "null");
		CHECK(mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0);
		join(p, up, "disk");
		CHECK(mknod(p, S_IFBLK | 0666, makedev(8, 0)) == 0);
	}
	put(up, "regular", "r", 0644);
	CHECK(commit() == BRIG_E_DENIED);
	CHECK(strstr(msg, "/out/fifo (a FIFO)") != NULL);
	CHECK(strstr(msg, "/out/sock (a socket)") != NULL);
	CHECK(!exists(host, "fifo") && !exists(host, "sock"));
	CHECK(!exists(host, "null") && !exists(host, "disk"));
	CHECK_STR(slurp(host, "regular"), "r");
	if (geteuid() == 0)
		CHECK(strstr(msg, "a character device") && strstr(msg, "a block device"));
}

static void budget_bounds_bytes_and_inodes(void)
{
	struct mount_owner o = {false, 0, 0};
	struct mount_budget b;
	char p[PATH_MAX], q[PATH_MAX];

	fresh();
	put(up, "f", "0123456789", 0644);
	join(p, up, "f");
	for (int i = 0; i < 3; i++) { /* hard links count in full */
		char name[8] = {'h', (char)('0' + i), 0};

		join(q, up, name);
		CHECK(link(p, q) == 0);
	}
	b = (struct mount_budget){35, 100};
	CHECK(commit_with(&b, &o) == BRIG_E_LIMIT);
	CHECK(strstr(msg, "mount write limit") != NULL);

	fresh();
	put(up, "sparse", "", 0644);
	join(p, up, "sparse");
	CHECK(truncate(p, 1 << 30) == 0);
	b = (struct mount_budget){1 << 20, 100};
	CHECK(commit_with(&b, &o) == BRIG_E_LIMIT);
	CHECK(!exists(host, "sparse"));
	check_no_temporaries();

	fresh();
	for (int i = 0; i < 10; i++) {
		snprintf(q, sizeof(q), "e%d", i);
		put(up, q, "", 0644);
	}
	b = (struct mount_budget){1 << 20, 5};
	CHECK(commit_with(&b, &o) == BRIG_E_LIMIT);
	b = (struct mount_budget){1 << 20, 10};
	CHECK(commit_with(&b, &o) == BRIG_OK && b.inodes == 0 && b.bytes == 1 << 20);
}

static void too_deep_is_an_error(void)
{
	char rel[PATH_MAX] = "";
	size_t n = 0;

	fresh();
	for (int i = 0; i <= MOUNT_COMMIT_MAX_DEPTH + 1; i++) {
		n += (size_t)snprintf(rel + n, sizeof(rel) - n, "%sd", i ? "/" : "");
		dir(up, rel, 0755);
	}
	CHECK(commit() == BRIG_E_IO);
	CHECK(strstr(msg, "nested deeper") != NULL);
}

static void unreadable_upper_is_reported(void)
{
	char p[PATH_MAX];

	if (geteuid() == 0)
		return; /* root reads anything */
	fresh();
	put(up, "locked", "x", 0000);
	CHECK(commit() == BRIG_E_IO);
	CHECK(strstr(msg, "cannot read /out/locked") != NULL);
	join(p, up, "locked");
	chmod(p, 0644);
}

static void root_sets_owners(void)
{
	struct mount_owner o = {true, 12345, 23456};
	struct mount_budget b = {1 << 20, 100};
	char p[PATH_MAX];
	struct stat st;

	if (geteuid() != 0)
		return;
	fresh();
	put(host, "theirs", "old", 0644);
	join(p, host, "theirs");
	CHECK(chown(p, 777, 888) == 0);
	put(up, "theirs", "new", 0644);
	put(up, "mine", "m", 0644);
	dir(up, "d", 0755);
	link_(up, "l", "mine");
	CHECK(commit_with(&b, &o) == BRIG_OK);
	CHECK(stat(p, &st) == 0 && st.st_uid == 777 && st.st_gid == 888);
	join(p, host, "mine");
	CHECK(stat(p, &st) == 0 && st.st_uid == 12345 && st.st_gid == 23456);
	join(p, host, "d");
	CHECK(stat(p, &st) == 0 && st.st_uid == 12345);
	join(p, host, "l");
	CHECK(lstat(p, &st) == 0 && st.st_uid == 12345);
}

/* As root: a mount point inside the host directory is never crossed. */
static void mount_points_are_not_crossed(void)
{
	char p[PATH_MAX];

	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return;
	fresh();
	dir(host, "mnt", 0755);
	join(p, host, "mnt");
	CHECK(mount("tmpfs", p, "tmpfs", 0, "size=64k") == 0);
	put(host, "mnt/inside", "i", 0644);
	whiteout("mnt");
	CHECK(commit() == BRIG_E_IO);
	CHECK(strstr(msg, "mount point") != NULL);
	CHECK_STR(slurp(host, "mnt/inside"), "i");
	rm_rf(up);
	CHECK(mkdir(up, 0755) == 0);
	dir(up, "mnt", 0755);
	put(up, "mnt/new", "n", 0644);
	CHECK(commit() == BRIG_E_IO);
	CHECK(!exists(host, "mnt/new"));
	umount2(p, MNT_DETACH);
}

int main(void)
{
	char *b;

	snprintf(base, sizeof(base), "/tmp/brig-commit-test.XXXXXX");
	if (!(b = mkdtemp(base)))
		return 1;
	join(up, b, "upper");
	join(host, b, "host");
	join(outside, b, "outside");
	new_entries_and_modes();
	existing_directories_keep_their_mode();
	replaced_files_are_new_inodes();
	whiteouts_remove_files_and_trees();
	opaque_directories_replace_the_host_one();
	type_changes();
	symlinks_stay_inside();
	special_files_are_refused();
	budget_bounds_bytes_and_inodes();
	too_deep_is_an_error();
	unreadable_upper_is_reported();
	root_sets_owners();
	mount_points_are_not_crossed();
	rm_rf(b);
	return CHECK_DONE();
}
