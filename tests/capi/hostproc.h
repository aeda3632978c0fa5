/*
 * What the host process holds, read from /proc: open fds, threads, resident
 * memory, its child processes (live and zombie), and the cgroups brig made
 * for its runs.  The soak and fault suites compare these before and after to
 * prove nothing leaked.
 */
#ifndef BRIG_TEST_HOSTPROC_H
#define BRIG_TEST_HOSTPROC_H

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hostproc {
	int fds;
	int threads;
	int children; /* every child process, zombies included */
	int zombies;
	int cgroups; /* brig's cgroups named after this process ("PID-N") */
	long rss_kib;
};

/* The value of a "Name:   123" line of /proc/self/status, or -1. */
static inline long hostproc_status(const char *name)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t n = strlen(name);
	long v = -1;

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

static inline int hostproc_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		if (isdigit((unsigned char)e->d_name[0]) && atoi(e->d_name) != dirfd(d))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* Parse /proc/PID/stat after the command name, which may hold spaces and ')'. */
static inline bool hostproc_stat(const char *pid, char *state, long *ppid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if (!(f = fopen(path, "re")))
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if (!(p = strrchr(buf, ')')))
		return false;
	return sscanf(p + 1, " %c %ld", state, ppid) == 2;
}

static inline void hostproc_children(int *children, int *zombies)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long self = (long)getpid();

	*children = *zombies = 0;
	while (d && (e = readdir(d))) {
		char state;
		long ppid;

		if (!isdigit((unsigned char)e->d_name[0]) ||
		    !hostproc_stat(e->d_name, &state, &ppid) || ppid != self)
			continue;
		(*children)++;
		if (state == 'Z')
			(*zombies)++;
	}
	if (d)
		closedir(d);
}

/* Entries of dir named "PID-..." for this process. */
static inline int hostproc_cgroups_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char prefix[32];
	int n = 0;

	snprintf(prefix, sizeof(prefix), "%ld-", (long)getpid());
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* Where brig puts run cgroups: under "brig" in each v1 hierarchy, or in v2 below our own. */
static inline int hostproc_cgroups(void)
{
	static const char *const v1[] = {"/sys/fs/cgroup/memory/brig", "/sys/fs/cgroup/pids/brig",
					 "/sys/fs/cgroup/cpuacct/brig"};
	char line[512], path[600];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int n = 0;

	for (size_t i = 0; i < sizeof(v1) / sizeof(v1[0]); i++)
		n += hostproc_cgroups_in(v1[i]);
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0::", 3) == 0) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/brig", line + 3);
			n += hostproc_cgroups_in(path);
		}
	}
	if (f)
		fclose(f);
	return n;
}

static inline struct hostproc hostproc_now(void)
{
	struct hostproc h;

	h.fds = hostproc_fds();
	h.threads = (int)hostproc_status("Threads");
	h.rss_kib = hostproc_status("VmRSS");
	h.cgroups = hostproc_cgroups();
	hostproc_children(&h.children, &h.zombies);
	return h;
}

static inline void hostproc_print(FILE *out, const char *label, const struct hostproc *h)
{
	fprintf(out,
		"%-24s fds %3d  threads %3d  rss %7ld KiB  children %3d  zombies %3d  cgroups %d\n",
		label, h->fds, h->threads, h->rss_kib, h->children, h->zombies, h->cgroups);
}

/* Whether nothing countable grew from before to after (RSS aside). */
static inline bool hostproc_same(const struct hostproc *before, const struct hostproc *after)
{
	return after->fds <= before->fds && after->threads <= before->threads &&
	       after->children <= before->children && after->zombies <= before->zombies &&
	       after->cgroups <= before->cgroups;
}

#endif
