#include "jail/cgroup.h"
#include "jail/sysfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define CGROUP2_MAGIC 0x63677270
#define CGROUP_V1_MAGIC 0x27e0eb
#define CG_MEM 0
#define CG_PIDS 1
#define CG_CPU 2

/* The value following key in a "key value" per-line file. */
static int64_t keyed_value(const char *dir, const char *file, const char *key)
{
	char buf[4096], *p;
	size_t klen = strlen(key);

	if (sysfile_read(dir, file, buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return strtoll(p + klen + 1, NULL, 10);
	}
	return -1;
}

static bool is_fs(const char *path, long magic)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

/* mkdir dir/brig and check that we may write in it. */
static bool make_parent(char *out, size_t len, const char *root)
{
	snprintf(out, len, "%s/brig", root);
	if (mkdir(out, 0755) < 0 && errno != EEXIST)
		return false;
	return access(out, W_OK) == 0;
}

static void probe_v1(struct cgroup_env *env)
{
	static const char *const ctrl[3] = {"memory", "pids", "cpuacct"};
	bool *have[3] = {&env->memory, &env->pids, &env->cpu};

	for (int i = 0; i < 3; i++) {
		char root[64];

		snprintf(root, sizeof(root), "/sys/fs/cgroup/%s", ctrl[i]);
		if (is_fs(root, CGROUP_V1_MAGIC))
			*have[i] = make_parent(env->base[i], sizeof(env->base[i]), root);
	}
	if (env->memory || env->pids || env->cpu)
		env->mode = CGROUP_V1;
	else if (is_fs("/sys/fs/cgroup/memory", CGROUP_V1_MAGIC))
		snprintf(env->why + strlen(env->why), sizeof(env->why) - strlen(env->why),
			 "%sthe cgroup v1 hierarchies are writable by root only",
			 env->why[0] ? "; " : "");
}

int cgroup_self_v2(const char *text, char *out, size_t len)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		size_t n = strcspn(p, "\n");

		if (strncmp(p, "0::/", 4) != 0)
			continue;
		while (n > 4 && p[n - 1] == '/')
			n--;
		if (n - 3 >= len)
			return -1;
		memcpy(out, p + 3, n - 3);
		out[n - 3] = '\0';
		return 0;
	}
	return -1;
}

static bool writable(const char *dir, const char *file)
{
	char path[300];

	snprintf(path, sizeof(path), "%s%s%s", dir, file ? "/" : "", file ? file : "");
	return access(path, W_OK) == 0;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n) {
		if ((p == list || p[-1] == ' ' || p[-1] == '+') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	}
	return false;
}

/* Enable memory and pids (and cpu where offered) for dir's children. */
static int enable(const char *dir)
{
	char ctl[256];
	int rc = sysfile_write(dir, "cgroup.subtree_control", "+memory +pids +cpu");

	if (rc == -ENOENT) /* cpu is not delegated: do without it */
		rc = sysfile_write(dir, "cgroup.subtree_control", "+memory +pids");
	if (rc < 0)
		return rc;
	if (sysfile_read(dir, "cgroup.subtree_control", ctl, sizeof(ctl)) < 0)
		return -EIO;
	return has_word(ctl, "memory") && has_word(ctl, "pids") ? 0 : -ENOTSUP;
}

/*
 * A cgroup systemd delegated to a user belongs to that user.  Root's
 * cgroups (a service's) are systemd's to arrange: brig leaves them as they
 * are, and uses them only if they already enable the controllers.
 */
static bool delegated_to_us(const char *dir)
{
	struct stat st;

	return geteuid() != 0 && stat(dir, &st) == 0 && st.st_uid == geteuid();
}

/*
 * cgroup v2's no-internal-process rule: a cgroup that holds processes cannot
 * enable controllers for its children.  In a cgroup delegated to us where
 * our process lives, we move it into a leaf of its own (brig-host) first.
 */
static int vacate(struct cgroup_env *env, const char *own, pid_t self)
{
	char procs[64], leaf[300], pid[24];
	int rc = 0;

	if (sysfile_read(own, "cgroup.procs", procs, sizeof(procs)) < 0 || !procs[0])
		return 0;
	snprintf(leaf, sizeof(leaf), "%.250s/" CGROUP_HOST_LEAF, own);
	snprintf(pid, sizeof(pid), "%d", (int)self);
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		rc = -errno;
	if (rc < 0 || (rc = sysfile_write(leaf, "cgroup.procs", pid)) < 0) {
		snprintf(env->why, sizeof(env->why), "cgroup v2: cannot move brig into %.260s: %s",
			 leaf, strerror(-rc));
		return -1;
	}
	return 0;
}

