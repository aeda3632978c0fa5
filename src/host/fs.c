/* The fs.* host functions; fs.h states the guest-visible rules. */
#include "util/errfmt.h"
#include "util/fdio.h"
#include "fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FS_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
/* openat2 gives EAGAIN when a concurrent rename makes ".." unverifiable. */
#define FS_EAGAIN_RETRIES 16
/* Keeps limit + 1 and doubling free of overflow. */
#define FS_MAX_LIMIT (SIZE_MAX >> 2)
/* Approximate JSON bytes of one listdir entry besides its name. */
#define FS_LIST_ENTRY_COST 48

struct fs_mount {
	char *vpath;
	size_t vlen;
	int dirfd; /* O_PATH | O_DIRECTORY */
	dev_t dev;
	brig_mount_mode mode;
	bool switch_ids; /* fs_table_set_view: act as uid/gid */
	uid_t uid;
	gid_t gid;
};

struct fs_table {
	struct fs_mount *mounts;
	size_t n;
	size_t max_read;
	size_t max_write;
	bool force_walk;
};

/* One guest path, cleaned and bound to its mount. */
struct fs_target {
	const char *gpath; /* as the guest wrote it: the only path in messages */
	const struct fs_mount *m;
	char buf[PATH_MAX];
	char *rel; /* inside buf: the path beneath the mount, "" for its root */
	bool want_dir;
};

typedef int (*fs_op_fn)(const struct fs_table *t, struct fs_target *tg, const uint8_t *blob,
			size_t len, struct hc_reply *rep);

struct fs_op {
	const char *name;
	brig_mount_mode need;
	fs_op_fn fn;
};

static void fs_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

#define AUTO_FD __attribute__((cleanup(fs_close))) int

/* ------------------------------------------------------------ vpaths */

/* The jail mounts these read-only; a vpath must not touch them. */
static const char *const fs_system_dirs[] = {
    "/proc",  "/dev",	"/sys",	   "/usr", "/bin",	"/sbin",     "/lib",
    "/lib32", "/lib64", "/libx32", "/etc", "/run/brig", "/opt/brig",
};

/* The guest's own writable trees: mounts may live below, not on them. */
static const char *const fs_jail_dirs[] = {"/tmp", "/home/user"};

#define FS_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* p is dir or lies below it, by whole components. */
bool fs_within(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

bool fs_vpath_normalised(const char *v)
{
	for (const char *p = v; *p;) {
		size_t len = strcspn(++p, "/");

		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += len;
	}
	return true;
}

static bool fs_vpath_reserved(const char *v)
{
	for (size_t i = 0; i < FS_NELEM(fs_system_dirs); i++)
		if (fs_within(v, fs_system_dirs[i]) || fs_within(fs_system_dirs[i], v))
			return true;
	for (size_t i = 0; i < FS_NELEM(fs_jail_dirs); i++)
		if (fs_within(fs_jail_dirs[i], v))
			return true;
	return false;
}

int fs_vpath_valid(const char *vpath, char *err, size_t errlen)
{
	if (!vpath || vpath[0] != '/')
		return errfmt(err, errlen, BRIG_E_INVAL, "mount path must be absolute: %.200s",
			      vpath ? vpath : "(null)");
	if (strlen(vpath) >= PATH_MAX)
		return errfmt(err, errlen, BRIG_E_INVAL, "mount path too long");
	if (strcmp(vpath, "/") == 0)
		return errfmt(err, errlen, BRIG_E_INVAL, "cannot mount over /");
	if (!fs_vpath_normalised(vpath))
		return errfmt(err, errlen, BRIG_E_INVAL,
			      "mount path must be normalised (no //, ., .. or trailing /): %.200s",
			      vpath);
	if (fs_vpath_reserved(vpath))
		return errfmt(err, errlen, BRIG_E_INVAL,
			      "mount path collides with a sandbox directory: %.200s", vpath);
	return 0;
}

/* ------------------------------------------------------------ table */

static size_t fs_limit(size_t v)
{
	if (v == 0)
		return FS_DEFAULT_MAX_BYTES;
	return v > FS_MAX_LIMIT ? FS_MAX_LIMIT : v;
}

static int fs_open_errno_code(int e)
{
	switch (e) {
	case ENOENT:
		return BRIG_E_NOTFOUND;
	case EACCES:
	case EPERM:
		return BRIG_E_DENIED;
	case ENOMEM:
		return BRIG_E_NOMEM;
	case ENOTDIR:
	case ELOOP:
	case ENAMETOOLONG:
		return BRIG_E_INVAL;
	default:
		return BRIG_E_INTERNAL;
	}
}

static int fs_mount_open(struct fs_mount *m, const struct fs_mount_spec *s, char *err,
			 size_t errlen)
{
	struct stat st;
	int rc = fs_vpath_valid(s->vpath, err, errlen);

	if (rc)
		return rc;
	if ((unsigned)s->mode > BRIG_MOUNT_RWC)
		return errfmt(err, errlen, BRIG_E_INVAL, "bad mount mode %d for %s", (int)s->mode,
			      s->vpath);
	if (!s->host_path || !*s->host_path)
		return errfmt(err, errlen, BRIG_E_INVAL, "no host directory for %s", s->vpath);
	m->dirfd = open(s->host_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0 || fstat(m->dirfd, &st) < 0) {
		int e = errno;
		char buf[128];

		return errfmt(err, errlen, fs_open_errno_code(e), "mount %s: %s: %s", s->vpath,
			      s->host_path, strerror_r(e, buf, sizeof(buf)));
	}
	m->vpath = strdup(s->vpath);
	if (!m->vpath)
		return errfmt(err, errlen, BRIG_E_NOMEM, "out of memory");
	m->vlen = strlen(m->vpath);
	m->dev = st.st_dev;
	m->mode = s->mode;
	return 0;
}

void fs_table_free(struct fs_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		if (t->mounts[i].dirfd >= 0)
			close(t->mounts[i].dirfd);
		free(t->mounts[i].vpath);
	}
	free(t->mounts);
	free(t);
}

