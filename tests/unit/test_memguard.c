/*
 * The memory guard stacked on the policy when a jail has no memory cgroup:
 * memory that no process owns (memfd, System V IPC) is refused with EPERM,
 * and nothing else is touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "jail/seccomp.h"

/* Exit codes of the child: 0, or which step went wrong. */
static int guarded(void)
{
	void *p;
	int fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    jail_seccomp_install(&jail_seccomp_memguard) < 0)
		return 1;
	if (memfd_create("hog", 0) != -1 || errno != EPERM)
		return 2;
	if (shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600) != -1 || errno != EPERM)
		return 3;
	if (semget(IPC_PRIVATE, 1, IPC_CREAT | 0600) != -1 || errno != EPERM)
		return 4;
	if (msgget(IPC_PRIVATE, IPC_CREAT | 0600) != -1 || errno != EPERM)
		return 5;
	/* Everything else is the policy's business, not the guard's. */
	p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || getpid() <= 0)
		return 6;
	if ((fd = dup(1)) < 0)
		return 7;
	return 0;
}

static void test_refusals(void)
{
	int st;
	pid_t pid = fork();

	if (pid == 0)
		_exit(guarded());
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st));
	CHECK(WEXITSTATUS(st) == 0);
	if (WIFEXITED(st) && WEXITSTATUS(st))
		fprintf(stderr, "guarded child failed at step %d\n", WEXITSTATUS(st));
}

static void test_unguarded_control(void)
{
	/* The same calls work without the guard: the refusals are its own. */
	int fd = memfd_create("ok", MFD_CLOEXEC);
	int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);

	CHECK(fd >= 0);
	CHECK(id >= 0);
	if (fd >= 0)
		close(fd);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
}

static void test_built_in(void)
{
	struct jail_bpf bpf = {0};
	char err[256] = "";

	CHECK(jail_seccomp_build_memguard(&bpf, err, sizeof(err)) == 0);
	CHECK(bpf.len == jail_seccomp_memguard.len);
	CHECK(bpf.insns &&
	      memcmp(bpf.insns, jail_seccomp_memguard.insns, bpf.len * sizeof(*bpf.insns)) == 0);
	jail_seccomp_free(&bpf);
}

int main(void)
{
	test_refusals();
	test_unguarded_control();
	test_built_in();
	return CHECK_DONE();
}
