/*
 * The jail's root filesystem, built inside the child's private mount
 * namespace: a small tmpfs holding read-only binds of the host's system
 * directories, generated /etc files, a minimal /dev, a fresh /proc (covered
 * by procfs.c), and one size-limited tmpfs whose directories are /tmp, the
 * home directory and /dev/shm.  Runs in the cloned child: no allocation, raw
 * syscalls only.
 */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Where the new root is assembled: hidden host /tmp in our own mount ns. */
#define NEWROOT "/tmp"
#define PATH_BUF 512

#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* The kernel's struct mount_attr, named apart to avoid header clashes. */
struct jail_mount_attr {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

/* dst = NEWROOT + path, truncating never silently. */
static int in_root(char *dst, const char *path)
{
	size_t a = strlen(NEWROOT), b = strlen(path);

	if (a + b + 1 > PATH_BUF) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dst, NEWROOT, a);
	memcpy(dst + a, path, b + 1);
	return 0;
}

/* mkdir -p for an absolute path; existing directories are fine. */
static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_BUF];
	size_t n = strlen(path);

	if (n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int make_parent(const char *path)
{
	char parent[PATH_BUF];
	char *slash;

	memcpy(parent, path, strlen(path) + 1);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return 0;
	*slash = '\0';
	return mkdir_p(parent, 0755);
}

/* Create the mount point for a bind: a directory, or an empty file. */
static int make_mountpoint(const char *path, bool is_dir)
{
	int fd;

	if (is_dir)
		return mkdir_p(path, 0755);
	if (make_parent(path) < 0)
		return -1;
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	if (fd < 0 && errno != EEXIST)
		return -1;
	if (fd >= 0)
		close(fd);
	return 0;
}

static void fd_path(char *dst, int fd)
{
	char digits[16];
	int n = 0;

	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) > 0);
	memcpy(dst, "/proc/self/fd/", 14);
	for (int i = 0; i < n; i++)
		dst[14 + i] = digits[n - 1 - i];
	dst[14 + n] = '\0';
}

/*
 * Make a bind mount (and everything below it) read-only, nosuid and nodev.
 * mount_setattr covers submounts; the classic remount is the fallback and
 * must repeat flags the kernel locked on the source.
 */
static int seal_readonly(const char *path, bool ro)
{
	struct jail_mount_attr attr = {0};
	struct statvfs sv;
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV;

	attr.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (ro ? MOUNT_ATTR_RDONLY : 0);
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
		return 0;
	if (statvfs(path, &sv) == 0) {
		if (sv.f_flag & ST_NOEXEC)
			flags |= MS_NOEXEC;
		if (sv.f_flag & ST_NOATIME)
			flags |= MS_NOATIME;
		if (sv.f_flag & ST_RELATIME)
			flags |= MS_RELATIME;
	}
	if (ro)
		flags |= MS_RDONLY;
	return mount(NULL, path, NULL, flags, NULL);
}

static int do_bind(const struct jail_bind *b, int fd, const char **what)
{
	char dst[PATH_BUF], from[64];

	JAIL_TRY(in_root(dst, b->dst), b->dst);
	if (b->kind == JAIL_BIND_SYMLINK) {
		JAIL_TRY(make_parent(dst), b->dst);
		JAIL_TRY(symlink(b->src, dst), b->dst);
		return 0;
	}
	fd_path(from, fd);
	JAIL_TRY(make_mountpoint(dst, b->is_dir), b->dst);
	JAIL_TRY(mount(from, dst, NULL, MS_BIND | MS_REC, NULL), b->dst);
	JAIL_TRY(seal_readonly(dst, true), b->dst);
	return 0;
}

static int write_files(const struct jail_plan *plan, const char **what)
{
	char path[PATH_BUF];

	for (size_t i = 0; i < plan->nfiles; i++) {
		const struct jail_file *f = &plan->files[i];
		size_t len = strlen(f->content);
		int fd;

		JAIL_TRY(in_root(path, f->path), f->path);
		JAIL_TRY(make_mountpoint(path, false), f->path);
		JAIL_TRY(fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC), f->path);
		if (write(fd, f->content, len) != (ssize_t)len) {
			close(fd);
			*what = f->path;
			return -EIO;
		}
		close(fd);
	}
	return 0;
}

/* A tmpfs whose size= (in opts) bounds the guest's disk use. */
static int mount_tmpfs(const char *path, const char *opts, const char **what)
{
	char dst[PATH_BUF];

	JAIL_TRY(in_root(dst, path), path);
	JAIL_TRY(mkdir_p(dst, 0755), path);
	JAIL_TRY(mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts), path);
	return 0;
}

/*
 * The scratch tmpfs: everything the guest may write (/tmp, the home dir,
 * /dev/shm) shares its size and inodes, so limits.tmp_bytes bounds the
 * total.  It is staged outside the guest's view while its directories are
 * bound into place, then detached, leaving only the binds.
 */