static void fs_table_freep(struct fs_table **t)
{
	fs_table_free(*t);
}

static bool fs_vpath_taken(const struct fs_table *t, const char *vpath)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->mounts[i].vpath, vpath) == 0)
			return true;
	return false;
}

int fs_table_new(const struct fs_mount_spec *specs, size_t n, const brig_fs_limits *lim,
		 struct fs_table **out, char *err, size_t errlen)
{
	__attribute__((cleanup(fs_table_freep))) struct fs_table *t = NULL;

	*out = NULL;
	if (n && !specs)
		return errfmt(err, errlen, BRIG_E_INVAL, "no mount specs");
	t = calloc(1, sizeof(*t));
	if (!t || !(t->mounts = calloc(n ? n : 1, sizeof(*t->mounts))))
		return errfmt(err, errlen, BRIG_E_NOMEM, "out of memory");
	t->max_read = fs_limit(lim ? lim->max_read_bytes : 0);
	t->max_write = fs_limit(lim ? lim->max_write_bytes : 0);
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (specs[i].vpath && fs_vpath_taken(t, specs[i].vpath))
			return errfmt(err, errlen, BRIG_E_INVAL, "%s is mounted twice",
				      specs[i].vpath);
		t->mounts[t->n].dirfd = -1;
		rc = fs_mount_open(&t->mounts[t->n], &specs[i], err, errlen);
		t->n++; /* so that a half-opened mount is released too */
		if (rc)
			return rc;
	}
	*out = t;
	t = NULL;
	return 0;
}

void fs_table_force_walk(struct fs_table *t)
{
	t->force_walk = true;
}

int fs_table_set_view(struct fs_table *t, const char *vpath, int dirfd, bool switch_ids, uid_t uid,
		      gid_t gid)
{
	struct fs_mount *m = NULL;
	struct stat st;
	int fd;

	for (size_t i = 0; t && i < t->n; i++)
		if (strcmp(t->mounts[i].vpath, vpath) == 0)
			m = &t->mounts[i];
	if (!m)
		return -ENOENT;
	if (fstat(dirfd, &st) < 0 || (fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3)) < 0)
		return -errno;
	close(m->dirfd);
	m->dirfd = fd;
	m->dev = st.st_dev;
	m->switch_ids = switch_ids;
	m->uid = uid;
	m->gid = gid;
	return 0;
}

/* ------------------------------------------------------------ identity */

/* setfsuid/setfsgid change the calling thread only (glibc does not
 * broadcast them); -1 asks for the current value. */
static void fs_set_ids(uid_t uid, gid_t gid)
{
	syscall(SYS_setfsgid, gid);
	syscall(SYS_setfsuid, uid);
}

