/*
 * Finding a delegated cgroup v2 subtree, on fake cgroupfs trees in a
 * temporary directory (the files the kernel would create are made by hand).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "jail/cgroup.h"

/* Whom the fake trees are delegated to, when the test runs as root. */
#define DELEGATE_UID 65534

static char root[64];

static void put(const char *rel, const char *content)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

static void dir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static void get(const char *rel, char *out, size_t len)
{
	char path[512];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	out[0] = '\0';
	if ((f = fopen(path, "r"))) {
		n = fread(out, 1, len - 1, f);
		fclose(f);
	}
	out[n] = '\0';
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void fresh_tree(void)
{
	nftw(root, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	CHECK(mkdir(root, 0755) == 0);
}

/* A scope delegated to us the way systemd does it, our process inside. */
static void delegated_scope(const char *controllers)
{
	fresh_tree();
	dir("app.scope");
	put("app.scope/cgroup.controllers", controllers);
	put("app.scope/cgroup.subtree_control", "");
	put("app.scope/cgroup.procs", "4242\n");
	/* What the kernel creates with the directories brig makes. */
	dir("app.scope/" CGROUP_HOST_LEAF);
	put("app.scope/" CGROUP_HOST_LEAF "/cgroup.procs", "");
	dir("app.scope/brig");
	put("app.scope/brig/cgroup.controllers", "cpu memory pids\n");
	put("app.scope/brig/cgroup.subtree_control", "");
}

static void test_self_path(void)
{
	char out[64];

	CHECK(cgroup_self_v2("12:memory:/x\n0::/user.slice/app.scope\n", out, sizeof(out)) == 0);
	CHECK_STR(out, "/user.slice/app.scope");
	CHECK(cgroup_self_v2("0::/\n", out, sizeof(out)) == 0);
	CHECK_STR(out, "/");
	CHECK(cgroup_self_v2("0::/a/b/\n", out, sizeof(out)) == 0);
	CHECK_STR(out, "/a/b");
	/* A v1-only host has no "0::" line. */
	CHECK(cgroup_self_v2("4:memory:/m\n2:cpuacct:/\n", out, sizeof(out)) == -1);
	CHECK(cgroup_self_v2("", out, sizeof(out)) == -1);
	CHECK(cgroup_self_v2("0::/a-very-long-path-that-does-not-fit-in-the-buffer-given-here\n",
			     out, 16) == -1);
}

static int chown_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return lchown(path, DELEGATE_UID, DELEGATE_UID);
}

/*
 * Run probe as the user the tree is delegated to (systemd chowns a
 * delegated cgroup to its user): as root, the tree goes to uid 65534 and a
 * child takes that uid.  The child's exit status is probe's result.
 */
static int as_delegate(int (*probe)(void))
{
	int st;
	pid_t pid;

	if (geteuid() == 0)
		CHECK(nftw(root, chown_entry, 8, FTW_PHYS) == 0);
	pid = fork();
	if (pid == 0) {
		if (geteuid() == 0 && (setresgid(DELEGATE_UID, DELEGATE_UID, DELEGATE_UID) < 0 ||
				       setresuid(DELEGATE_UID, DELEGATE_UID, DELEGATE_UID) < 0))
			_exit(99);
		_exit(probe());
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int probe_scope(void)
{
	struct cgroup_env env = {0};
	char want[256];

	if (!cgroup_probe_v2(&env, root, "/app.scope", 4242))
		return 1;
	if (env.mode != CGROUP_V2 || !env.memory || !env.pids || !env.cpu)
		return 2;
	snprintf(want, sizeof(want), "%s/app.scope/brig", root);
	return strcmp(env.base[0], want) ? 3 : 0;
}

static void test_delegated_scope(void)
{
	char buf[256];

	delegated_scope("cpuset cpu io memory pids\n");
	CHECK(as_delegate(probe_scope) == 0);
	/* Our process left the scope for its leaf, then the scope enabled the
	 * controllers for its children, and brig's parent for the jails. */
	get("app.scope/" CGROUP_HOST_LEAF "/cgroup.procs", buf, sizeof(buf));
	CHECK_STR(buf, "4242");
	get("app.scope/cgroup.subtree_control", buf, sizeof(buf));
	CHECK(strstr(buf, "+memory") && strstr(buf, "+pids"));
	get("app.scope/brig/cgroup.subtree_control", buf, sizeof(buf));
	CHECK(strstr(buf, "+memory") && strstr(buf, "+pids"));
}

static int probe_from_leaf(void)
{
	struct cgroup_env env = {0};
	char want[256];

	if (!cgroup_probe_v2(&env, root, "/app.scope/" CGROUP_HOST_LEAF, 4242))
		return 1;
	snprintf(want, sizeof(want), "%s/app.scope/brig", root);
	return strcmp(env.base[0], want) ? 2 : 0;
}

static void test_already_in_leaf(void)
{
	/* A second executor in the same process finds itself in brig's leaf. */
	delegated_scope("memory pids\n");
	CHECK(as_delegate(probe_from_leaf) == 0);
}

static void test_root_leaves_services_alone(void)
{
	struct cgroup_env env = {0};
	char buf[64];

	/* A cgroup that is not ours (a root service's) is not rearranged: our
	 * process stays where it is.  Here the fake tree then "enables" the
	 * controllers, which a kernel would refuse (EBUSY) for an occupied one. */
	if (geteuid() != 0)
		return;
	delegated_scope("memory pids\n");
	cgroup_probe_v2(&env, root, "/app.scope", 4242);
	get("app.scope/" CGROUP_HOST_LEAF "/cgroup.procs", buf, sizeof(buf));
	CHECK_STR(buf, "");
}

static void test_missing_controllers(void)
{
	struct cgroup_env env = {0};

	/* systemd delegates only some controllers (here, no memory). */
	delegated_scope("cpu io pids\n");
	CHECK(!cgroup_probe_v2(&env, root, "/app.scope", 4242));
	CHECK(env.mode == CGROUP_NONE && !env.memory && !env.base[0][0]);
	CHECK(strstr(env.why, "does not offer the memory and pids controllers") != NULL);
	/* A missing cgroup (a stale /proc/self/cgroup) is no cgroup. */
	CHECK(!cgroup_probe_v2(&env, root, "/gone.scope", 4242));
	CHECK(strstr(env.why, "gone.scope") != NULL);
}

static void test_controllers_already_enabled(void)
{
	struct cgroup_env env = {0};
	char buf[64];

	/* The hierarchy's root: processes may live there, nothing moves. */
	fresh_tree();
	put("cgroup.controllers", "cpu memory pids\n");
	put("cgroup.subtree_control", "cpu memory pids\n");
	put("cgroup.procs", "1\n4242\n");
	dir("brig");
	put("brig/cgroup.controllers", "cpu memory pids\n");
	put("brig/cgroup.subtree_control", "");
	CHECK(cgroup_probe_v2(&env, root, "/", 4242));
	CHECK(env.mode == CGROUP_V2);
	get("cgroup.subtree_control", buf, sizeof(buf));
	CHECK_STR(buf, "cpu memory pids\n");
}

/* As another user, whom nothing was delegated to. */
static int probe_as_stranger(void)
{
	struct cgroup_env env = {0};

	if (geteuid() == 0 && (setresgid(DELEGATE_UID, DELEGATE_UID, DELEGATE_UID) < 0 ||
			       setresuid(DELEGATE_UID, DELEGATE_UID, DELEGATE_UID) < 0))
		return 2;
	if (cgroup_probe_v2(&env, root, "/app.scope", 4242))
		return 3;
	return strstr(env.why, "is not delegated to uid") ? 0 : 4;
}

static void test_not_delegated(void)
{
	int st;
	pid_t pid;

	delegated_scope("memory pids\n");
	if (geteuid() != 0) {
		char path[512];

		snprintf(path, sizeof(path), "%s/app.scope/cgroup.procs", root);
		CHECK(chmod(path, 0444) == 0);
	}
	pid = fork();
	if (pid == 0)
		_exit(probe_as_stranger());
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/brig-cgfake-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	chmod(root, 0755);
	test_self_path();
	test_delegated_scope();
	test_already_in_leaf();
	test_missing_controllers();
	test_controllers_already_enabled();
	test_root_leaves_services_alone();
	test_not_delegated();
	nftw(root, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	return CHECK_DONE();
}