#define SCRATCH_STAGE "/.scratch"

static const struct {
	const char *name;
	mode_t mode;
} scratch_dirs[] = {{"tmp", 01777}, {"home", 0755}, {"shm", 01777}};

static int scratch_path(char *dst, const char *name)
{
	char rel[64];
	size_t a = strlen(SCRATCH_STAGE), b = strlen(name);

	if (a + b + 2 > sizeof(rel)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(rel, SCRATCH_STAGE, a);
	rel[a] = '/';
	memcpy(rel + a + 1, name, b + 1);
	return in_root(dst, rel);
}

/*
 * Huge pages where a file's size covers them (a file created at its full
 * size, as a session fork's copies are, gets them), which makes copying
 * megabytes several times faster; appended files and small ones keep small
 * pages, so size= counts as before.  Kernels without them refuse the
 * option: then the tmpfs goes without.
 */
static int mount_scratch(const char *dst, const char *opts)
{
	static const char huge[] = ",huge=within_size";
	char with[sizeof(((struct jail_plan *)0)->scratch_opts) + sizeof(huge)];
	size_t n = strlen(opts);

	memcpy(with, opts, n);
	memcpy(with + n, huge, sizeof(huge));
	if (mount("brig-scratch", dst, "tmpfs", MS_NOSUID | MS_NODEV, with) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	return mount("brig-scratch", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts);
}

static int scratch_stage(const struct jail_plan *plan, const char **what)
{
	char dst[PATH_BUF];

	JAIL_TRY(in_root(dst, SCRATCH_STAGE), "scratch staging");
	JAIL_TRY(mkdir_p(dst, 0700), "scratch staging");
	JAIL_TRY(mount_scratch(dst, plan->scratch_opts), "scratch tmpfs");
	for (size_t i = 0; i < sizeof(scratch_dirs) / sizeof(scratch_dirs[0]); i++) {
		JAIL_TRY(scratch_path(dst, scratch_dirs[i].name), scratch_dirs[i].name);
		/* chmod, because mkdir's mode passes through the umask. */
		JAIL_TRY(mkdir(dst, 0700), scratch_dirs[i].name);
		JAIL_TRY(chmod(dst, scratch_dirs[i].mode), scratch_dirs[i].name);
	}
	return 0;
}

/* Bind the scratch directory name at path (a bind keeps nosuid, nodev). */
static int scratch_bind(const char *name, const char *path, const char **what)
{
	char src[PATH_BUF], dst[PATH_BUF];

	JAIL_TRY(scratch_path(src, name), path);
	JAIL_TRY(in_root(dst, path), path);
	JAIL_TRY(mkdir_p(dst, 0755), path);
	JAIL_TRY(mount(src, dst, NULL, MS_BIND, NULL), path);
	return 0;
}

/* A session's host copies files through the tmpfs's root (rwc->scratch_fd). */
static int scratch_unstage(const struct jail_plan *plan, struct jail_rwc_fds *rwc,
			   const char **what)
{
	char dst[PATH_BUF];

	JAIL_TRY(in_root(dst, SCRATCH_STAGE), "scratch staging");
	if (plan->session)
		JAIL_TRY(rwc->scratch_fd = open(dst, O_PATH | O_DIRECTORY | O_CLOEXEC),
			 "scratch root");
	JAIL_TRY(umount2(dst, MNT_DETACH), "detach the scratch tmpfs");
	JAIL_TRY(rmdir(dst), "scratch staging");
	return 0;
}

static int build_dev(const struct jail_plan *plan, const char **what)
{
	static const char *const nodes[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random",
					    "/dev/urandom"};
	static const char *const links[][2] = {
	    {"/proc/self/fd", "/dev/fd"},
	    {"/proc/self/fd/0", "/dev/stdin"},
	    {"/proc/self/fd/1", "/dev/stdout"},
	    {"/proc/self/fd/2", "/dev/stderr"},
	};
	char dst[PATH_BUF];
	int rc;

	if ((rc = mount_tmpfs("/dev", "size=64k,mode=755", what)) < 0)
		return rc;
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		const char *src = nodes[i];

		JAIL_TRY(in_root(dst, src), src);
		JAIL_TRY(make_mountpoint(dst, false), src);
		JAIL_TRY(mount(src, dst, NULL, MS_BIND, NULL), src);
		JAIL_TRY(mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC, NULL),
			 src);
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		JAIL_TRY(in_root(dst, links[i][1]), links[i][1]);
		JAIL_TRY(symlink(links[i][0], dst), links[i][1]);
	}
	return scratch_bind("shm", "/dev/shm", what);
}

