/* The seccomp allowlist: built with libseccomp on the host, loaded in the jail. */
#ifndef BRIG_SECCOMP_H
#define BRIG_SECCOMP_H

#include <linux/filter.h>
#include <stddef.h>

struct jail_bpf {
	struct sock_filter *insns;
	unsigned short len;
};

/*
 * Build the filter program once, in the parent (libseccomp allocates, which
 * is not safe in a child forked from a threaded process).  Returns 0, or -1
 * with a reason in err.
 */
int jail_seccomp_build(struct jail_bpf *out, char *err, size_t errlen);
void jail_seccomp_free(struct jail_bpf *bpf);

/*
 * Load the filter into the calling process.  Async-signal-safe: no
 * allocation, raw syscalls only.  Requires no_new_privs.  Returns 0 or -errno.
 */
int jail_seccomp_install(const struct jail_bpf *bpf);

#endif
