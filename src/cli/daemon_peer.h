/*
 * Who may use the daemon: a process of the same user, in the same mount
 * namespace, confined exactly as the daemon is (capabilities, no_new_privs,
 * seccomp).  A peer confined more tightly (a container's root with fewer
 * capabilities or a seccomp filter, a process in a mount namespace of its
 * own) would otherwise get jails built with the daemon's reach: host paths
 * resolved in the daemon's mount namespace, ids mapped with its
 * capabilities.
 */
#ifndef BRIG_CLI_DAEMON_PEER_H
#define BRIG_CLI_DAEMON_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* How confined pid (0: this process) is, as text; -1 when it cannot be read. */
int peer_confinement(pid_t pid, char *buf, size_t len);

/* Whether the peer of the connected unix socket fd may be served. */
bool peer_allowed(int fd, const char *self_confinement);

#endif