/*
 * A fresh procfs for the jail's pid namespace.  procfs.c covers what it shows
 * of the host; /proc/sys stays visible (glibc and runtimes read it) but
 * read-only.
 */
static int build_proc(const struct jail_plan *plan, const char **what)
{
	char dst[PATH_BUF], sys[PATH_BUF], devnull[PATH_BUF], scratch[PATH_BUF];
	int rc;

	JAIL_TRY(in_root(dst, "/proc"), "/proc");
	JAIL_TRY(in_root(sys, "/proc/sys"), "/proc/sys");
	JAIL_TRY(in_root(devnull, "/dev/null"), "/dev/null");
	JAIL_TRY(in_root(scratch, "/.proc"), "/.proc");
	JAIL_TRY(mkdir_p(dst, 0555), "/proc");
	JAIL_TRY(mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount /proc");
	if ((rc = jail_cover_proc(plan, dst, devnull, scratch, what)) < 0)
		return rc;
	JAIL_TRY(mount(sys, sys, NULL, MS_BIND | MS_REC, NULL), "/proc/sys");
	JAIL_TRY(seal_readonly(sys, true), "/proc/sys");
	return 0;
}

static int pivot(const char **what)
{
	JAIL_TRY(chdir(NEWROOT), "chdir new root");
	/* Stack the old root under the new one, then detach it. */
	JAIL_TRY(syscall(SYS_pivot_root, ".", "."), "pivot_root");
	JAIL_TRY(umount2(".", MNT_DETACH), "detach old root");
	JAIL_TRY(chdir("/"), "chdir /");
	JAIL_TRY(
	    mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL),
	    "remount / read-only");
	JAIL_TRY(mount(NULL, "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
		       NULL),
		 "remount /dev read-only");
	return 0;
}

int jail_open_sources(const struct jail_plan *plan, int *fds, const char **what)
{
	for (size_t i = 0; i < plan->nbinds; i++)
		fds[i] = -1;
	for (size_t i = 0; i < plan->nbinds; i++) {
		const struct jail_bind *b = &plan->binds[i];

		if (b->kind == JAIL_BIND_SYMLINK || b->kind == JAIL_BIND_OUTPUTS)
			continue;
		JAIL_TRY(fds[i] = open(b->src, O_PATH | O_CLOEXEC | (b->is_dir ? O_DIRECTORY : 0)),
			 b->dst);
	}
	return 0;
}

/* ------------------------------------------------------------ rwc mounts */

/*
 * An rwc mount is an overlay: the host directory is the lower layer, which
 * the overlay never writes, and every change the guest makes lands in the
 * upper layer, on one private tmpfs that all the plan's rwc mounts share and
 * whose size and inode count bound what a run can add.  That tmpfs is
 * mounted where no guest mount can be (fs_vpath_valid reserves /proc, and
 * procfs is mounted there only later) and detached once the overlays hold
 * it, so the guest never reaches the upper layer itself.  The host gets an
 * fd of each upper directory, to commit from once no guest code can race it.
 *
 * With redirect_dir and metacopy off, renaming a directory that came from
 * the host gives EXDEV (tools fall back to copying) and every changed file
 * is whole in the upper layer.  userxattr makes the overlay mountable in a
 * user namespace (Linux 6.6+ for user xattrs on tmpfs).
 */
#define RWC_STAGE "/proc"

/* dst = dir + "/" + kind + idx */
static void rwc_layer_path(char *dst, const char *dir, char kind, int idx)
{
	size_t n = strlen(dir);

	memcpy(dst, dir, n);
	dst[n++] = '/';
	dst[n++] = kind;
	if (idx >= 10)
		dst[n++] = (char)('0' + idx / 10);
	dst[n++] = (char)('0' + idx % 10);
	dst[n] = '\0';
}

static int rwc_stage(const struct jail_plan *plan, const char **what)
{
	char stage[PATH_BUF];

	JAIL_TRY(in_root(stage, RWC_STAGE), "rwc staging");
	JAIL_TRY(mkdir_p(stage, 0555), "rwc staging");
	JAIL_TRY(mount("brig-rwc", stage, "tmpfs", MS_NOSUID | MS_NODEV, plan->rwc_opts),
		 "tmpfs for rwc mounts");
	return 0;
}

static int rwc_unstage(const char **what)
{
	char stage[PATH_BUF];

	JAIL_TRY(in_root(stage, RWC_STAGE), "rwc staging");
	JAIL_TRY(umount2(stage, MNT_DETACH), "detach the rwc tmpfs");
	return 0;
}

