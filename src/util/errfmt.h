/* Formatting an error message into a caller's buffer.  Pure. */
#ifndef BRIG_UTIL_ERRFMT_H
#define BRIG_UTIL_ERRFMT_H

#include <stddef.h>

/* Format into err (when err and errlen are nonzero) and return code, so that
 * callers can write `return errfmt(err, errlen, BRIG_E_INVAL, ...)`. */
int errfmt(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
