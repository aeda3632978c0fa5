/*
 * The jail's root filesystem, built inside the child's private mount
 * namespace: a small tmpfs holding read-only binds of the host's system
 * directories, generated /etc files, a minimal /dev, a fresh /proc (covered
 * by procfs.c), and size-limited tmpfs for /tmp and the home
 * directory.  Runs in the cloned child: no allocation, raw syscalls only.
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
	JAIL_TRY(seal_readonly(dst, b->kind == JAIL_BIND_RO), b->dst);
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
	return mount_tmpfs("/dev/shm", plan->tmpfs_opts, what);
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

		if (b->kind == JAIL_BIND_SYMLINK)
			continue;
		JAIL_TRY(fds[i] = open(b->src, O_PATH | O_CLOEXEC | (b->is_dir ? O_DIRECTORY : 0)),
			 b->dst);
	}
	return 0;
}

int jail_build_root(const struct jail_plan *plan, const int *fds, const char **what)
{
	int rc;

	JAIL_TRY(sethostname("brig", 4), "sethostname");
	JAIL_TRY(mount("brig-root", NEWROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755"),
		 "mount root tmpfs");
	if ((rc = mount_tmpfs("/tmp", plan->tmpfs_opts, what)) < 0)
		return rc;
	if ((rc = mount_tmpfs(JAIL_HOME, plan->home_opts, what)) < 0)
		return rc;
	if (plan->session && (rc = mount_tmpfs("/run/brig", plan->run_opts, what)) < 0)
		return rc;
	for (size_t i = 0; i < plan->nbinds; i++) {
		if ((rc = do_bind(&plan->binds[i], fds[i], what)) < 0)
			return rc;
	}
	if ((rc = write_files(plan, what)) < 0 || (rc = build_dev(plan, what)) < 0 ||
	    (rc = build_proc(plan, what)) < 0)
		return rc;
	return pivot(what);
}
