/*
 * The host-wide part of the guest's /proc.  A fresh procfs in the jail's pid
 * namespace lists only the jail's processes, but its other top-level entries
 * describe the whole machine: the kernel command line, and memory, CPU, load,
 * interrupt, disk and pressure counters that show what the host and other
 * sandboxes are doing.  Every top-level entry but those on a short list is
 * covered (a file by /dev/null, a directory by an empty read-only tmpfs), so
 * that entries a newer kernel adds are hidden too.  meminfo, stat and
 * loadavg, which libuv, glibc and procps read, and the boot id are replaced
 * by files that describe the sandbox instead.
 *
 * Runs in the cloned child: no allocation, raw syscalls only.
 */
#include "jail/jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PATH_LEN 512

/*
 * What stays visible: the jail's own state, and static descriptions of the
 * machine that runtimes read (node's os.cpus, ps, uptime) or that its CPU
 * and kernel version tell anyway.  Each cover is a mount that every start
 * pays for, so static descriptions are not covered (SECURITY.md lists them).
 */
/* clang-format off */
static const char *const kept[] = {
	"sys",		/* read-only (rootfs.c); its boot id is covered below */
	"sysvipc",	/* the jail's own ipc namespace */
	"locks",	/* only locks of processes in the jail's pid namespace */
	"cpuinfo", "uptime", "version", "filesystems", "crypto", "execdomains", "devices",
	"misc", "dma", "consoles", "mtrr", "tty", "bus",
	"iomem", "ioports",	/* addresses read as 0 but by the host's root */
};
/* clang-format on */

/* Output through a small buffer: the child may run on a small thread stack. */
struct text {
	int fd;
	int err;
	size_t len;
	char buf[256];
};

static void flush_text(struct text *t)
{
	size_t done = 0;

	while (done < t->len && !t->err) {
		ssize_t n = write(t->fd, t->buf + done, t->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			t->err = n < 0 ? errno : EIO;
		else
			done += (size_t)n;
	}
	t->len = 0;
}

static void put_char(struct text *t, char c)
{
	if (t->len == sizeof(t->buf))
		flush_text(t);
	t->buf[t->len++] = c;
}

static void put(struct text *t, const char *s)
{
	while (*s)
		put_char(t, *s++);
}

/* v in decimal, right-aligned in width characters. */
static void put_u64(struct text *t, uint64_t v, int width)
{
	char digits[24];
	int n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	for (int pad = width - n; pad > 0; pad--)
		put_char(t, ' ');
	while (n > 0)
		put_char(t, digits[--n]);
}

/* One "Name:     value kB" line, aligned as the kernel aligns them. */
static void put_kb(struct text *t, const char *name, uint64_t kb)
{
	size_t n = strlen(name);

	put(t, name);
	put_char(t, ':');
	for (; n < 15; n++)
		put_char(t, ' ');
	put_u64(t, kb, 8);
	put(t, " kB\n");
}

/* The memory limit as the machine's memory, all of it free. */
static void render_meminfo(struct text *t, const struct jail_plan *plan)
{
	static const char *const none[] = {
	    "Buffers",	    "Cached",	      "SwapCached",   "Active",		"Inactive",
	    "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable",
	    "Mlocked",	    "SwapTotal",      "SwapFree",     "Dirty",		"Writeback",
	    "AnonPages",    "Mapped",	      "Shmem",	      "KReclaimable",	"Slab",
	    "SReclaimable", "SUnreclaim",     "KernelStack",  "PageTables",	"Committed_AS",
	};
	uint64_t kb = plan->memory_bytes / 1024;

	put_kb(t, "MemTotal", kb);
	put_kb(t, "MemFree", kb);
	put_kb(t, "MemAvailable", kb);
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		put_kb(t, none[i], 0);
	put_kb(t, "CommitLimit", kb);
}

/* The CPUs the guest may run on (glibc counts them here without /sys). */
static unsigned usable_cpus(void)
{
	uint64_t mask[64];
	long n = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
	unsigned count = 0;

	for (long i = 0; i < n / 8; i++)
		count += (unsigned)__builtin_popcountll(mask[i]);
	return count ? count : 1;
}

/* The boot time is the host's: /proc/uptime and CLOCK_BOOTTIME tell it anyway. */
static uint64_t boot_time(void)
{
	struct timespec real, boot;

	if (clock_gettime(CLOCK_REALTIME, &real) < 0 || clock_gettime(CLOCK_BOOTTIME, &boot) < 0 ||
	    real.tv_sec < boot.tv_sec)
		return 0;
	return (uint64_t)(real.tv_sec - boot.tv_sec);
}

/* CPU lines with no time spent, and no host-wide counters. */
static void render_stat(struct text *t, const struct jail_plan *plan)
{
	static const char ticks[] = " 0 0 0 0 0 0 0 0 0 0\n";
	unsigned cpus = usable_cpus();

	(void)plan;
	put(t, "cpu ");
	put(t, ticks);
	for (unsigned i = 0; i < cpus; i++) {
		put(t, "cpu");
		put_u64(t, i, 0);
		put(t, ticks);
	}
	put(t, "intr 0\nctxt 0\nbtime ");
	put_u64(t, boot_time(), 0);
	put(t, "\nprocesses 0\nprocs_running 1\nprocs_blocked 0\n"
	       "softirq 0 0 0 0 0 0 0 0 0 0 0\n");
}

static void render_loadavg(struct text *t, const struct jail_plan *plan)
{
	(void)plan;
	put(t, "0.00 0.00 0.00 1/1 1\n");
}

/* A random version-4 UUID, fixed for the sandbox's life. */
static void render_boot_id(struct text *t, const struct jail_plan *plan)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16] = {0};

	(void)plan;
	if (syscall(SYS_getrandom, b, sizeof(b), 0) != (long)sizeof(b)) {
		t->err = EIO;
		return;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			put_char(t, '-');
		put_char(t, hex[b[i] >> 4]);
		put_char(t, hex[b[i] & 15]);
	}
	put_char(t, '\n');
}

