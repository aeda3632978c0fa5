/*
 * Forking a live node process (plain C; addon.c is the N-API glue).
 *
 * A copy-on-write child of node keeps running JavaScript with the parent's
 * whole heap when node runs with --single-threaded (V8 then posts no work
 * to platform threads, which the child would not have), every mapping is
 * made inheritable again before the fork (V8 marks its heap and code range
 * MADV_DONTFORK), and the child gives libuv's loop its own kernel objects
 * (uv_loop_fork) before it returns to JavaScript.  Fork only while idle:
 * thread pool requests in flight never complete in the child.
 */
#ifndef BRIG_NODE_FORK_H
#define BRIG_NODE_FORK_H

#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

/*
 * Clear V8's don't-copy flag: madvise(MADV_DOFORK) every mapping of
 * /proc/self/maps but the kernel's own ([vvar], [vdso], [vsyscall]).
 * Returns 0 or -errno.
 */
int node_fork_prepare(void);

/*
 * fork(), with the child orphaned at once, so that the reaper of our parent
 * (the jail's init) adopts it.  A vfork()ed helper makes the child with
 * glibc's fork(), so every pthread_atfork handler runs (libuv's thread pool
 * and signal lock, OpenSSL) and glibc's own state is the child's, and exits
 * at once: one copy of the address space, as with clone(CLONE_PARENT).
 * The child waits until it is adopted, so that a stop it makes is reported
 * to the adopter.  Returns the child's pid, 0 in the child, or -errno.
 */
pid_t node_fork_orphan(void);

/*
 * Become a snapshot holder: stop, and on each wake-up make a spare, a copy
 * forked as node_fork_orphan forks, which returns to get ready and then
 * calls node_fork_stop.  The holder names it to the jail's init (the
 * datagram of jail.h), which takes it once it stopped, and stops again.
 * Returns only in a copy, with the holder's pid; never in the holder.
 */
pid_t node_fork_hold(void);

/* A spare, ready: stop until a restore wakes it. */
void node_fork_stop(void);

/* Wait, within limit_ms, until pid is stopped (or gone); true when it is. */
bool node_fork_wait_stopped(pid_t pid, int limit_ms);

/*
 * First steps of a child, before any JavaScript: libuv's loop gets its own
 * epoll, eventfd and signal pipe.  Returns 0 or a libuv error.
 */
int node_fork_child(uv_loop_t *loop);

#endif
