/*
 * Copying a session's files into another session, on the host, between the
 * two jails' scratch tmpfs (rootfs.c hands their roots over as O_PATH fds).
 *
 * Guest code may change the source tree while it is copied, and may have
 * planted links and FIFOs in it.  So every name is opened relative to a
 * directory fd this walk holds, one component at a time, never through a
 * link (O_NOFOLLOW), never blocking (O_NONBLOCK), and never off the root's
 * filesystem (st_dev): at worst a racing guest makes the copy hold a mix of
 * its old and new files, all its own.  What is created in the destination
 * is created fresh (O_EXCL), as the jail's user on the host (fsuid), so the
 * destination's guest owns it and its tmpfs size bounds it.
 */
#include "host/tree_copy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

/* Each level holds three fds (two directories and a listing). */
#define TREE_MAX_DEPTH 128

struct walk {
	dev_t src_dev, dst_dev;
	char *err;
	size_t errlen;
	char path[PATH_MAX]; /* below the root, for messages */
};

static int fail(struct walk *w, int e, const char *what)
{
	const char *name = strerrorname_np(e);

	snprintf(w->err, w->errlen, "%s %s: %s (%s)", what, w->path, strerror(e),
		 name ? name : "?");
	return -e;
}

/* Append name to w->path; returns the old length, to cut back to. */
static size_t path_push(struct walk *w, const char *name)
{
	size_t n = strlen(w->path);

	snprintf(w->path + n, sizeof(w->path) - n, "/%s", name);
	return n;
}

static int open_dir(int at, const char *name)
{
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Call fn for each entry of dir (but . and ..), with w->path naming it,
 * until one fails.
 */
static int each_entry(struct walk *w, int dir,
		      int (*fn)(struct walk *w, int dir, const char *name, void *arg), void *arg)
{
	DIR *d;
	struct dirent *e;
	int rc = 0, dup_fd = dup(dir);

	if (dup_fd < 0 || !(d = fdopendir(dup_fd))) {
		if (dup_fd >= 0)
			close(dup_fd);
		return fail(w, errno, "cannot list");
	}
	while (rc == 0 && (errno = 0, e = readdir(d))) {
		size_t cut;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		cut = path_push(w, e->d_name);
		rc = fn(w, dir, e->d_name, arg);
		w->path[cut] = '\0';
	}
	if (rc == 0 && errno)
		rc = fail(w, errno, "cannot list");
	closedir(d);
	return rc;
}

static int clear_dir(struct walk *w, int dir, int depth);

/* Remove one entry of dir; a directory with its contents, unless mounted on. */
static int clear_entry(struct walk *w, int dir, const char *name, void *arg)
{
	int depth = *(int *)arg, sub, rc;
	struct stat st;

	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail(w, errno, "cannot stat");
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dir, name, 0) < 0 && errno != ENOENT
			   ? fail(w, errno, "cannot remove")
			   : 0;
	if (st.st_dev != w->dst_dev)
		return 0;
	if (depth >= TREE_MAX_DEPTH)
		return fail(w, ELOOP, "too deep at");
	if ((sub = open_dir(dir, name)) < 0)
		return fail(w, errno, "cannot open");
	rc = clear_dir(w, sub, depth + 1);
	close(sub);
	if (rc == 0 && unlinkat(dir, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = fail(w, errno, "cannot remove");
	return rc;
}

/* Remove everything in dir (on dst's tmpfs); mount points stay. */
static int clear_dir(struct walk *w, int dir, int depth)
{
	return each_entry(w, dir, clear_entry, &depth);
}

static void copy_meta(int fd, const struct stat *st)
{
	const struct timespec times[2] = {st->st_atim, st->st_mtim};

	(void)!fchmod(fd, st->st_mode & 01777); /* no set-id bits */
	(void)!futimens(fd, times);
}

/*
 * size bytes of in to out, which already has that size; a file that shrank
 * meanwhile is cut where its data ended.
 */
static int copy_data(int in, int out, off_t size)
{
	off_t at = 0;

	while (at < size) {
		ssize_t n = sendfile(out, in, &at, (size_t)(size - at));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
	}
	return at < size && ftruncate(out, at) < 0 ? -errno : 0;
}

static int copy_file(struct walk *w, int sdir, int ddir, const char *name)
{
	struct stat st;
	int in, out, rc;

	in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (in < 0)
		return errno == ENOENT || errno == ELOOP ? 0 : fail(w, errno, "cannot read");
	/* Swapped for something else since it was listed: left out, as such. */
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != w->src_dev) {
		close(in);
		return 0;
	}
	out = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		rc = fail(w, errno, "cannot create");
	} else {
		/* At its full size first: the tmpfs then backs it with huge pages. */
		rc = ftruncate(out, st.st_size) < 0 ? -errno : copy_data(in, out, st.st_size);
		if (rc < 0)
			rc = fail(w, -rc, "cannot write");
		else
			copy_meta(out, &st);
		close(out);
	}
	close(in);
	return rc;
}

