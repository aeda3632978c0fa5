/* Reading and writing the small control files of /proc and /sys. */
#ifndef BRIG_SYSFILE_H
#define BRIG_SYSFILE_H

#include <stddef.h>

/* Read dir/file (file may be NULL: dir is the path) into buf, NUL-terminated.
 * Returns 0 or -errno. */
int sysfile_read(const char *dir, const char *file, char *buf, size_t len);
/* Write val to dir/file (file may be NULL) in one write.  Returns 0 or -errno. */
int sysfile_write(const char *dir, const char *file, const char *val);
/* The decimal number at the start of a file, or -1. */
long sysfile_long(const char *path);

#endif
