/* The daemon's check of its peers (see daemon_peer.h). */
#include "cli/daemon_peer.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/* The lines of /proc/PID/status that say how a process is confined. */
static const char *const keys[] = {
    "CapPrm:", "CapEff:", "CapBnd:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:"};

static bool wanted(const char *line)
{
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strncmp(line, keys[k], strlen(keys[k])) == 0)
			return true;
	return false;
}

static void keep_lines(const char *status, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (const char *p = status; *p;) {
		const char *nl = strchr(p, '\n');
		size_t linelen = nl ? (size_t)(nl - p) : strlen(p);

		if (wanted(p) && n + linelen + 2 <= len) {
			memcpy(buf + n, p, linelen);
			n += linelen;
			buf[n++] = '\n';
			buf[n] = '\0';
		}
		p += linelen + (nl != NULL);
	}
}

int peer_confinement(pid_t pid, char *buf, size_t len)
{
	char path[64], status[8192], ns[64];
	struct stat st;
	ssize_t n;
	int fd;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self");
	snprintf(ns, sizeof(ns), "%.40s/ns/mnt", path);
	if (stat(ns, &st) < 0)
		return -1;
	strncat(path, "/status", sizeof(path) - strlen(path) - 1);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, status, sizeof(status) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	status[n] = '\0';
	n = snprintf(buf, len, "mntns %llu:%llu\n", (unsigned long long)st.st_dev,
		     (unsigned long long)st.st_ino);
	if (n < 0 || (size_t)n >= len)
		return -1;
	keep_lines(status, buf + n, len - (size_t)n);
	return 0;
}

bool peer_allowed(int fd, const char *self_confinement)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char theirs[1024];
	int pidfd = -1;
	bool ok;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || len != sizeof(cr) ||
	    cr.uid != geteuid() || cr.pid <= 0)
		return false;
	len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = -1;
	ok = peer_confinement(cr.pid, theirs, sizeof(theirs)) == 0 &&
	     strcmp(theirs, self_confinement) == 0;
	/* What was read was the peer's, not a later process's with its pid. */
	if (ok && pidfd >= 0)
		ok = syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
	if (pidfd >= 0)
		close(pidfd);
	return ok;
}
