/* The daemon's directory, its checks, and daemon.pid (see daemon_dir.h). */
#include "cli/daemon_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "brig_build.h"

static int too_long(const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "the daemon's directory %s%sis too long for a unix socket path", what,
		 *what ? " " : "");
	return -1;
}

int daemon_paths_get(struct daemon_paths *p, char *err, size_t errlen)
{
	const char *env = getenv("BRIG_DAEMON_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
	char cwd[PATH_MAX];
	int n;

	/* Relative to where brig runs; the daemon itself runs in /. */
	if (env && *env && *env != '/' && getcwd(cwd, sizeof(cwd)))
		n = snprintf(p->dir, sizeof(p->dir), "%s/%s", strcmp(cwd, "/") ? cwd : "", env);
	else if (env && *env)
		n = snprintf(p->dir, sizeof(p->dir), "%s", env);
	else if (xdg && *xdg == '/')
		n = snprintf(p->dir, sizeof(p->dir), "%s/brig", xdg);
	else
		n = snprintf(p->dir, sizeof(p->dir), "/tmp/brig-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= sizeof(p->dir))
		return too_long("", err, errlen);
	/* Trailing slashes would make lstat follow a symlink to a directory. */
	while (n > 1 && p->dir[n - 1] == '/')
		p->dir[--n] = '\0';
	if (snprintf(p->sock, sizeof(p->sock), "%s/daemon.sock", p->dir) >= (int)sizeof(p->sock) ||
	    snprintf(p->control, sizeof(p->control), "%s/control.sock", p->dir) >=
		(int)sizeof(p->control))
		return too_long(p->dir, err, errlen);
	snprintf(p->pidfile, sizeof(p->pidfile), "%s/daemon.pid", p->dir);
	return 0;
}

int daemon_dir_check(const char *dir, bool create, char *err, size_t errlen)
{
	struct stat st;

	if (create && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create the daemon's directory %s: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is %s, not a directory; refusing to use it", dir,
			 S_ISLNK(st.st_mode) ? "a symbolic link" : "a file");
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "%s belongs to uid %u, not to this user (uid %u); refusing to use it", dir,
			 (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 07777) != 0700) {
		snprintf(err, errlen, "%s has mode %04o, not 0700; refusing to use it", dir,
			 (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

const char *daemon_guest_dir(void)
{
	const char *g = getenv("BRIG_GUEST_DIR");

	return g && *g ? g : BRIG_GUEST_DIR;
}

static int mount_ns(unsigned long long *dev, unsigned long long *ino)
{
	struct stat st;

	if (stat("/proc/self/ns/mnt", &st) < 0)
		return -1;
	*dev = (unsigned long long)st.st_dev;
	*ino = (unsigned long long)st.st_ino;
	return 0;
}

/* Append to buf at *n; false once it does not fit. */
static bool add(char *buf, size_t len, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= len)
		return false;
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, len - *n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= len - *n)
		return false;
	*n += (size_t)k;
	return true;
}

static int oom_score_adj(void)
{
	char text[16] = "";
	int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!read(fd, text, sizeof(text) - 1);
		close(fd);
	}
	return atoi(text);
}

int daemon_inherited(char *buf, size_t len)
{
	mode_t mask = umask(077);
	cpu_set_t cpus;
	struct rlimit rl;
	size_t n = 0;
	bool ok;

	umask(mask);
	errno = 0;
	ok = add(buf, len, &n,
		 "umask=%o nice=%d sched=%d oom=%d nnp=%d seccomp=%d cpus=", (unsigned)mask,
		 getpriority(PRIO_PROCESS, 0), sched_getscheduler(0), oom_score_adj(),
		 prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
	CPU_ZERO(&cpus);
	sched_getaffinity(0, sizeof(cpus), &cpus);
	for (int c = 0; ok && c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &cpus))
			ok = add(buf, len, &n, "%d,", c);
	for (int r = 0; ok && r < RLIM_NLIMITS; r++)
		if (r != RLIMIT_NOFILE && getrlimit((__rlimit_resource_t)r, &rl) == 0)
			ok = add(buf, len, &n, " rl%d=%llx:%llx", r,
				 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	return ok ? 0 : -1;
}

int daemon_info_self(struct daemon_info *info)
{
	memset(info, 0, sizeof(*info));
	info->pid = (long)getpid();
	info->started = (long long)time(NULL);
	snprintf(info->guest_dir, sizeof(info->guest_dir), "%s", daemon_guest_dir());
	if (daemon_inherited(info->inherited, sizeof(info->inherited)) < 0)
		return -1;
	return mount_ns(&info->mntns_dev, &info->mntns_ino);
}

int daemon_info_format(const struct daemon_info *info, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%ld\nstarted %lld\nmntns %llu:%llu\ninherit %s\nguest %s\n",
			 info->pid, info->started, info->mntns_dev, info->mntns_ino,
			 info->inherited, info->guest_dir);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* The rest of the line after "\n<key> " into out. */
static int line_value(const char *text, const char *key, char *out, size_t len)
{
	const char *v = strstr(text, key), *end;

	if (!v || !(end = strchr(v += strlen(key), '\n')) || (size_t)(end - v) >= len)
		return -1;
	memcpy(out, v, (size_t)(end - v));
	out[end - v] = '\0';
	return 0;
}

static int parse_info(const char *text, struct daemon_info *info)
{
	if (sscanf(text, "%ld\nstarted %lld\nmntns %llu:%llu\n", &info->pid, &info->started,
		   &info->mntns_dev, &info->mntns_ino) != 4 ||
	    line_value(text, "\ninherit ", info->inherited, sizeof(info->inherited)) < 0 ||
	    line_value(text, "\nguest ", info->guest_dir, sizeof(info->guest_dir)) < 0)
		return -1;
	return info->pid > 0 ? 0 : -1;
}

int daemon_info_read(const char *pidfile, struct daemon_info *info)
{
	char text[PATH_MAX + 1400];
	struct stat st;
	ssize_t n;
	int fd = open(pidfile, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	memset(info, 0, sizeof(*info));
	if (fd < 0)
		return -1;
	n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()
		? read(fd, text, sizeof(text) - 1)
		: -1;
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	return parse_info(text, info);
}

int daemon_for_run(char *sock, size_t len)
{
	struct daemon_paths p;
	struct daemon_info info;
	unsigned long long dev, ino;
	char err[8], mine[sizeof(info.inherited)];

	if (daemon_paths_get(&p, err, sizeof(err)) < 0 ||
	    daemon_dir_check(p.dir, false, err, sizeof(err)) < 0 ||
	    daemon_info_read(p.pidfile, &info) < 0 || mount_ns(&dev, &ino) < 0 ||
	    daemon_inherited(mine, sizeof(mine)) < 0)
		return -1;
	if (info.mntns_dev != dev || info.mntns_ino != ino || strcmp(info.inherited, mine) != 0 ||
	    strcmp(info.guest_dir, daemon_guest_dir()) != 0 || strlen(p.sock) >= len)
		return -1;
	memcpy(sock, p.sock, strlen(p.sock) + 1);
	return 0;
}