bool cgroup_probe_v2(struct cgroup_env *env, const char *root, const char *self, pid_t pid)
{
	char own[256], ctl[256], *slash;

	if ((size_t)snprintf(own, sizeof(own), "%s%s", root, strcmp(self, "/") ? self : "") >=
	    sizeof(own))
		return false;
	/* Already moved into our leaf by an earlier probe: the delegated cgroup
	 * is its parent. */
	if ((slash = strrchr(own, '/')) && strcmp(slash + 1, CGROUP_HOST_LEAF) == 0)
		*slash = '\0';
	if (sysfile_read(own, "cgroup.controllers", ctl, sizeof(ctl)) < 0 ||
	    !has_word(ctl, "memory") || !has_word(ctl, "pids")) {
		snprintf(env->why, sizeof(env->why),
			 "cgroup v2: %.256s does not offer the memory and pids controllers", own);
		return false;
	}
	if (!writable(own, NULL) || !writable(own, "cgroup.procs") ||
	    !writable(own, "cgroup.subtree_control")) {
		snprintf(env->why, sizeof(env->why),
			 "cgroup v2: %.256s is not delegated to uid %d (not writable)", own,
			 (int)geteuid());
		return false;
	}
	if (sysfile_read(own, "cgroup.subtree_control", ctl, sizeof(ctl)) < 0 ||
	    !has_word(ctl, "memory") || !has_word(ctl, "pids")) {
		int rc;

		if (delegated_to_us(own) && vacate(env, own, pid) < 0)
			return false;
		if ((rc = enable(own)) < 0) {
			snprintf(env->why, sizeof(env->why),
				 "cgroup v2: cannot enable memory and pids in %.256s: %s%s", own,
				 strerror(-rc),
				 rc == -EBUSY ? " (other processes live there: start brig in a "
						"scope of its own)"
					      : "");
			return false;
		}
	}
	if (!make_parent(env->base[0], sizeof(env->base[0]), own) || enable(env->base[0]) < 0) {
		snprintf(env->why, sizeof(env->why), "cgroup v2: cannot set up %.256s/brig", own);
		env->base[0][0] = '\0';
		return false;
	}
	env->memory = env->pids = true;
	env->cpu = true; /* cpu.stat exists in every v2 cgroup */
	env->mode = CGROUP_V2;
	return true;
}

/* The cgroup2 mount: /sys/fs/cgroup on unified hosts, .../unified on hybrid ones. */
static void probe_v2(struct cgroup_env *env)
{
	static const char *const roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	char buf[1024], self[256];

	if (sysfile_read("/proc/self", "cgroup", buf, sizeof(buf)) < 0 ||
	    cgroup_self_v2(buf, self, sizeof(self)) < 0)
		return;
	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		if (is_fs(roots[i], CGROUP2_MAGIC)) {
			cgroup_probe_v2(env, roots[i], self, getpid());
			return;
		}
	}
}

/* Remove the empty cgroups of brig processes that died without cleaning up. */
static void reap_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[512];
		long pid = strtol(e->d_name, NULL, 10);

		if (pid <= 0 || strchr(e->d_name, '-') == NULL)
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		rmdir(path);
	}
	if (d)
		closedir(d);
}

void cgroup_probe(struct cgroup_env *env)
{
	memset(env, 0, sizeof(*env));
	probe_v2(env);
	if (env->mode == CGROUP_NONE)
		probe_v1(env);
	for (int i = 0; i < 3; i++) {
		if (env->base[i][0])
			reap_stale(env->base[i]);
	}
}

void cgroup_describe(const struct cgroup_env *env, char *out, size_t len)
{
	if (env->mode == CGROUP_NONE) {
		snprintf(out, len, "none usable (brig measures the sandbox itself)");
		return;
	}
	snprintf(out, len, "%s:%s%s%s", env->mode == CGROUP_V1 ? "v1" : "v2",
		 env->memory ? " memory" : "", env->pids ? " pids" : "", env->cpu ? " cpu" : "");
}

/*
 * A brig that was killed leaves its (empty) cgroup behind, and a later
 * process may reuse its pid and name: an empty leftover is removed first.
 */
static int make_dir(const char *path)
{
	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno != EEXIST || rmdir(path) < 0)
		return -1;
	return mkdir(path, 0755);
}

static int create_v1(struct cgroup *cg, const char *name, uint64_t mem, uint32_t pids)
{
	const struct cgroup_env *env = cg->env;
	const bool have[3] = {env->memory, env->pids, env->cpu};
	char val[32];

	for (int i = 0; i < 3; i++) {
		if (!have[i])
			continue;
		snprintf(cg->path[i], sizeof(cg->path[i]), "%s/%s", env->base[i], name);
		if (make_dir(cg->path[i]) < 0)
			return -errno;
	}
	if (env->memory) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)mem);
		if (sysfile_write(cg->path[CG_MEM], "memory.limit_in_bytes", val) < 0)
			return -EIO;
		/* Without swap accounting this file is absent; that is fine. */
		sysfile_write(cg->path[CG_MEM], "memory.memsw.limit_in_bytes", val);
		sysfile_write(cg->path[CG_MEM], "memory.swappiness", "0");
	}
	if (env->pids) {
		snprintf(val, sizeof(val), "%u", pids);
		if (sysfile_write(cg->path[CG_PIDS], "pids.max", val) < 0)
			return -EIO;
	}
	return 0;
}