struct synthetic {
	const char *path; /* below /proc */
	void (*render)(struct text *, const struct jail_plan *);
};

static const struct synthetic synthetic[] = {
    {"meminfo", render_meminfo},
    {"stat", render_stat},
    {"loadavg", render_loadavg},
    {"sys/kernel/random/boot_id", render_boot_id},
};

static int join(char *out, const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);

	if (a + 1 + b + 1 > PATH_LEN) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, dir, a);
	out[a] = '/';
	memcpy(out + a + 1, name, b + 1);
	return 0;
}

/* Write the file in the scratch directory, bind it read-only over its entry. */
static int cover_synthetic(const struct jail_plan *plan, const struct synthetic *s,
			   const char *proc, const char *scratch, const char **what)
{
	char src[PATH_LEN], dst[PATH_LEN];
	const char *base = strrchr(s->path, '/') ? strrchr(s->path, '/') + 1 : s->path;
	struct text t = {.fd = -1};

	JAIL_TRY(join(src, scratch, base), s->path);
	JAIL_TRY(join(dst, proc, s->path), s->path);
	if (access(dst, F_OK) < 0)
		return 0; /* not in this kernel: nothing to hide */
	JAIL_TRY(t.fd = open(src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444), s->path);
	s->render(&t, plan);
	flush_text(&t);
	close(t.fd);
	if (t.err) {
		*what = s->path;
		return -t.err;
	}
	JAIL_TRY(mount(src, dst, NULL, MS_BIND, NULL), s->path);
	JAIL_TRY(mount(NULL, dst, NULL,
		       MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
		 s->path);
	/* The bind keeps the file; the root shows no trace of it. */
	JAIL_TRY(unlink(src), s->path);
	return 0;
}

static bool listed(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(name, list[i]) == 0)
			return true;
	}
	return false;
}

static bool is_synthetic(const char *name)
{
	for (size_t i = 0; i < sizeof(synthetic) / sizeof(synthetic[0]); i++) {
		if (strcmp(name, synthetic[i].path) == 0)
			return true;
	}
	return false;
}

/* Hide one top-level entry, unless the guest needs it or cannot read it anyway. */
static int cover_entry(int dirfd, const char *proc, const char *name, unsigned char type,
		       const char *devnull, const char **what)
{
	char dst[PATH_LEN];
	struct stat st;

	if (name[0] == '.' || (name[0] >= '0' && name[0] <= '9') || type == DT_LNK ||
	    listed(name, kept, sizeof(kept) / sizeof(kept[0])) || is_synthetic(name))
		return 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0; /* gone, or not ours to see */
	JAIL_TRY(join(dst, proc, name), name);
	if (S_ISDIR(st.st_mode)) {
		JAIL_TRY(mount("tmpfs", dst, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			       "size=4k,nr_inodes=1,mode=555"),
			 name);
		return 0;
	}
	/* Owned by the host's root: the guest reads through the "other" bits. */
	if (!S_ISREG(st.st_mode) || !(st.st_mode & (S_IROTH | S_IWOTH)))
		return 0;
	JAIL_TRY(mount(devnull, dst, NULL, MS_BIND, NULL), name);
	return 0;
}

/* The kernel's struct linux_dirent64, named apart to avoid header clashes. */
struct jail_dirent {
	uint64_t ino;
	int64_t off;
	unsigned short reclen;
	unsigned char type;
	char name[];
};

static int cover_top_level(const char *proc, const char *devnull, const char **what)
{
	char buf[2048] __attribute__((aligned(8)));
	int fd, rc = 0;
	long n = 0;

	JAIL_TRY(fd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open /proc");
	while (rc == 0 && (n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; rc == 0 && off < n;) {
			struct jail_dirent *d = (struct jail_dirent *)(buf + off);

			off += d->reclen;
			rc = cover_entry(fd, proc, d->name, d->type, devnull, what);
		}
	}
	if (rc == 0 && n < 0) {
		*what = "list /proc";
		rc = -errno;
	}
	close(fd);
	return rc;
}

int jail_cover_proc(const struct jail_plan *plan, const char *proc, const char *devnull,
		    const char *scratch, const char **what)
{
	int rc;

	if ((rc = cover_top_level(proc, devnull, what)) < 0)
		return rc;
	JAIL_TRY(mkdir(scratch, 0700), "/proc scratch directory");
	for (size_t i = 0; i < sizeof(synthetic) / sizeof(synthetic[0]); i++) {
		if ((rc = cover_synthetic(plan, &synthetic[i], proc, scratch, what)) < 0)
			return rc;
	}
	JAIL_TRY(rmdir(scratch), "/proc scratch directory");
	return 0;
}
