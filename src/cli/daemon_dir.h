/*
 * Where this user's brig daemon lives, and whether a run may use it.
 *
 * The directory is $BRIG_DAEMON_DIR, else $XDG_RUNTIME_DIR/brig, else
 * /tmp/brig-<uid>.  It holds daemon.sock (spawn requests), control.sock
 * (status, stop) and daemon.pid (the daemon's lock, and what a client
 * checks before it uses the daemon).  Only a real directory (not a
 * symlink) owned by this user with mode 0700 is trusted: anybody can
 * create /tmp/brig-<uid> first.
 */
#ifndef BRIG_CLI_DAEMON_DIR_H
#define BRIG_CLI_DAEMON_DIR_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DAEMON_SUN_PATH 108 /* sizeof(sockaddr_un.sun_path) */

/* The directory's path is short enough for its sockets' paths. */
struct daemon_paths {
	char dir[DAEMON_SUN_PATH];
	char sock[DAEMON_SUN_PATH];
	char control[DAEMON_SUN_PATH];
	char pidfile[DAEMON_SUN_PATH + 16];
};

/* The paths from the environment; -1 with a message when they are too long. */
int daemon_paths_get(struct daemon_paths *p, char *err, size_t errlen);

/*
 * Check the directory (create it first, 0700, when create): 0, or -1 with
 * a message saying what is wrong with it.  Never follows a symlink.
 */
int daemon_dir_check(const char *dir, bool create, char *err, size_t errlen);

/* What the daemon writes to daemon.pid. */
struct daemon_info {
	long pid;
	long long started; /* seconds since the epoch */
	unsigned long long mntns_dev, mntns_ino;
	char inherited[1024]; /* daemon_inherited() */
	char guest_dir[PATH_MAX];
};

/*
 * What a jail's init inherits from the process that spawns it and the
 * plan does not set, as text: umask, nice value, scheduling policy, CPU
 * affinity, OOM score adjustment, resource limits (but RLIMIT_NOFILE,
 * which every plan sets) and confinement (no_new_privs, seccomp).  A cold
 * init inherits the CLI's, a warm one the daemon's: a run uses the daemon
 * only where they are the same.  Changes the umask for an instant: call it
 * before any thread starts.  -1 when it does not fit.
 */
int daemon_inherited(char *buf, size_t len);

/* The guest agents' directory as this process's executor resolves it. */
const char *daemon_guest_dir(void);
/* This process as a daemon: pid, now, mount namespace, guest directory. */
int daemon_info_self(struct daemon_info *info);
int daemon_info_format(const struct daemon_info *info, char *buf, size_t len);
/* Read and parse daemon.pid (never through a symlink); -1 when unusable. */
int daemon_info_read(const char *pidfile, struct daemon_info *info);

/*
 * For a run of this process: the socket of a daemon that can serve it, or
 * -1 (start cold).  The daemon must be in this process's mount namespace
 * (a jail's init resolves mount sources by path in the daemon's) and use
 * the same guest agents, and its jails must inherit what this process's
 * would (daemon_inherited).  Whether it answers is found when the run
 * connects; one that does not is a cold start too.
 */
int daemon_for_run(char *sock, size_t len);

#endif
