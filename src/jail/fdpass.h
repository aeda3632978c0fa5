/* One message and the fds that travel with it, on a unix socket. */
#ifndef BRIG_FDPASS_H
#define BRIG_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Most fds one message carries. */
#define FDPASS_MAX 16

/* Send buf with nfds fds (0 for none).  0, or -1 with errno. */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds, int nfds);

/*
 * Receive one message into buf (cap bytes) and up to max fds (close-on-exec).
 * Returns its length (0 at end of file) or -1 with errno; *nfds counts the
 * fds received; *cut is set when the message or its fds did not fit.
 */
ssize_t fdpass_recv(int sock, void *buf, size_t cap, int *fds, int max, int *nfds, int *cut);

#endif
