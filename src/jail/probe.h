/* What the host kernel offers the jail; used by the executor and `brig doctor`. */
#ifndef BRIG_PROBE_H
#define BRIG_PROBE_H

#include <stdbool.h>
#include <stddef.h>

struct probe_report {
	bool root;	      /* root in the initial user namespace */
	bool userns;	      /* a user namespace (with pid/mount/net) can be created */
	char userns_why[512]; /* why not, and the fix */
	bool seccomp;	      /* seccomp filters can be installed */
	int landlock_abi;     /* 0 when Landlock is unavailable */
};

/* Whether we are root in the initial user namespace (may map other uids). */
bool jail_privileged(void);
/* Probe everything, creating a throwaway namespace to be sure (for `brig doctor`). */
void jail_probe(struct probe_report *r);
/* A cheap check of the sysctls that switch user namespaces off; fills why. */
bool jail_userns_disabled(bool root, char *why, size_t len);
/* Explain why creating a user namespace failed with err, and name the fix. */
void jail_explain_userns(bool root, int err, char *why, size_t len);

#endif
