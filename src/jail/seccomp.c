/*
 * Loading the guest's syscall filter.  The program itself is generated at
 * build time from seccomp_policy.c (tools/gen_seccomp.c), so the library
 * neither links libseccomp nor spends a millisecond compiling the policy at
 * every start.
 */
#include "jail/seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif

static int load_filter(struct sock_fprog *prog, unsigned long flags)
{
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog) == 0 ? 0 : -errno;
}

int jail_seccomp_install(const struct jail_bpf *bpf)
{
	struct sock_fprog prog;
	int rc;

	if (!bpf || !bpf->insns || bpf->len == 0)
		return -EINVAL;
	prog.len = bpf->len;
	/* The kernel only reads the program. */
	prog.filter = (struct sock_filter *)bpf->insns;
	/*
	 * Do not force the speculative-store-bypass mitigation on the guest (the
	 * default since Linux 5.16 anyway): it slows CPU-bound code, and the
	 * guest shares its address space with nothing it may not read.  Kernels
	 * before 4.17 reject the flag.
	 */
	rc = load_filter(&prog, SECCOMP_FILTER_FLAG_SPEC_ALLOW);
	if (rc == -EINVAL)
		rc = load_filter(&prog, 0);
	if (rc != -ENOSYS)
		return rc;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0 ? 0 : -errno;
}
