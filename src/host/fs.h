/*
 * The fs.* host functions: mounted host directories, resolved race-safely.
 *
 * Guest-visible rules (every fs call):
 *  - "path" must be a JSON string without NUL bytes (else ValueError) and
 *    absolute (else ValueError).  Empty and "." components are dropped; ".."
 *    is left for the kernel to judge against the mount, so "/data/../x" is an
 *    escape from /data, never a lexical shortcut to /x.  A trailing "/" or
 *    "/." means the target must be a directory.
 *  - The path belongs to the mount with the longest vpath that is a
 *    whole-component prefix ("/data2/x" is not under "/data").  No mount:
 *    PermissionError "path not mounted" -- the guest has no right to that
 *    name, and FileNotFoundError would wrongly suggest it could be created.
 *  - The rest is opened beneath the mount's O_PATH fd with openat2
 *    (RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV).  Symlinks
 *    that stay inside the mount are followed; "..", absolute or relative
 *    symlinks leaving it, magic links and other filesystems give
 *    PermissionError.  Where openat2 is missing (ENOSYS, or EPERM from an
 *    old seccomp filter) a component walk with O_NOFOLLOW is used instead; it
 *    refuses every symlink and every mount crossing, also inside the mount.
 *  - Error types: EACCES/EPERM, EXDEV, ELOOP -> PermissionError; ENOENT ->
 *    FileNotFoundError; EISDIR -> IsADirectoryError; ENOTDIR ->
 *    NotADirectoryError; EEXIST -> FileExistsError; anything else -> OSError.
 *    Messages quote the guest path, never the host path.
 *
 * Operations (mode needed):
 *  read (ro)     only a regular file (opened O_NONBLOCK and fstat'ed before
 *                any read, so a FIFO or device never blocks); the contents
 *                come back as the blob.  Over max_read_bytes: OSError.
 *  listdir (ro)  [{"name","is_dir","size"}] sorted bytewise, no "."/"..".
 *                Entries are lstat'ed (a symlink is reported as itself, never
 *                followed); names that are not UTF-8 are left out.  A listing
 *                bigger than max_read_bytes (about 48 bytes per entry plus the
 *                name) is an OSError.
 *  exists (ro)   true/false.  Never fails for a string path: relative,
 *                unmounted, escaping or unreadable paths are all false.
 *  stat (ro)     {"name","size","is_dir","mod_time"}; name is the last
 *                component of the guest path (of the vpath for a mount root),
 *                mod_time whole seconds.  Symlinks inside the mount followed.
 *  write (rw)    replace a regular file's contents, atomically: a temporary
 *                file in the same directory (unnamed while written, where
 *                O_TMPFILE exists) is renamed over the target, so a write
 *                that fails midway (disk full, file size limit) leaves the
 *                old file whole and no temporary file behind.  The last
 *                component is never followed (a symlink there is a
 *                PermissionError).  In a rw mount a missing file is a
 *                PermissionError (creating needs rwc), and the rename is a
 *                RENAME_EXCHANGE, which fails if the target vanished; rwc
 *                creates it 0644.  A replaced file keeps its permission bits
 *                (never set-id bits) and, where brig may, its owner; it is a
 *                new inode (other hard links keep the old contents), and brig
 *                must be able to create files in its directory.  Over
 *                max_write_bytes: OSError, and the file is not touched.
 *  mkdir (rwc)   one directory, 0755.  The mount root gives FileExistsError.
 *  remove (rw)   unlinkat on the parent: a file, a symlink itself, or an
 *                empty directory (not empty: OSError).
 * write and remove refuse the mount root (PermissionError); write, mkdir and
 * remove refuse a path whose last component is ".." (ValueError).  A mount
 * whose mode is too weak for the operation gives PermissionError.
 *
 * In a sandbox, an rwc mount is served from the guest's overlay
 * (fs_table_set_view), so fs.* and the guest's own file APIs change the
 * same private layer, which the host commits afterwards (mount_commit.h).
 * What the overlay cannot copy up (owned by a user the sandbox does not
 * map, EOVERFLOW) is a PermissionError.
 */
