/* Whole reads and writes on a file descriptor, retried across EINTR and short counts. */
#ifndef BRIG_UTIL_FDIO_H
#define BRIG_UTIL_FDIO_H

#include <stddef.h>

#include "util/buf.h"

/* Write all n bytes.  Returns 0 or -errno. */
int fd_write_all(int fd, const void *p, size_t n);
/* Append everything up to end of file to b.  Returns 0 or -errno (-ENOMEM). */
int fd_read_all(int fd, struct buf *b);

#endif