static int fs_enter_ids(const struct fs_mount *m, uid_t *ouid, gid_t *ogid)
{
	if (!m->switch_ids)
		return 0;
	*ouid = (uid_t)syscall(SYS_setfsuid, -1);
	*ogid = (gid_t)syscall(SYS_setfsgid, -1);
	fs_set_ids(m->uid, m->gid);
	if ((uid_t)syscall(SYS_setfsuid, -1) == m->uid &&
	    (gid_t)syscall(SYS_setfsgid, -1) == m->gid)
		return 0;
	fs_set_ids(*ouid, *ogid);
	return -EPERM;
}

static void fs_leave_ids(const struct fs_mount *m, uid_t uid, gid_t gid)
{
	if (m->switch_ids)
		fs_set_ids(uid, gid);
}

/* ------------------------------------------------------------ errors */

static int fs_fail(struct hc_reply *rep, int err, const struct fs_target *tg)
{
	const char *type = "OSError";
	char buf[128];

	if (err < 0)
		err = -err;
	switch (err) {
	case EXDEV:
	case ELOOP:
		return hc_fail(rep, "PermissionError",
			       "path leaves its mount or crosses a forbidden link: '%.400s'",
			       tg->gpath);
	case EACCES:
	case EPERM:
		type = "PermissionError";
		break;
	case EOVERFLOW:
		/* An rwc overlay cannot copy up what belongs to a user the
		 * sandbox's user namespace does not map. */
		return hc_fail(rep, "PermissionError",
			       "owned by a user the sandbox cannot act as: '%.400s'", tg->gpath);
	case ENOENT:
		type = "FileNotFoundError";
		break;
	case EISDIR:
		type = "IsADirectoryError";
		break;
	case ENOTDIR:
		type = "NotADirectoryError";
		break;
	case EEXIST:
		type = "FileExistsError";
		break;
	}
	return hc_fail(rep, type, "%s: '%.400s'", strerror_r(err, buf, sizeof(buf)), tg->gpath);
}

/* Never a silent truncation: over a limit is an error naming it. */
static int fs_fail_limit(struct hc_reply *rep, const char *limit_name, size_t limit,
			 const struct fs_target *tg)
{
	return hc_fail(rep, "OSError", "file larger than %s (%zu bytes): '%.300s'", limit_name,
		       limit, tg->gpath);
}

/* ------------------------------------------------------------ paths */

/* Drops empty and "." components; ".." is kept for the kernel to judge. */
static void fs_clean(const char *gpath, char *out)
{
	size_t o = 0;

	for (const char *p = gpath; *p;) {
		size_t len = strcspn(p, "/");

		if (len > 1 || (len == 1 && *p != '.')) {
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p += len;
		p += *p == '/';
	}
	out[o] = '\0';
}

static const struct fs_mount *fs_match(const struct fs_table *t, const char *norm)
{
	const struct fs_mount *best = NULL;

	for (size_t i = 0; t && i < t->n; i++) {
		const struct fs_mount *m = &t->mounts[i];

		if (fs_within(norm, m->vpath) && (!best || m->vlen > best->vlen))
			best = m;
	}
	return best;
}

static int fs_target_init(const struct fs_table *t, const char *gpath, struct fs_target *tg,
			  struct hc_reply *rep)
{
	const char *lastc;

	tg->gpath = gpath;
	if (gpath[0] != '/')
		return hc_fail(rep, "ValueError", "path must be absolute: '%.400s'", gpath);
	if (strlen(gpath) >= sizeof(tg->buf))
		return fs_fail(rep, ENAMETOOLONG, tg);
	lastc = strrchr(gpath, '/') + 1;
	tg->want_dir = *lastc == '\0' || strcmp(lastc, ".") == 0;
	fs_clean(gpath, tg->buf);
	tg->m = fs_match(t, tg->buf);
	if (!tg->m)
		return hc_fail(rep, "PermissionError", "path not mounted: '%.400s'", gpath);
	tg->rel = tg->buf + tg->m->vlen;
	tg->rel += *tg->rel == '/';
	return 0;
}

/* The guest's "path" argument: a string without NUL bytes. */
static const char *fs_arg_path(json_t *args, struct hc_reply *rep)
{
	json_t *p = json_is_object(args) ? json_object_get(args, "path") : NULL;

	if (!json_is_string(p)) {
		hc_fail(rep, "ValueError", "path must be a string");
		return NULL;
	}
	if (strlen(json_string_value(p)) != json_string_length(p)) {
		hc_fail(rep, "ValueError", "path contains a NUL byte");
		return NULL;
	}
	return json_string_value(p);
}

/* ------------------------------------------------------------ resolving */

static int fs_openat2(int dirfd, const char *rel, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = FS_RESOLVE,
	};

	for (int i = 0; i < FS_EAGAIN_RETRIES; i++) {
		long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN)
			return -errno;
	}
	return -EAGAIN;
}

