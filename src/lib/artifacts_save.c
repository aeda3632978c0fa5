/*
 * brig_result_write_artifacts: a run's artifacts into a host directory.
 * Artifact names come from the guest, so every step below the directory is
 * taken relative to an fd, with O_NOFOLLOW: a link planted where a
 * directory or file goes is refused, never followed, and files are
 * created under a fresh name and renamed into place, so an existing hard
 * link is replaced rather than written through.
 */
#include "lib/internal.h"
#include "util/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(char **why, int code, const char *name, const char *what)
{
	if (why && asprintf(why, "%s: %s", name, what) < 0)
		*why = NULL;
	return code;
}

/* Why path component comp of dfd cannot be used: a link, or errno. */
static int refusal(int dfd, const char *comp, int err, const char *name, char **why)
{
	struct stat st;

	if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
		return fail(why, BRIG_E_DENIED, name, "a symbolic link is in the way");
	return fail(why, BRIG_E_IO, name, strerror(err));
}

static bool component_ok(const char *c)
{
	return *c && strcmp(c, ".") != 0 && strcmp(c, "..") != 0;
}

/* Open (creating) directory comp below dfd, never through a link. */
static int enter_dir(int dfd, const char *comp, const char *name, char **why, int *out)
{
	if (mkdirat(dfd, comp, 0755) < 0 && errno != EEXIST)
		return fail(why, BRIG_E_IO, name, strerror(errno));
	*out = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return *out < 0 ? refusal(dfd, comp, errno, name, why) : BRIG_OK;
}

static int put_file(int dfd, const char *base, const struct artifact *a, char **why)
{
	char tmp[64];
	struct stat st;
	int fd, e;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
		return S_ISLNK(st.st_mode)
			   ? fail(why, BRIG_E_DENIED, a->name, "a symbolic link is in the way")
			   : fail(why, BRIG_E_IO, a->name, "something other than a file is there");
	for (unsigned i = 0;; i++) {
		snprintf(tmp, sizeof(tmp), ".brig-artifact-%d-%u", (int)getpid(), i);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST || i > 100)
			break;
	}
	if (fd < 0)
		return fail(why, BRIG_E_IO, a->name, strerror(errno));
	if ((errno = -fd_write_all(fd, a->data.data ? a->data.data : "", a->data.len)) != 0 ||
	    close(fd) < 0 || renameat(dfd, tmp, dfd, base) < 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		return fail(why, BRIG_E_IO, a->name, strerror(e));
	}
	return BRIG_OK;
}

static int save_one(int top, const struct artifact *a, char **why)
{
	char *path = strdup(a->name), *comp, *slash;
	int dfd = top, rc = BRIG_OK;

	if (!path)
		return BRIG_E_NOMEM;
	for (comp = path; rc == BRIG_OK && (slash = strchr(comp, '/')); comp = slash + 1) {
		int next;

		*slash = '\0';
		if (!component_ok(comp)) {
			rc = fail(why, BRIG_E_DENIED, a->name, "not a relative path");
			break;
		}
		rc = enter_dir(dfd, comp, a->name, why, &next);
		if (dfd != top)
			close(dfd);
		dfd = rc == BRIG_OK ? next : top;
	}
	if (rc == BRIG_OK)
		rc = component_ok(comp) ? put_file(dfd, comp, a, why)
					: fail(why, BRIG_E_DENIED, a->name, "not a relative path");
	if (dfd != top)
		close(dfd);
	free(path);
	return rc;
}

int brig_result_write_artifacts(const brig_result *r, const char *dir, char **why)
{
	int top, rc = BRIG_OK;

	if (why)
		*why = NULL;
	if (!r || !dir)
		return BRIG_E_INVAL;
	if ((top = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return fail(why, BRIG_E_IO, dir, strerror(errno));
	for (size_t i = 0; i < r->narts && rc == BRIG_OK; i++)
		rc = save_one(top, &r->arts[i], why);
	close(top);
	return rc;
}