/* Configure and create the overlay; returns its detached mount's fd. */
static int rwc_overlay_fd(int lower_fd, const char *upper, const char *work)
{
	static const char *const opts[][2] = {
	    {"redirect_dir", "nofollow"}, {"metacopy", "off"}, {"index", "off"}, {"xino", "off"}};
	char lower[64];
	int fs, mfd = -1;

	fd_path(lower, lower_fd);
	if ((fs = fsopen("overlay", FSOPEN_CLOEXEC)) < 0)
		return -1;
	if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", lower, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
		goto out;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (fsconfig(fs, FSCONFIG_SET_STRING, opts[i][0], opts[i][1], 0) < 0)
			goto out;
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto out;
	mfd = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
out:
	close(fs);
	return mfd;
}

/* Mount one rwc overlay at b->dst; hand its upper dir and root to rwc. */
static int mount_rwc(const struct jail_bind *b, int lower_fd, struct jail_rwc_fds *rwc,
		     const char **what)
{
	char stage[PATH_BUF], upper[PATH_BUF], work[PATH_BUF], dst[PATH_BUF];
	int idx = rwc->n / 2, mfd, ufd;

	if (idx >= JAIL_MAX_RWC) {
		*what = b->dst;
		return -EMFILE;
	}
	JAIL_TRY(in_root(stage, RWC_STAGE), b->dst);
	JAIL_TRY(in_root(dst, b->dst), b->dst);
	rwc_layer_path(upper, stage, 'u', idx);
	rwc_layer_path(work, stage, 'w', idx);
	JAIL_TRY(mkdir(upper, 0755), b->dst);
	JAIL_TRY(mkdir(work, 0700), b->dst);
	JAIL_TRY(make_mountpoint(dst, true), b->dst);
	JAIL_TRY(ufd = open(upper, O_PATH | O_DIRECTORY | O_CLOEXEC), b->dst);
	rwc->fds[rwc->n++] = ufd;
	JAIL_TRY(mfd = rwc_overlay_fd(lower_fd, upper, work),
		 "overlayfs for an rwc mount (needs Linux 6.6 or later)");
	rwc->fds[rwc->n++] = mfd;
	JAIL_TRY(move_mount(mfd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH), b->dst);
	return 0;
}

/*
 * The outputs directory: a tmpfs of its own, whose size and inode count
 * bound what a run can hand back, and whose root the host reads once the
 * jail is gone (an fd keeps the tmpfs alive).  A mount point, it can be
 * neither removed nor renamed by the guest.
 */
static int mount_outputs(const struct jail_bind *b, struct jail_rwc_fds *rwc, const char **what)
{
	char dst[PATH_BUF];
	int fd;

	if (rwc->n >= JAIL_MAX_HANDED) {
		*what = b->dst;
		return -EMFILE;
	}
	JAIL_TRY(in_root(dst, b->dst), b->dst);
	JAIL_TRY(mkdir_p(dst, 0755), b->dst);
	JAIL_TRY(mount("brig-outputs", dst, "tmpfs", MS_NOSUID | MS_NODEV, b->src), b->dst);
	JAIL_TRY(fd = open(dst, O_PATH | O_DIRECTORY | O_CLOEXEC), b->dst);
	rwc->fds[rwc->n++] = fd;
	return 0;
}

static int build_binds(const struct jail_plan *plan, const int *fds, struct jail_rwc_fds *rwc,
		       const char **what)
{
	bool staged = false;
	int rc;

	for (size_t i = 0; i < plan->nbinds; i++) {
		const struct jail_bind *b = &plan->binds[i];

		if (b->kind == JAIL_BIND_OUTPUTS) {
			rc = mount_outputs(b, rwc, what);
		} else if (b->kind != JAIL_BIND_OVERLAY) {
			rc = do_bind(b, fds[i], what);
		} else {
			if (!staged && (rc = rwc_stage(plan, what)) < 0)
				return rc;
			staged = true;
			rc = mount_rwc(b, fds[i], rwc, what);
		}
		if (rc < 0)
			return rc;
	}
	return staged ? rwc_unstage(what) : 0;
}

int jail_build_root(const struct jail_plan *plan, const int *fds, struct jail_rwc_fds *rwc,
		    const char **what)
{
	int rc;

	JAIL_TRY(sethostname("brig", 4), "sethostname");
	JAIL_TRY(mount("brig-root", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755"),
		 "mount root tmpfs");
	if ((rc = scratch_stage(plan, what)) < 0 || (rc = scratch_bind("tmp", "/tmp", what)) < 0 ||
	    (rc = scratch_bind("home", JAIL_HOME, what)) < 0)
		return rc;
	if (plan->session && (rc = mount_tmpfs("/run/brig", plan->run_opts, what)) < 0)
		return rc;
	if ((rc = build_binds(plan, fds, rwc, what)) < 0)
		return rc;
	if ((rc = write_files(plan, what)) < 0 || (rc = build_dev(plan, what)) < 0 ||
	    (rc = scratch_unstage(plan, rwc, what)) < 0 || (rc = build_proc(plan, what)) < 0)
		return rc;
	return pivot(what);
}
