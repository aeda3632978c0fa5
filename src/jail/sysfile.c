#include "jail/sysfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int join(char *out, size_t len, const char *dir, const char *file)
{
	int n = file ? snprintf(out, len, "%s/%s", dir, file) : snprintf(out, len, "%s", dir);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sysfile_read(const char *dir, const char *file, char *buf, size_t len)
{
	char path[512];
	ssize_t n;
	int fd, rc;

	if ((rc = join(path, sizeof(path), dir, file)) < 0)
		return rc;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return rc;
}

int sysfile_write(const char *dir, const char *file, const char *val)
{
	char path[512];
	size_t len = strlen(val);
	int fd, rc;

	if ((rc = join(path, sizeof(path), dir, file)) < 0)
		return rc;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -errno;
	rc = write(fd, val, len) == (ssize_t)len ? 0 : -errno;
	close(fd);
	return rc;
}

long sysfile_long(const char *path)
{
	char buf[32];

	if (sysfile_read(path, NULL, buf, sizeof(buf)) < 0 || !buf[0])
		return -1;
	return strtol(buf, NULL, 10);
}
