/*
 * Committing an rwc mount: applying what the guest changed (the upper
 * directory of the mount's overlay) to the host directory.
 *
 * The caller runs it when no guest code can race the host side: the host
 * directory is only ever changed here, never by the guest.  The upper
 * directory is walked by single components with O_NOFOLLOW, so a guest that
 * still runs (a session's background process) can change what is committed,
 * never where.  On the host every entry is reached from the mount's
 * directory fd one component at a time with fs_open_entry (no symlink
 * followed, no mount crossed); entries are replaced, never written through.
 *
 * What is applied, per entry of the upper directory:
 *  - a regular file: copied to a temporary file in the host directory, mode
 *    masked with 0755 (no setuid, setgid or sticky bit), times kept, then
 *    renamed over the old entry.  Skipped when the host file has the same
 *    size, modification time and mode (a session commits after every call).
 *  - a directory: created when missing (mode masked with 0755, plus 0700);
 *    an existing directory keeps its mode.  An opaque one (the guest removed
 *    the directory and made a new one) loses the host entries it lacks.
 *  - a whiteout (character device 0:0): the host entry is removed, a
 *    directory with everything below it, never across a mount point.
 *  - a symbolic link whose target is relative, descends after its leading
 *    "..", does not climb above the mount, and resolves beneath it on the
 *    host now (or not at all yet).
 *  - anything else (FIFO, socket, device, another link): refused.
 * The mount root's own attributes are never applied.
 */
#ifndef BRIG_MOUNT_COMMIT_H
#define BRIG_MOUNT_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Directories deeper than this below a mount root are not committed. */
#define MOUNT_COMMIT_MAX_DEPTH 128

/* What a commit may still add; it shrinks as entries are applied. */
struct mount_budget {
	uint64_t bytes;	 /* file contents (apparent sizes) */
	uint64_t inodes; /* files, directories and links */
};

/*
 * Who committed entries belong to.  A root host gives new entries the ids
 * the guest maps to, as if the guest had made them, and lets replaced files
 * keep their owner; otherwise everything belongs to the caller.
 */
struct mount_owner {
	bool set;
	uid_t uid;
	gid_t gid;
};

/*
 * Apply upper_fd (an rwc overlay's upper directory, any fd of it) to host_fd
 * (the mount's host directory, any fd of it).  vpath names the mount in
 * messages, which quote guest paths only.  Returns BRIG_OK, or with msg set:
 *  BRIG_E_DENIED  entries were refused (named in msg); the rest is committed
 *  BRIG_E_IO      a file operation failed; the commit stopped there
 *  BRIG_E_LIMIT   the budget ran out (hard links, sparse files); stopped
 *  BRIG_E_NOMEM
 */
int mount_commit(int upper_fd, int host_fd, const char *vpath, const struct mount_owner *owner,
		 struct mount_budget *budget, char *msg, size_t msglen);

#endif
