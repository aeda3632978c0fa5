/*
 * Copying a session's files into another session's jail, on the host (see
 * tree_copy.c for how a racing guest is kept in its own tree).
 */
#ifndef BRIG_TREE_COPY_H
#define BRIG_TREE_COPY_H

#include <stddef.h>
#include <sys/types.h>

/* A directory below a scratch root, and the guest path it is shown at. */
struct tree_dir {
	const char *dir;
	const char *shown;
};

/*
 * For each of the ndirs directories, directly below both roots (O_PATH fds
 * of two scratch tmpfs): empty dst_root/dir, then copy src_root/dir's
 * regular files, directories and symlinks into it, with their modes (less
 * set-id bits) and times; the directory's own mode too.  Hard links become
 * separate files; FIFOs, sockets, devices and mount points are left out.
 * Runs as uid/gid (the jails' user on the host).  Returns 0, or -errno with
 * err naming the file by its guest path, the reason and the errno's name
 * (-ENOSPC or -EDQUOT when dst is full; -ELOOP past 128 directories); dst
 * then holds a part of the copy.
 */
int tree_replace(int src_root, int dst_root, const struct tree_dir *dirs, size_t ndirs, uid_t uid,
		 gid_t gid, char *err, size_t errlen);

#endif