/* Holds the directories walked so far; ".." pops instead of asking the kernel. */
struct fs_walk {
	int *fds; /* fds[0] is the mount's own fd and is not closed */
	size_t depth;
};

static void fs_walk_release(struct fs_walk *w)
{
	for (size_t i = 1; i <= w->depth; i++)
		close(w->fds[i]);
	free(w->fds);
}

/* Refuses what RESOLVE_NO_SYMLINKS and RESOLVE_NO_XDEV would. */
static int fs_walk_check(int fd, dev_t dev, bool need_dir)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (st.st_dev != dev)
		return -EXDEV;
	if (need_dir && !S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

static int fs_walk_check_open(int fd, dev_t dev, bool need_dir)
{
	int rc;

	if (fd < 0)
		return -errno;
	rc = fs_walk_check(fd, dev, need_dir);
	if (rc) {
		close(fd);
		return rc;
	}
	return fd;
}

static int fs_walk_step(struct fs_walk *w, const char *name, dev_t dev)
{
	int fd;

	if (strcmp(name, "..") == 0) {
		if (w->depth == 0)
			return -EXDEV;
		close(w->fds[w->depth--]);
		return 0;
	}
	fd = fs_walk_check_open(openat(w->fds[w->depth], name, O_PATH | O_NOFOLLOW | O_CLOEXEC),
				dev, true);
	if (fd < 0)
		return fd;
	w->fds[++w->depth] = fd;
	return 0;
}

/* Walks every directory before the last component; returns that component. */
static int fs_walk_dirs(struct fs_walk *w, char *path, dev_t dev, char **last)
{
	char *save = NULL, *slash = strrchr(path, '/');

	*last = path;
	if (!slash)
		return 0;
	*slash = '\0';
	*last = slash + 1;
	for (char *name = strtok_r(path, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
		int rc = fs_walk_step(w, name, dev);

		if (rc)
			return rc;
	}
	return 0;
}

/*
 * The fallback resolver: no symlink is followed anywhere, and a change of
 * st_dev stands in for RESOLVE_NO_XDEV.
 */
static int fs_walk(const struct fs_mount *m, const char *rel, int flags)
{
	char path[PATH_MAX], *last;
	size_t cap = 2;
	int rc;
	__attribute__((cleanup(fs_walk_release))) struct fs_walk w = {NULL, 0};

	snprintf(path, sizeof(path), "%s", rel);
	for (const char *p = path; *p; p++)
		cap += *p == '/';
	w.fds = calloc(cap, sizeof(*w.fds));
	if (!w.fds)
		return -ENOMEM;
	w.fds[0] = m->dirfd;
	rc = fs_walk_dirs(&w, path, m->dev, &last);
	if (rc)
		return rc;
	if (flags & O_DIRECTORY) {
		/* Step in like any other directory, then open it in place. */
		rc = strcmp(last, ".") == 0 ? 0 : fs_walk_step(&w, last, m->dev);
		if (rc)
			return rc;
		last = ".";
	} else if (strcmp(last, "..") == 0) {
		rc = fs_walk_step(&w, last, m->dev);
		if (rc)
			return rc;
		last = ".";
	}
	return fs_walk_check_open(openat(w.fds[w.depth], last, flags | O_NOFOLLOW | O_CLOEXEC),
				  m->dev, flags & O_DIRECTORY);
}

/* An fd for tg opened with flags, or -errno. */
static int fs_resolve(const struct fs_table *t, const struct fs_target *tg, int flags)
{
	const char *rel = *tg->rel ? tg->rel : ".";

	if (tg->want_dir)
		flags |= O_DIRECTORY;
	if (!t->force_walk) {
		int fd = fs_openat2(tg->m->dirfd, rel, flags);

		if (fd != -ENOSYS && fd != -EPERM)
			return fd;
	}
	return fs_walk(tg->m, rel, flags);
}

int fs_open_entry(int dirfd, const char *name, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = FS_RESOLVE | RESOLVE_NO_SYMLINKS,
	};
	struct stat st;
	long fd;

	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	for (int i = 0; i < FS_EAGAIN_RETRIES; i++) {
		fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN)
			break;
	}
	if (errno != ENOSYS && errno != EPERM)
		return -errno;
	if (fstat(dirfd, &st) < 0)
		return -errno;
	return fs_walk_check_open(openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC), st.st_dev,
				  flags & O_DIRECTORY);
}

