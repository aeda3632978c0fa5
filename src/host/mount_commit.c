/* Committing an rwc mount; mount_commit.h states what is applied and why it is safe. */
#include "host/mount_commit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "brig.h"
#include "host/fs.h"

/* Modes a committed entry may carry: no setuid, setgid, sticky, group or other write. */
#define MC_MODE_MASK 0755
/* Refused paths named in the message (the rest are counted). */
#define MC_NAMED 6
#define MC_TMP_TRIES 100
/* sendfile moves at most this much per call. */
#define MC_CHUNK (1u << 30)

struct mc {
	int root_fd; /* the mount's host directory */
	struct mount_budget *budget;
	char path[PATH_MAX]; /* guest path of the entry at hand */
	size_t plen;
	size_t root_len; /* of the vpath, within path */
	bool path_cut;	 /* path was too long to hold whole */
	const struct mount_owner *owner;
	int code; /* the first fatal error, or BRIG_OK */
	char *msg;
	size_t msglen;
	char refused[768];
	size_t nrefused;
	unsigned seq; /* temporary names */
};

struct mc_names {
	char **v;
	size_t n, cap;
};

static void mc_names_free(struct mc_names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void mc_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define MC_FD __attribute__((cleanup(mc_close))) int
#define MC_NAMES __attribute__((cleanup(mc_names_free))) struct mc_names

/* ------------------------------------------------------------ messages */

/* Append name to the guest path; returns the length to restore. */
static size_t mc_push(struct mc *c, const char *name)
{
	size_t old = c->plen, n = strlen(name);

	if (c->plen + 1 + n >= sizeof(c->path)) {
		c->path_cut = true;
		return old;
	}
	c->path[c->plen++] = '/';
	memcpy(c->path + c->plen, name, n + 1);
	c->plen += n;
	return old;
}

static void mc_pop(struct mc *c, size_t len)
{
	c->plen = len;
	c->path[len] = '\0';
}

static void mc_fail(struct mc *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void mc_fail(struct mc *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->code != BRIG_OK)
		return;
	c->code = code;
	va_start(ap, fmt);
	vsnprintf(c->msg, c->msglen, fmt, ap);
	va_end(ap);
}

/* A host-side failure (err is a negative errno) stops the commit. */
static void mc_fail_host(struct mc *c, int err)
{
	if (err == -EXDEV)
		mc_fail(c, BRIG_E_IO,
			"cannot commit %.300s to the host: a mount point is in the way", c->path);
	else
		mc_fail(c, BRIG_E_IO, "cannot commit %.300s to the host: %s", c->path,
			strerror(-err));
}

/* The guest's side could not be read (as an unprivileged host, an entry the
 * guest made unreadable to its owner). */
static void mc_fail_upper(struct mc *c, int err)
{
	mc_fail(c, BRIG_E_IO, "cannot read %.300s to commit it: %s", c->path, strerror(-err));
}

static void mc_refuse(struct mc *c, const char *what)
{
	size_t used = strlen(c->refused);

	if (c->nrefused++ < MC_NAMED)
		snprintf(c->refused + used, sizeof(c->refused) - used, "%s%.200s (%s)",
			 used ? ", " : "", c->path, what);
}

static bool mc_take(struct mc *c, uint64_t bytes)
{
	if (c->budget->inodes < 1 || c->budget->bytes < bytes) {
		mc_fail(c, BRIG_E_LIMIT,
			"cannot commit %.300s: the run's changes exceed its mount write limit "
			"(hard links and sparse files count at their full size)",
			c->path);
		return false;
	}
	c->budget->inodes--;
	c->budget->bytes -= bytes;
	return true;
}

/* ------------------------------------------------------------ helpers */

/* The names in a directory (any fd of it), without "." and "..". */
static int mc_list(int dirfd, struct mc_names *out)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;
	int err;

	if (fd < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		err = errno;
		close(fd);
		return -err;
	}
	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			char **v = realloc(out->v, cap * sizeof(*v));

			if (!v)
				break;
			out->v = v;
			out->cap = cap;
		}
		if (!(out->v[out->n] = strdup(de->d_name)))
			break;
		out->n++;
	}
	err = errno;
	closedir(d);
	return -err;
}

/* Remove name from hfd: a directory with everything below it, never
 * through a symlink nor across a mount point. */