static int create_v2(struct cgroup *cg, const char *name, uint64_t mem, uint32_t pids)
{
	char val[32], *dir = cg->path[0];

	snprintf(dir, sizeof(cg->path[0]), "%s/%s", cg->env->base[0], name);
	if (make_dir(dir) < 0)
		return -errno;
	strcpy(cg->path[1], dir);
	strcpy(cg->path[2], dir);
	if (cg->env->memory) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)mem);
		if (sysfile_write(dir, "memory.max", val) < 0)
			return -EIO;
		sysfile_write(dir, "memory.swap.max", "0");
		sysfile_write(dir, "memory.oom.group", "1");
	}
	if (cg->env->pids) {
		snprintf(val, sizeof(val), "%u", pids);
		if (sysfile_write(dir, "pids.max", val) < 0)
			return -EIO;
	}
	return 0;
}

int cgroup_create(struct cgroup *cg, const struct cgroup_env *env, const char *name,
		  uint64_t memory_bytes, uint32_t max_pids)
{
	int rc;

	memset(cg, 0, sizeof(*cg));
	cg->env = env;
	if (env->mode == CGROUP_NONE)
		return 0;
	rc = env->mode == CGROUP_V1 ? create_v1(cg, name, memory_bytes, max_pids)
				    : create_v2(cg, name, memory_bytes, max_pids);
	if (rc < 0)
		cgroup_destroy(cg);
	return rc;
}

static void close_all(int fds[3], int *dir_fd)
{
	for (int i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
	if (*dir_fd >= 0)
		close(*dir_fd);
	*dir_fd = -1;
}

static int open_in(int *fd, const char *dir, const char *file, int flags)
{
	char path[400];

	snprintf(path, sizeof(path), "%s%s%s", dir, file ? "/" : "", file ? file : "");
	*fd = open(path, flags | O_CLOEXEC);
	return *fd < 0 ? -errno : 0;
}

int cgroup_open_join(const struct cgroup *cg, int fds[3], int *dir_fd)
{
	bool v1 = cg->env && cg->env->mode == CGROUP_V1;
	int rc = 0;

	for (int i = 0; i < 3; i++)
		fds[i] = -1;
	*dir_fd = -1;
	if (!cg->env || cg->env->mode == CGROUP_NONE)
		return 0;
	/* v2 has one directory (path[1] and path[2] repeat it). */
	for (int i = 0; i < (v1 ? 3 : 1) && rc == 0; i++) {
		if (cg->path[i][0])
			rc = open_in(&fds[i], cg->path[i], v1 ? "tasks" : "cgroup.procs", O_WRONLY);
	}
	if (rc == 0 && !v1)
		rc = open_in(dir_fd, cg->path[0], NULL, O_PATH | O_DIRECTORY);
	if (rc < 0)
		close_all(fds, dir_fd);
	return rc;
}

int64_t cgroup_cpu_us(const struct cgroup *cg)
{
	char buf[64];

	if (!cg->env || !cg->env->cpu || !cg->path[CG_CPU][0])
		return -1;
	if (cg->env->mode == CGROUP_V2)
		return keyed_value(cg->path[CG_CPU], "cpu.stat", "usage_usec");
	if (sysfile_read(cg->path[CG_CPU], "cpuacct.usage", buf, sizeof(buf)) < 0)
		return -1;
	return strtoll(buf, NULL, 10) / 1000;
}

bool cgroup_limits_memory(const struct cgroup *cg)
{
	return cg->env && cg->env->memory && cg->path[CG_MEM][0];
}

int64_t cgroup_oom_kills(const struct cgroup *cg)
{
	if (!cg->env || !cg->env->memory || !cg->path[CG_MEM][0])
		return 0;
	if (cg->env->mode == CGROUP_V2)
		return keyed_value(cg->path[CG_MEM], "memory.events", "oom_kill");
	return keyed_value(cg->path[CG_MEM], "memory.oom_control", "oom_kill");
}

bool cgroup_oom_killed(const struct cgroup *cg)
{
	return cgroup_oom_kills(cg) > 0;
}

bool cgroup_pids_hit(const struct cgroup *cg)
{
	if (!cg->env || !cg->env->pids || !cg->path[CG_PIDS][0])
		return false;
	return keyed_value(cg->path[CG_PIDS], "pids.events", "max") > 0;
}

/* The kernel frees a cgroup slightly after its last task is reaped. */
static void rmdir_retry(const char *path)
{
	for (int i = 0; i < 200 && rmdir(path) < 0 && errno == EBUSY; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

void cgroup_destroy(struct cgroup *cg)
{
	for (int i = 0; i < 3; i++) {
		if (!cg->path[i][0])
			continue;
		if (i == 0 || strcmp(cg->path[i], cg->path[0]) != 0)
			rmdir_retry(cg->path[i]);
		cg->path[i][0] = '\0';
	}
}