#ifndef BRIG_FS_H
#define BRIG_FS_H

#include <stdbool.h>
#include <sys/types.h>

#include "brig.h"
#include "hostcall.h"

/* Used for a zero field of brig_fs_limits. */
#define FS_DEFAULT_MAX_BYTES ((size_t)10 << 20)

struct fs_mount_spec {
	const char *vpath;     /* absolute path the guest uses, e.g. "/data" */
	const char *host_path; /* directory on the host */
	brig_mount_mode mode;
};

struct fs_table;

/*
 * Check a guest mount point: absolute, normalised (no "//", no trailing "/",
 * no "." or ".." component), not "/", not equal to or under a directory the
 * jail owns read-only (/proc, /dev, /sys, /usr, /bin, /sbin, /lib, /lib32,
 * /lib64, /libx32, /etc, /run/brig, /opt/brig), not /tmp or /home/user
 * themselves (below them is fine), and not an ancestor of any of those
 * (/home, /run, /opt), which would cover a jail directory.  Returns 0 or
 * BRIG_E_INVAL with err set (err may be NULL).
 */
int fs_vpath_valid(const char *vpath, char *err, size_t errlen);
/* p is dir or lies below it, by whole components. */
bool fs_within(const char *p, const char *dir);
/* No empty, "." or ".." component and no trailing slash (v is absolute). */
bool fs_vpath_normalised(const char *v);

/*
 * Open every mount's host directory (kept as an O_PATH fd, so later renames
 * on the host cannot redirect it).  Specs are copied; lim may be NULL.
 * Returns 0, or with *out NULL and err set: BRIG_E_INVAL (bad vpath or mode,
 * duplicate vpath, host path not a directory), BRIG_E_NOTFOUND (host path
 * missing), BRIG_E_DENIED (host path not accessible), BRIG_E_NOMEM.
 * The table is immutable afterwards and may be used from many threads.
 */
int fs_table_new(const struct fs_mount_spec *specs, size_t n, const brig_fs_limits *lim,
		 struct fs_table **out, char *err, size_t errlen);
void fs_table_free(struct fs_table *t);

/*
 * Resolve with the O_NOFOLLOW component walk even where openat2 works, as on
 * kernels without it.  For tests; call before the table is shared.
 */
void fs_table_force_walk(struct fs_table *t);

/*
 * Serve the mount at vpath from dirfd (duplicated; the host directory's fd
 * is closed) instead of its host directory: an rwc mount's overlay, so that
 * fs.* and the guest's own file APIs see and change the same tree.  When
 * switch_ids is set, each call on it runs with fsuid/fsgid uid/gid (on the
 * calling thread only): a root host process's ids are not mapped in the
 * sandbox's user namespace, and the overlay refuses to create files for
 * them.  Call before the table is shared.  0 or -errno.
 */
int fs_table_set_view(struct fs_table *t, const char *vpath, int dirfd, bool switch_ids, uid_t uid,
		      gid_t gid);

/*
 * Open name, one component beneath dirfd, never following a symbolic link
 * nor crossing a mount point: openat2 with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV, or
 * O_NOFOLLOW and an st_dev check where openat2 is missing.  Returns an fd or
 * -errno: -ELOOP for a symlink, -EXDEV for a mount point.
 */
int fs_open_entry(int dirfd, const char *name, int flags);

/*
 * Open rel beneath rootfd by the fs.* rules (symlinks followed while they
 * stay beneath rootfd; no magic links, no mount crossing).  An fd or -errno.
 */
int fs_open_beneath(int rootfd, const char *rel, int flags);

/*
 * Run one fs call; op is the part after "fs." ("read", "write", "listdir",
 * "exists", "stat", "mkdir", "remove"; anything else is a ValueError).
 * t may be NULL (nothing mounted).  Thread-safe.  rep is initialised first
 * and always filled; release it with hc_reply_clear.
 */
void fs_call(const struct fs_table *t, const char *op, json_t *args, const uint8_t *blob,
	     size_t blob_len, struct hc_reply *rep);

#endif