int fs_open_beneath(int rootfd, const char *rel, int flags)
{
	struct fs_mount m = {.dirfd = rootfd};
	struct stat st;
	int fd = fs_openat2(rootfd, rel, flags);

	if (fd != -ENOSYS && fd != -EPERM)
		return fd;
	if (fstat(rootfd, &st) < 0)
		return -errno;
	m.dev = st.st_dev;
	return fs_walk(&m, rel, flags);
}

/*
 * For operations that change an entry: an O_PATH fd of its parent and its
 * name (one component).  The mount root and ".." are refused here.
 */
static int fs_open_parent(const struct fs_table *t, struct fs_target *tg, const char **name,
			  struct hc_reply *rep)
{
	char *slash = strrchr(tg->rel, '/');
	int fd;

	if (*tg->rel == '\0')
		return hc_fail(rep, "PermissionError", "cannot modify the mount root: '%.400s'",
			       tg->gpath);
	*name = slash ? slash + 1 : tg->rel;
	if (strcmp(*name, "..") == 0)
		return hc_fail(rep, "ValueError", "path must not end in '..': '%.400s'", tg->gpath);
	if (slash)
		*slash = '\0';
	else
		tg->rel = tg->rel + strlen(tg->rel); /* "" stands for the mount root */
	tg->want_dir = false;
	fd = fs_resolve(t, tg, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return fs_fail(rep, fd, tg);
	return fd;
}

/* ------------------------------------------------------------ read */

/* Reads to EOF; -EFBIG once more than max bytes arrive (the file grew). */
static int fs_read_all(int fd, size_t hint, size_t max, uint8_t **out, size_t *outlen)
{
	size_t cap = (hint < max ? hint : max) + 1, len = 0;
	uint8_t *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (len == cap) {
			uint8_t *nb;

			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

static int fs_op_read(const struct fs_table *t, struct fs_target *tg, const uint8_t *blob,
		      size_t len, struct hc_reply *rep)
{
	AUTO_FD fd = fs_resolve(t, tg, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	uint8_t *data = NULL;
	size_t n = 0;
	int rc;

	if (fd < 0)
		return fs_fail(rep, fd, tg);
	if (fstat(fd, &st) < 0)
		return fs_fail(rep, errno, tg);
	if (S_ISDIR(st.st_mode))
		return fs_fail(rep, EISDIR, tg);
	if (!S_ISREG(st.st_mode))
		return hc_fail(rep, "OSError", "not a regular file: '%.400s'", tg->gpath);
	if ((uint64_t)st.st_size > t->max_read)
		return fs_fail_limit(rep, "max_read_bytes", t->max_read, tg);
	rc = fs_read_all(fd, (size_t)st.st_size, t->max_read, &data, &n);
	if (rc == -EFBIG)
		return fs_fail_limit(rep, "max_read_bytes", t->max_read, tg);
	if (rc < 0)
		return fs_fail(rep, rc, tg);
	hc_ok(rep, NULL);
	rep->blob = data;
	rep->blob_len = n;
	return 0;
}

/* ------------------------------------------------------------ write */

/*
 * fs.write is atomic: the data goes to a temporary file in the target's
 * directory, which then replaces the target by rename.  A failure part way
 * (no space, a file size limit) leaves the old file as it was and no
 * temporary file behind.  The temporary file has no name while it is
 * written (O_TMPFILE), and a random one only for the instant between link
 * and rename; where a filesystem lacks O_TMPFILE it has the random name
 * throughout, and is removed on failure.
 *
 * In an rw mount, which may change files but never create them, the new
 * file takes the old one's place by RENAME_EXCHANGE, which fails when the
 * target has gone meanwhile; the old contents, now under the temporary
 * name, are then unlinked.  A replaced file keeps its permission bits (and,
 * where brig may set it, its owner); it is a new inode, so other hard links
 * keep the old contents.  Writing needs a directory brig may create files
 * in, rw mounts included.
 */
#define FS_TMP_TRIES 8

struct fs_tmp {
	int dfd;
	int fd;
	char name[40]; /* "" while the file has no name */
};

static void fs_tmp_name(char *buf, size_t len)
{
	uint8_t raw[12] = {0};
	char hex[sizeof(raw) * 2 + 1];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		struct timespec ts;

		/* Unpredictable enough for a name that O_EXCL guards anyway. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		memcpy(raw, &ts, sizeof(raw) < sizeof(ts) ? sizeof(raw) : sizeof(ts));
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	snprintf(buf, len, ".brig-%s.tmp", hex);
}

static int fs_tmp_open(struct fs_tmp *t, int dfd)
{
	t->dfd = dfd;
	t->name[0] = '\0';
	t->fd = openat(dfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (t->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		return -errno;
	for (int i = 0; i < FS_TMP_TRIES; i++) {
		fs_tmp_name(t->name, sizeof(t->name));
		t->fd = openat(dfd, t->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			       0644);
		if (t->fd >= 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	t->name[0] = '\0';
	return -errno;
}

/* Give an unnamed temporary file its random name, just before the rename. */
static int fs_tmp_link(struct fs_tmp *t)
{
	char proc[64];

	if (t->name[0])
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t->fd);
	for (int i = 0; i < FS_TMP_TRIES; i++) {
		fs_tmp_name(t->name, sizeof(t->name));
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc does not. */
		if (linkat(t->fd, "", t->dfd, t->name, AT_EMPTY_PATH) == 0 ||
		    linkat(AT_FDCWD, proc, t->dfd, t->name, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != EEXIST)
			break;
	}
	t->name[0] = '\0';
	return -errno;
}

static void fs_tmp_discard(struct fs_tmp *t)
{
	if (t->name[0])
		unlinkat(t->dfd, t->name, 0);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->name[0] = '\0';
}

/* The replaced file's permissions (never set-id bits) and owner. */
static int fs_keep_meta(int fd, const struct stat *old)
{
	if (fchmod(fd, old->st_mode & 0777) < 0)
		return -errno;
	/* Only a privileged brig can give the file another owner; else it is brig's. */
	(void)!fchown(fd, old->st_uid, old->st_gid);
	return 0;
}

/* Put the temporary file in name's place; exchange: name must still exist. */
static int fs_tmp_publish(struct fs_tmp *t, const char *name, bool exchange)
{
	if (exchange) {
		if (renameat2(t->dfd, t->name, t->dfd, name, RENAME_EXCHANGE) == 0) {
			/* The old contents now have the temporary name. */
			return 0;
		}
		if (errno != EINVAL && errno != ENOSYS)
			return -errno;
		/* No RENAME_EXCHANGE on this filesystem: the target was checked. */
	}
	if (renameat(t->dfd, t->name, t->dfd, name) < 0)
		return -errno;
	t->name[0] = '\0';
	return 0;
}

/* What stands at name: a regular file, nothing (rwc only), or an error. */
static int fs_write_target(const struct fs_target *tg, int dfd, const char *name, struct stat *st,
			   bool *exists, struct hc_reply *rep)
{
	*exists = fstatat(dfd, name, st, AT_SYMLINK_NOFOLLOW) == 0;
	if (!*exists && errno != ENOENT)
		return fs_fail(rep, errno, tg);
	if (!*exists && tg->m->mode < BRIG_MOUNT_RWC)
		return hc_fail(rep, "PermissionError",
			       "mount does not allow creating files (needs rwc): '%.400s'",
			       tg->gpath);
	if (!*exists)
		return 0;
	if (S_ISLNK(st->st_mode))
		return hc_fail(rep, "PermissionError",
			       "refusing to write through a symbolic link: '%.400s'", tg->gpath);
	if (S_ISDIR(st->st_mode))
		return fs_fail(rep, EISDIR, tg);
	if (!S_ISREG(st->st_mode))
		return hc_fail(rep, "OSError", "not a regular file: '%.400s'", tg->gpath);
	return 0;
}

static int fs_op_write(const struct fs_table *t, struct fs_target *tg, const uint8_t *blob,
		       size_t len, struct hc_reply *rep)
{
	struct fs_tmp tmp = {.fd = -1};
	const char *name;
	AUTO_FD dfd = -1;
	struct stat st;
	bool exists, exchange;
	int rc;

	if (len > t->max_write)
		return fs_fail_limit(rep, "max_write_bytes", t->max_write, tg);
	if (tg->want_dir && *tg->rel)
		return fs_fail(rep, EISDIR, tg);
	dfd = fs_open_parent(t, tg, &name, rep);
	if (dfd < 0)
		return -1;
	if (fs_write_target(tg, dfd, name, &st, &exists, rep))
		return -1;
	exchange = exists && tg->m->mode < BRIG_MOUNT_RWC;
	rc = fs_tmp_open(&tmp, dfd);
	if (rc == 0)
		rc = fd_write_all(tmp.fd, blob, len);
	if (rc == 0 && exists)
		rc = fs_keep_meta(tmp.fd, &st);
	if (rc == 0)
		rc = fs_tmp_link(&tmp);
	if (rc == 0)
		rc = fs_tmp_publish(&tmp, name, exchange);
	fs_tmp_discard(&tmp);
	if (rc == -ENOENT && exchange)
		return hc_fail(rep, "PermissionError",
			       "mount does not allow creating files (needs rwc): '%.400s'",
			       tg->gpath);
	if (rc < 0)
		return fs_fail(rep, rc, tg);
	return hc_ok(rep, NULL);
}

/* ------------------------------------------------------------ mkdir, remove */

static int fs_op_mkdir(const struct fs_table *t, struct fs_target *tg, const uint8_t *blob,
		       size_t len, struct hc_reply *rep)
{
	const char *name;
	AUTO_FD dfd = -1;

	if (*tg->rel == '\0')
		return fs_fail(rep, EEXIST, tg);
	dfd = fs_open_parent(t, tg, &name, rep);
	if (dfd < 0)
		return -1;
	if (mkdirat(dfd, name, 0755) < 0)
		return fs_fail(rep, errno, tg);
	return hc_ok(rep, NULL);
}

static int fs_op_remove(const struct fs_table *t, struct fs_target *tg, const uint8_t *blob,
			size_t len, struct hc_reply *rep)
{
	bool want_dir = tg->want_dir;
	const char *name;
	AUTO_FD dfd = -1;
	int rc = -1, err = EISDIR;

	dfd = fs_open_parent(t, tg, &name, rep);
	if (dfd < 0)
		return -1;
	if (!want_dir) {
		rc = unlinkat(dfd, name, 0);
		err = errno;
	}
	/* Linux says EISDIR when unlink meets a directory. */
	if (rc < 0 && err == EISDIR) {
		rc = unlinkat(dfd, name, AT_REMOVEDIR);
		err = errno;
	}
	if (rc == 0)
		return hc_ok(rep, NULL);
	if (err == ENOTEMPTY || err == EEXIST)
		return hc_fail(rep, "OSError", "Directory not empty: '%.400s'", tg->gpath);
	return fs_fail(rep, err, tg);
}

/* ------------------------------------------------------------ listdir */

struct fs_list {
	json_t **items;
	size_t n, cap;
	size_t bytes;
};

static void fs_list_release(struct fs_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->items[i]);
	free(l->items);
}

static void fs_dir_close(DIR **d)
{
	if (*d)
		closedir(*d);
}

static int fs_list_push(struct fs_list *l, json_t *item)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		json_t **ni = realloc(l->items, ncap * sizeof(*ni));

		if (!ni) {
			json_decref(item);
			return -ENOMEM;
		}
		l->items = ni;
		l->cap = ncap;
	}
	l->items[l->n++] = item;
	return 0;
}

static const char *fs_item_name(const json_t *item)
{
	return json_string_value(json_object_get(item, "name"));
}

static int fs_item_cmp(const void *a, const void *b)
{
	return strcmp(fs_item_name(*(json_t *const *)a), fs_item_name(*(json_t *const *)b));
}

/* Adds one entry; vanished entries and names that are not UTF-8 are left out. */
static int fs_list_add(struct fs_list *l, int dfd, const char *name, size_t max)
{
	struct stat st;
	json_t *item;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	l->bytes += strlen(name) + FS_LIST_ENTRY_COST;
	if (l->bytes > max)
		return -EFBIG;
	item = json_pack("{s:s, s:b, s:I}", "name", name, "is_dir", S_ISDIR(st.st_mode), "size",
			 (json_int_t)st.st_size);
	return item ? fs_list_push(l, item) : 0;
}

static int fs_list_read(DIR *d, struct fs_list *l, size_t max)
{
	struct dirent *de;

	for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
		int rc;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rc = fs_list_add(l, dirfd(d), de->d_name, max);
		if (rc)
			return rc;
	}
	return -errno;
}

static int fs_op_listdir(const struct fs_table *t, struct fs_target *tg, const uint8_t *blob,
			 size_t len, struct hc_reply *rep)
{
	__attribute__((cleanup(fs_list_release))) struct fs_list l = {NULL, 0, 0, 0};
	__attribute__((cleanup(fs_dir_close))) DIR *d = NULL;
	int fd = fs_resolve(t, tg, O_RDONLY | O_DIRECTORY | O_NONBLOCK);
	json_t *arr;
	int rc;

	if (fd < 0)
		return fs_fail(rep, fd, tg);
	d = fdopendir(fd);
	if (!d) {
		int e = errno;

		close(fd);
		return fs_fail(rep, e, tg);
	}
	rc = fs_list_read(d, &l, t->max_read);
	if (rc == -EFBIG)
		return hc_fail(rep, "OSError",
			       "directory listing over the limit of %zu bytes (max_read_bytes): "
			       "'%.300s'",
			       t->max_read, tg->gpath);
	if (rc < 0)
		return fs_fail(rep, rc, tg);
	if (l.n)
		qsort(l.items, l.n, sizeof(*l.items), fs_item_cmp);
	arr = json_array();
	if (!arr)
		return fs_fail(rep, ENOMEM, tg);
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(arr, l.items[i]);
	l.n = 0;
	return hc_ok(rep, arr);
}

/* ------------------------------------------------------------ stat, exists */

static const char *fs_basename(const struct fs_target *tg)
{
	const char *s = *tg->rel ? tg->rel : tg->m->vpath;
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

static int fs_op_stat(const struct fs_table *t, struct fs_target *tg, const uint8_t *blob,
		      size_t len, struct hc_reply *rep)
{
	AUTO_FD fd = fs_resolve(t, tg, O_PATH);
	struct stat st;
	json_t *v;

	if (fd < 0)
		return fs_fail(rep, fd, tg);
	if (fstat(fd, &st) < 0)
		return fs_fail(rep, errno, tg);
	v = json_pack("{s:s, s:I, s:b, s:I}", "name", fs_basename(tg), "size",
		      (json_int_t)st.st_size, "is_dir", S_ISDIR(st.st_mode), "mod_time",
		      (json_int_t)st.st_mtim.tv_sec);
	if (!v)
		return fs_fail(rep, ENOMEM, tg);
	return hc_ok(rep, v);
}

static void fs_exists(const struct fs_table *t, const char *gpath, struct hc_reply *rep)
{
	struct fs_target tg;
	struct hc_reply scratch;
	bool found = false;

	hc_reply_init(&scratch);
	if (fs_target_init(t, gpath, &tg, &scratch) == 0) {
		AUTO_FD fd = fs_resolve(t, &tg, O_PATH);

		found = fd >= 0;
	}
	hc_ok(rep, json_boolean(found));
}

/* ------------------------------------------------------------ dispatch */

static const struct fs_op fs_ops[] = {
    {"read", BRIG_MOUNT_RO, fs_op_read},       {"write", BRIG_MOUNT_RW, fs_op_write},
    {"listdir", BRIG_MOUNT_RO, fs_op_listdir}, {"exists", BRIG_MOUNT_RO, NULL},
    {"stat", BRIG_MOUNT_RO, fs_op_stat},       {"mkdir", BRIG_MOUNT_RWC, fs_op_mkdir},
    {"remove", BRIG_MOUNT_RW, fs_op_remove},
};

static const struct fs_op *fs_find_op(const char *name)
{
	for (size_t i = 0; name && i < FS_NELEM(fs_ops); i++)
		if (strcmp(fs_ops[i].name, name) == 0)
			return &fs_ops[i];
	return NULL;
}

static int fs_fail_mode(struct hc_reply *rep, const struct fs_target *tg)
{
	if (tg->m->mode == BRIG_MOUNT_RO)
		return hc_fail(rep, "PermissionError", "mount is read-only: '%.400s'", tg->gpath);
	return hc_fail(rep, "PermissionError",
		       "mount does not allow creating (needs rwc): '%.400s'", tg->gpath);
}

void fs_call(const struct fs_table *t, const char *op, json_t *args, const uint8_t *blob,
	     size_t blob_len, struct hc_reply *rep)
{
	const struct fs_op *o = fs_find_op(op);
	const char *gpath;
	struct fs_target tg;
	uid_t uid = 0;
	gid_t gid = 0;

	hc_reply_init(rep);
	if (!o) {
		hc_fail(rep, "ValueError", "unknown fs function: %.64s", op ? op : "(null)");
		return;
	}
	gpath = fs_arg_path(args, rep);
	if (!gpath)
		return;
	if (!o->fn) {
		fs_exists(t, gpath, rep);
		return;
	}
	if (fs_target_init(t, gpath, &tg, rep))
		return;
	if (tg.m->mode < o->need) {
		fs_fail_mode(rep, &tg);
		return;
	}
	if (fs_enter_ids(tg.m, &uid, &gid) < 0) {
		hc_fail(rep, "OSError", "cannot act as the sandbox's user: '%.400s'", gpath);
		return;
	}
	o->fn(t, &tg, blob, blob_len, rep);
	fs_leave_ids(tg.m, uid, gid);
}