static int copy_link(struct walk *w, int sdir, int ddir, const char *name)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);

	if (n < 0)
		return errno == ENOENT || errno == EINVAL ? 0 : fail(w, errno, "cannot read link");
	target[n] = '\0';
	return symlinkat(target, ddir, name) < 0 ? fail(w, errno, "cannot create link") : 0;
}

static int copy_dir(struct walk *w, int sdir, int ddir, int depth);

/* Whether fd is on the filesystem dev (not a mount on top of it). */
static bool on_dev(int fd, dev_t dev)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == dev;
}

static int copy_subdir(struct walk *w, int sdir, int ddir, const char *name, int depth)
{
	struct stat st;
	int s, d, rc;

	if (depth >= TREE_MAX_DEPTH)
		return fail(w, ELOOP, "too deep at");
	if ((s = open_dir(sdir, name)) < 0)
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR
			   ? 0
			   : fail(w, errno, "cannot open");
	if (fstat(s, &st) < 0 || st.st_dev != w->src_dev) {
		close(s);
		return 0; /* a mount point: not the guest's files */
	}
	if (mkdirat(ddir, name, 0700) < 0 && errno != EEXIST) {
		close(s);
		return fail(w, errno, "cannot create");
	}
	d = open_dir(ddir, name);
	if (d < 0)
		rc = fail(w, errno, "cannot open");
	else if (!on_dev(d, w->dst_dev))
		rc = 0; /* a mount point in dst: left as it is */
	else if ((rc = copy_dir(w, s, d, depth + 1)) == 0)
		copy_meta(d, &st);
	if (d >= 0)
		close(d);
	close(s);
	return rc;
}

static int copy_entry(struct walk *w, int sdir, int ddir, const char *name, int depth)
{
	struct stat st;

	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail(w, errno, "cannot stat");
	if (S_ISDIR(st.st_mode))
		return copy_subdir(w, sdir, ddir, name, depth);
	if (S_ISREG(st.st_mode))
		return copy_file(w, sdir, ddir, name);
	if (S_ISLNK(st.st_mode))
		return copy_link(w, sdir, ddir, name);
	return 0; /* FIFOs, sockets and devices are not files to copy */
}

struct copy_into {
	int ddir, depth;
};

static int copy_one(struct walk *w, int sdir, const char *name, void *arg)
{
	const struct copy_into *to = arg;

	return copy_entry(w, sdir, to->ddir, name, to->depth);
}

static int copy_dir(struct walk *w, int sdir, int ddir, int depth)
{
	struct copy_into to = {ddir, depth};

	return each_entry(w, sdir, copy_one, &to);
}

/* Replace the contents of dst_root/t->dir with a copy of src_root/t->dir's. */
static int replace_one(struct walk *w, int src_root, int dst_root, const struct tree_dir *t)
{
	struct stat sst, dst;
	int s = open_dir(src_root, t->dir), d = open_dir(dst_root, t->dir), rc;

	snprintf(w->path, sizeof(w->path), "%s", t->shown);
	if (s < 0 || d < 0 || fstat(s, &sst) < 0 || fstat(d, &dst) < 0)
		rc = fail(w, errno, "cannot open");
	else if ((rc = clear_dir(w, d, 0)) == 0 && (rc = copy_dir(w, s, d, 0)) == 0)
		copy_meta(d, &sst);
	if (s >= 0)
		close(s);
	if (d >= 0)
		close(d);
	return rc;
}

int tree_replace(int src_root, int dst_root, const struct tree_dir *dirs, size_t ndirs, uid_t uid,
		 gid_t gid, char *err, size_t errlen)
{
	struct walk w = {.err = err, .errlen = errlen};
	struct stat s, d;
	uid_t old_uid;
	gid_t old_gid;
	int rc = 0;

	err[0] = '\0';
	if (fstat(src_root, &s) < 0 || fstat(dst_root, &d) < 0)
		return fail(&w, errno, "cannot open");
	w.src_dev = s.st_dev;
	w.dst_dev = d.st_dev;
	/* Per thread: only this walk acts as the jail's user. */
	old_gid = (gid_t)setfsgid(gid);
	old_uid = (uid_t)setfsuid(uid);
	for (size_t i = 0; i < ndirs && rc == 0; i++)
		rc = replace_one(&w, src_root, dst_root, &dirs[i]);
	setfsuid(old_uid);
	setfsgid(old_gid);
	return rc;
}