static int mc_remove_tree(int hfd, const char *name, int depth)
{
	MC_NAMES names = {NULL, 0, 0};
	MC_FD fd = -1;
	int rc;

	if (unlinkat(hfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return -errno;
	if (depth > MOUNT_COMMIT_MAX_DEPTH)
		return -ENAMETOOLONG;
	fd = fs_open_entry(hfd, name, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	if ((rc = mc_list(fd, &names)) < 0)
		return rc;
	for (size_t i = 0; i < names.n; i++) {
		if ((rc = mc_remove_tree(fd, names.v[i], depth + 1)) < 0)
			return rc;
	}
	if (unlinkat(hfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static void mc_tmp_name(struct mc *c, char *buf, size_t len)
{
	snprintf(buf, len, ".brig-commit-%d-%u", (int)getpid(), ++c->seq);
}

/* Put the entry tmp in place of name, removing a directory there first. */
static int mc_replace(int hfd, const char *tmp, const char *name, int depth)
{
	int err;

	if (renameat(hfd, tmp, hfd, name) == 0)
		return 0;
	err = -errno;
	if (err == -EISDIR || err == -ENOTEMPTY || err == -EEXIST) {
		err = mc_remove_tree(hfd, name, depth + 1);
		if (err == 0 && renameat(hfd, tmp, hfd, name) == 0)
			return 0;
		if (err == 0)
			err = -errno;
	}
	unlinkat(hfd, tmp, 0);
	return err;
}

static int mc_copy(int in, int out, uint64_t size)
{
	off_t off = 0;
	char buf[65536];

	while ((uint64_t)off < size) {
		size_t want = size - (uint64_t)off > MC_CHUNK ? MC_CHUNK : (size_t)(size - off);
		ssize_t n = sendfile(out, in, &off, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EINVAL || errno == ENOSYS))
			break; /* no sendfile between these two: copy by hand */
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0; /* the file shrank meanwhile */
	}
	while ((uint64_t)off < size) {
		size_t want =
		    size - (uint64_t)off > sizeof(buf) ? sizeof(buf) : (size_t)(size - off);
		ssize_t n = pread(in, buf, want, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : 0;
		for (ssize_t w = 0; w < n;) {
			ssize_t k = write(out, buf + w, (size_t)(n - w));

			if (k < 0 && errno != EINTR)
				return -errno;
			w += k > 0 ? k : 0;
		}
		off += n;
	}
	return 0;
}

/* ------------------------------------------------------------ entries */

static bool mc_same_bytes(int a, int b, off_t size)
{
	char x[16384], y[sizeof(x)];

	for (off_t off = 0; off < size;) {
		size_t want = size - off > (off_t)sizeof(x) ? sizeof(x) : (size_t)(size - off);
		ssize_t n = pread(a, x, want, off);

		if (n <= 0 || pread(b, y, (size_t)n, off) != n || memcmp(x, y, (size_t)n) != 0)
			return false;
		off += n;
	}
	return true;
}

/* The host file is what the upper one would make it (a session commits
 * after every call); timestamps are too coarse to be trusted alone. */
static bool mc_unchanged(int in, const struct stat *up, int hfd, const char *name,
			 const struct stat *host)
{
	MC_FD fd = -1;

	if (!S_ISREG(host->st_mode) || host->st_size != up->st_size ||
	    host->st_mtim.tv_sec != up->st_mtim.tv_sec ||
	    host->st_mtim.tv_nsec != up->st_mtim.tv_nsec ||
	    (host->st_mode & 07777) != (up->st_mode & 07777))
		return false;
	fd = fs_open_entry(hfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	return fd >= 0 && mc_same_bytes(in, fd, up->st_size);
}

/* Fill a new temporary file in hfd from in; its name goes to tmp. */
static int mc_fill_tmp(struct mc *c, int hfd, int in, const struct stat *st, const struct stat *old,
		       char *tmp, size_t tmplen)
{
	struct timespec times[2] = {st->st_atim, st->st_mtim};
	MC_FD out = -1;
	int rc;

	for (int i = 0; i < MC_TMP_TRIES && out < 0; i++) {
		mc_tmp_name(c, tmp, tmplen);
		out = openat(hfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (out < 0 && errno != EEXIST)
			return -errno;
	}
	if (out < 0)
		return -EEXIST;
	rc = mc_copy(in, out, (uint64_t)st->st_size);
	/* Before the chmod, which it would otherwise undo. */
	if (rc == 0 && c->owner->set &&
	    fchown(out, old ? old->st_uid : c->owner->uid, old ? old->st_gid : c->owner->gid) < 0)
		rc = -errno;
	if (rc == 0 && fchmod(out, st->st_mode & MC_MODE_MASK) < 0)
		rc = -errno;
	if (rc == 0 && futimens(out, times) < 0)
		rc = -errno;
	if (close(out) < 0 && rc == 0)
		rc = -errno;
	out = -1;
	if (rc < 0)
		unlinkat(hfd, tmp, 0);
	return rc;
}

static void mc_file(struct mc *c, int ufd, int hfd, const char *name, int depth)
{
	MC_FD in = openat(ufd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	struct stat st, host;
	bool have_host;
	char tmp[64];
	int rc;

	if (in < 0) {
		if (errno != ENOENT && errno != ELOOP)
			mc_fail_upper(c, -errno);
		return; /* gone or replaced since the listing: the next commit sees it */
	}
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (!mc_take(c, (uint64_t)st.st_size))
		return;
	have_host = fstatat(hfd, name, &host, AT_SYMLINK_NOFOLLOW) == 0;
	if (have_host && mc_unchanged(in, &st, hfd, name, &host))
		return;
	rc = mc_fill_tmp(c, hfd, in, &st, have_host && S_ISREG(host.st_mode) ? &host : NULL, tmp,
			 sizeof(tmp));
	if (rc == 0)
		rc = mc_replace(hfd, tmp, name, depth);
	if (rc < 0)
		mc_fail_host(c, rc);
}

/* The host directory for name, made when missing (replacing a non-directory). */
static int mc_host_dir(struct mc *c, int hfd, const char *name, mode_t mode)
{
	int fd = fs_open_entry(hfd, name, O_PATH | O_DIRECTORY);

	if (fd >= 0)
		return fd;
	/* A symlink or a file where the guest has a directory: replaced. */
	if ((fd == -ELOOP || fd == -ENOTDIR) && unlinkat(hfd, name, 0) < 0)
		fd = errno == ENOENT ? -ENOENT : -errno;
	else if (fd == -ELOOP || fd == -ENOTDIR)
		fd = -ENOENT;
	if (fd == -ENOENT)
		fd = mkdirat(hfd, name, 0700) < 0
			 ? -errno
			 : fs_open_entry(hfd, name, O_RDONLY | O_DIRECTORY);
	if (fd >= 0 && c->owner->set && fchown(fd, c->owner->uid, c->owner->gid) < 0) {
		int err = -errno;

		close(fd);
		fd = err;
	}
	if (fd >= 0 && fchmod(fd, (mode & MC_MODE_MASK) | 0700) < 0) {
		int err = -errno;

		close(fd);
		fd = err;
	}
	if (fd < 0)
		mc_fail_host(c, fd);
	return fd;
}

static void mc_dir(struct mc *c, int ufd, int hfd, int depth);

static void mc_subdir(struct mc *c, int ufd, int hfd, const char *name, int depth)
{
	MC_FD sub_u = -1;
	MC_FD sub_h = -1;
	struct stat st;

	if (depth + 1 > MOUNT_COMMIT_MAX_DEPTH) {
		mc_fail(c, BRIG_E_IO, "cannot commit %.300s: directories nested deeper than %d",
			c->path, MOUNT_COMMIT_MAX_DEPTH);
		return;
	}
	sub_u = openat(ufd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub_u < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			mc_fail_upper(c, -errno);
		return;
	}
	if (fstat(sub_u, &st) < 0 || !mc_take(c, 0))
		return;
	sub_h = mc_host_dir(c, hfd, name, st.st_mode);
	if (sub_h >= 0)
		mc_dir(c, sub_u, sub_h, depth + 1);
}

static void mc_whiteout(struct mc *c, int hfd, const char *name, int depth)
{
	int rc = mc_remove_tree(hfd, name, depth + 1);

	if (rc < 0)
		mc_fail_host(c, rc);
}

/*
 * A link may stay: relative, only ".." before its first name (so no ".."
 * can follow a link), no higher than the mount root, and resolving beneath
 * the mount on the host now (through existing links too), or not yet.
 */
static bool mc_link_inside(const struct mc *c, const char *target, int depth)
{
	char rel[PATH_MAX];
	const char *parent = c->path + c->root_len;
	const char *last = strrchr(c->path, '/');
	int up = 0, fd;
	bool named = false;

	if (!*target || target[0] == '/' || c->path_cut)
		return false;
	for (const char *p = target; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (named || ++up > depth)
				return false;
		} else if (len && !(len == 1 && p[0] == '.')) {
			named = true;
		}
		p += len + (p[len] == '/');
	}
	/* parent: the link's directory below the mount root ("" at the root). */
	parent += *parent == '/';
	if ((size_t)snprintf(rel, sizeof(rel), "%.*s%s%s",
			     (int)(last - parent > 0 ? last - parent : 0), parent,
			     last > parent ? "/" : "", target) >= sizeof(rel))
		return false;
	fd = fs_open_beneath(c->root_fd, rel, O_PATH);
	if (fd >= 0)
		close(fd);
	return fd >= 0 || fd == -ENOENT || fd == -ENOTDIR;
}

static void mc_symlink(struct mc *c, int ufd, int hfd, const char *name, int depth)
{
	char target[PATH_MAX], cur[PATH_MAX], tmp[64];
	ssize_t n = readlinkat(ufd, name, target, sizeof(target) - 1);
	int rc = -EEXIST;

	if (n < 0) {
		if (errno != ENOENT && errno != EINVAL)
			mc_fail_upper(c, -errno);
		return;
	}
	target[n] = '\0';
	if (!mc_link_inside(c, target, depth)) {
		mc_refuse(c, "a symbolic link leaving the mount");
		return;
	}
	if (!mc_take(c, 0))
		return;
	n = readlinkat(hfd, name, cur, sizeof(cur) - 1);
	if (n >= 0 && (size_t)n == strlen(target) && memcmp(cur, target, (size_t)n) == 0)
		return;
	for (int i = 0; i < MC_TMP_TRIES && rc == -EEXIST; i++) {
		mc_tmp_name(c, tmp, sizeof(tmp));
		rc = symlinkat(target, hfd, tmp) < 0 ? -errno : 0;
	}
	if (rc == 0 && c->owner->set &&
	    fchownat(hfd, tmp, c->owner->uid, c->owner->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		rc = -errno;
		unlinkat(hfd, tmp, 0);
	}
	if (rc == 0)
		rc = mc_replace(hfd, tmp, name, depth);
	if (rc < 0)
		mc_fail_host(c, rc);
}

static const char *mc_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "an unknown file type";
}

/* One entry of the upper directory; links wait for the second pass, so
 * that they are checked against the directories committed before them. */
static void mc_entry(struct mc *c, int ufd, int hfd, const char *name, int depth, bool links)
{
	struct stat st;
	size_t saved;

	if (fstatat(ufd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			mc_fail_upper(c, -errno);
		return;
	}
	if (links != S_ISLNK(st.st_mode))
		return;
	saved = mc_push(c, name);
	if (S_ISCHR(st.st_mode) && st.st_rdev == 0)
		mc_whiteout(c, hfd, name, depth);
	else if (S_ISREG(st.st_mode))
		mc_file(c, ufd, hfd, name, depth);
	else if (S_ISDIR(st.st_mode))
		mc_subdir(c, ufd, hfd, name, depth);
	else if (S_ISLNK(st.st_mode))
		mc_symlink(c, ufd, hfd, name, depth);
	else
		mc_refuse(c, mc_kind(st.st_mode));
	mc_pop(c, saved);
}

/* An opaque directory replaced the host's: drop the host entries it lacks. */
static void mc_prune(struct mc *c, int ufd, int hfd, int depth)
{
	MC_NAMES names = {NULL, 0, 0};
	struct stat st;
	int rc = mc_list(hfd, &names);

	for (size_t i = 0; rc == 0 && i < names.n; i++) {
		if (fstatat(ufd, names.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			continue;
		rc = mc_remove_tree(hfd, names.v[i], depth + 1);
	}
	if (rc < 0)
		mc_fail_host(c, rc);
}

static bool mc_opaque(int ufd)
{
	char v = 0;

	return fgetxattr(ufd, "user.overlay.opaque", &v, 1) == 1 && v == 'y';
}

static void mc_dir(struct mc *c, int ufd, int hfd, int depth)
{
	MC_NAMES names = {NULL, 0, 0};
	int rc = mc_list(ufd, &names);

	if (rc < 0) {
		mc_fail_upper(c, rc);
		return;
	}
	if (depth > 0 && mc_opaque(ufd))
		mc_prune(c, ufd, hfd, depth);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < names.n && c->code == BRIG_OK; i++)
			mc_entry(c, ufd, hfd, names.v[i], depth, pass == 1);
	}
}

int mount_commit(int upper_fd, int host_fd, const char *vpath, const struct mount_owner *owner,
		 struct mount_budget *budget, char *msg, size_t msglen)
{
	struct mc c = {
	    .budget = budget, .owner = owner, .code = BRIG_OK, .msg = msg, .msglen = msglen};
	MC_FD ufd = openat(upper_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	MC_FD hfd = openat(host_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	snprintf(c.path, sizeof(c.path), "%.1000s", vpath);
	c.plen = c.root_len = strlen(c.path);
	if (ufd < 0 || hfd < 0) {
		mc_fail(&c, BRIG_E_IO, "cannot commit %.300s: %s", vpath, strerror(errno));
		return c.code;
	}
	c.root_fd = hfd;
	mc_dir(&c, ufd, hfd, 0);
	if (c.code == BRIG_OK && c.nrefused) {
		c.code = BRIG_E_DENIED;
		snprintf(msg, msglen,
			 "not committed to the host (an rwc mount carries files, directories and "
			 "links inside it, nothing else): %s%s",
			 c.refused, c.nrefused > MC_NAMED ? ", ..." : "");
	}
	return c.code;
}
