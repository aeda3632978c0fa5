/* The seccomp allowlist: compiled with libseccomp at build time, loaded in the jail. */
#ifndef BRIG_SECCOMP_H
#define BRIG_SECCOMP_H

#include <linux/filter.h>
#include <stddef.h>

struct jail_bpf {
	const struct sock_filter *insns;
	unsigned short len;
};

/* The program generated from seccomp_policy.c when brig was built. */
extern const struct jail_bpf jail_seccomp_filter;
/*
 * Stacked under it when the jail has no memory cgroup: memfd_create and the
 * System V get calls fail with EPERM (memory no process owns).
 */
extern const struct jail_bpf jail_seccomp_memguard;

/*
 * Compile the policy with libseccomp (seccomp_policy.c; used by the build's
 * generator and by the tests, not by the library).  The policy: an
 * allowlist whose other syscalls fail with ENOSYS (clone3 among them, so that
 * glibc falls back to clone); the dangerous classes of DESIGN.md decision 1
 * fail with EPERM; another ABI (i386, x32) kills the process.  On success out
 * owns a malloc'd program of out->len instructions and 0 is returned; on
 * failure out is empty, a reason is in err, and -1 is returned.
 */
int jail_seccomp_build(struct jail_bpf *out, char *err, size_t errlen);
/* Compile the memory guard (seccomp_policy.c too), like jail_seccomp_build. */
int jail_seccomp_build_memguard(struct jail_bpf *out, char *err, size_t errlen);
/* Release the program and leave it empty; bpf may be NULL. */
void jail_seccomp_free(struct jail_bpf *bpf);

/*
 * Load the filter into the calling process.  Async-signal-safe: no
 * allocation, raw syscalls only.  Requires no_new_privs (or CAP_SYS_ADMIN).
 * Returns 0, -EINVAL for a NULL or empty program, or the kernel's -errno.
 */
int jail_seccomp_install(const struct jail_bpf *bpf);

#endif
