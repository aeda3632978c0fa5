#include "pkg_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_why(char *why, size_t whylen, const char *msg, const char *what)
{
	if (why && whylen)
		snprintf(why, whylen, "%s: %.160s", msg, what);
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int pkg_name_normalize(const char *name, char out[PKG_NAME_MAX + 1], char *why, size_t whylen)
{
	size_t n = 0, len = name ? strlen(name) : 0;

	if (len == 0 || len > PKG_NAME_MAX || !is_alnum(name[0]) || !is_alnum(name[len - 1])) {
		set_why(why, whylen, "invalid package name", name ? name : "(none)");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (is_alnum(c)) {
			out[n++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		} else if (c == '-' || c == '_' || c == '.') {
			if (out[n - 1] != '-')
				out[n++] = '-';
		} else {
			set_why(why, whylen, "invalid package name", name);
			return -1;
		}
	}
	out[n] = '\0';
	return 0;
}

int pkg_spec_normalize(const char *spec, char out[PKG_SPEC_MAX + 1], char *why, size_t whylen)
{
	const char *c = spec ? spec : "";
	size_t n = 0;

	while (*c == ' ')
		c++;
	/* A bare version means that version, as pip's own "name==1.0" would. */
	if (is_alnum(*c))
		out[n++] = '=', out[n++] = '=';
	for (; *c; c++) {
		if (*c == ' ')
			continue;
		if (!is_alnum(*c) && !strchr("<>=!~.,*+", *c)) {
			set_why(why, whylen, "invalid version specifier", spec);
			return -1;
		}
		if (n >= PKG_SPEC_MAX) {
			set_why(why, whylen, "version specifier too long", spec);
			return -1;
		}
		out[n++] = *c;
	}
	out[n] = '\0';
	return 0;
}

int pkg_mkdirs(const char *path, int mode)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int remove_at(int parent, const char *name)
{
	int fd, rc = 0;
	DIR *d;
	struct dirent *e;

	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if ((fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	if (!(d = fdopendir(fd))) {
		close(fd);
		return -ENOMEM;
	}
	while (rc == 0 && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc = remove_at(dirfd(d), e->d_name);
	closedir(d);
	if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -errno;
	return rc;
}

int pkg_remove_tree(const char *path)
{
	return remove_at(AT_FDCWD, path);
}

static int link_at(int sfd, int dfd);

static int link_entry(int sfd, int dfd, const struct dirent *e)
{
	struct stat st;
	char target[4096];
	ssize_t n;
	int s, d, rc;

	if (fstatat(sfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		return linkat(sfd, e->d_name, dfd, e->d_name, 0) == 0 || errno == EEXIST ? 0
											 : -errno;
	if (S_ISLNK(st.st_mode)) {
		if ((n = readlinkat(sfd, e->d_name, target, sizeof(target) - 1)) < 0)
			return -errno;
		target[n] = '\0';
		return symlinkat(target, dfd, e->d_name) == 0 || errno == EEXIST ? 0 : -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	if (mkdirat(dfd, e->d_name, 0755) < 0 && errno != EEXIST)
		return -errno;
	s = openat(sfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	rc = s < 0 || d < 0 ? -errno : link_at(s, d);
	if (s >= 0)
		close(s);
	if (d >= 0)
		close(d);
	return rc;
}

/* Both fds stay the caller's. */
static int link_at(int sfd, int dfd)
{
	int own = dup(sfd), rc = 0;
	DIR *dir = own >= 0 ? fdopendir(own) : NULL;
	struct dirent *e;

	if (!dir) {
		if (own >= 0)
			close(own);
		return -ENOMEM;
	}
	while (rc == 0 && (e = readdir(dir)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc = link_entry(sfd, dfd, e);
	closedir(dir);
	return rc;
}

int pkg_link_tree(const char *src, const char *dst)
{
	int s = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int d = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = s < 0 || d < 0 ? -errno : link_at(s, d);

	if (s >= 0)
		close(s);
	if (d >= 0)
		close(d);
	return rc;
}

int pkg_lock(const char *dir, struct hc_cancel *cancel)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/.lock", dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return -errno;
	/* flock cannot be interrupted: poll for it, and for the run's end. */
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		struct pollfd p = {hc_cancel_fd(cancel), POLLIN, 0};

		if (errno != EWOULDBLOCK || poll(&p, 1, 50) > 0 || hc_cancelled(cancel)) {
			int e = errno == EWOULDBLOCK ? ECANCELED : errno;

			close(fd);
			return -e;
		}
	}
	return fd;
}

/* The specifier as a file name: hex, so that no character of it matters. */
static void memo_path(const char *dir, const char *spec, char *out, size_t len)
{
	size_t n = (size_t)snprintf(out, len, "%s/specs/_", dir);

	for (const unsigned char *c = (const unsigned char *)spec; *c && n + 3 < len; c++)
		n += (size_t)snprintf(out + n, len - n, "%02x", *c);
}

static bool version_valid(const char *v)
{
	if (!*v || strlen(v) > 64 || v[0] == '.')
		return false;
	for (; *v; v++)
		if (!is_alnum(*v) && !strchr(".+!_", *v))
			return false;
	return true;
}

int pkg_memo_get(const char *dir, const char *spec, char *version, size_t len)
{
	char path[4096];
	struct stat st;
	FILE *f;
	bool ok;

	memo_path(dir, spec, path, sizeof(path));
	if (!(f = fopen(path, "re")))
		return -1;
	ok = fgets(version, (int)len, f) != NULL;
	fclose(f);
	if (!ok || !version_valid(version))
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, version);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

void pkg_memo_put(const char *dir, const char *spec, const char *version)
{
	char path[4096], tmp[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/specs", dir);
	(void)pkg_mkdirs(path, 0755);
	memo_path(dir, spec, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!(f = fopen(tmp, "we")))
		return;
	fputs(version, f);
	if (fclose(f) == 0)
		(void)!rename(tmp, path);
}

int pkg_installed_version(const char *site, const char *name, char *version, size_t len)
{
	DIR *d = opendir(site);
	struct dirent *e;
	int rc = -1;

	while (d && rc < 0 && (e = readdir(d))) {
		char norm[PKG_NAME_MAX + 1], base[PKG_NAME_MAX + 1];
		const char *dash = strchr(e->d_name, '-');
		size_t blen = dash ? (size_t)(dash - e->d_name) : 0;
		size_t nlen = strlen(e->d_name);

		if (!dash || blen > PKG_NAME_MAX || nlen < 11 ||
		    strcmp(e->d_name + nlen - 10, ".dist-info") != 0)
			continue;
		memcpy(base, e->d_name, blen);
		base[blen] = '\0';
		if (pkg_name_normalize(base, norm, NULL, 0) != 0 || strcmp(norm, name) != 0)
			continue;
		snprintf(version, len, "%.*s", (int)(nlen - 10 - blen - 1), dash + 1);
		rc = version_valid(version) ? 0 : -1;
	}
	if (d)
		closedir(d);
	return rc;
}

/* The project a "NAME-VERSION.dist-info" entry is of, normalised; or -1. */
static int dist_info_name(const char *entry, char name[PKG_NAME_MAX + 1], const char **version)
{
	const char *dash = strchr(entry, '-');
	size_t len = strlen(entry), blen = dash ? (size_t)(dash - entry) : 0;
	char base[PKG_NAME_MAX + 1];

	if (!dash || blen > PKG_NAME_MAX || len < 11 || strcmp(entry + len - 10, ".dist-info"))
		return -1;
	memcpy(base, entry, blen);
	base[blen] = '\0';
	*version = dash + 1;
	return pkg_name_normalize(base, name, NULL, 0);
}

/* Remove dir's dist-info directories of the project name. */
static void drop_dist_info(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char other[PKG_NAME_MAX + 1], path[4096];
	const char *v;

	while (d && (e = readdir(d)))
		if (dist_info_name(e->d_name, other, &v) == 0 && strcmp(other, name) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			(void)pkg_remove_tree(path);
		}
	if (d)
		closedir(d);
}

int pkg_merge_site(const char *site, const char *dir)
{
	DIR *d = opendir(site);
	struct dirent *e;
	char from[4096], to[4096], name[PKG_NAME_MAX + 1];
	const char *v;
	int rc = d ? 0 : -errno;

	while (d && rc == 0 && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (dist_info_name(e->d_name, name, &v) == 0)
			drop_dist_info(dir, name);
		snprintf(from, sizeof(from), "%s/%s", site, e->d_name);
		snprintf(to, sizeof(to), "%s/%s", dir, e->d_name);
		if ((rc = pkg_remove_tree(to)) == 0 && rename(from, to) < 0)
			rc = -errno;
	}
	if (d)
		closedir(d);
	return rc;
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *pkg_list_site(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **lines = NULL, *out = NULL, name[PKG_NAME_MAX + 1];
	size_t n = 0, total = 1;
	const char *v;

	while (d && (e = readdir(d))) {
		char **more;
		size_t vlen;

		if (dist_info_name(e->d_name, name, &v) != 0)
			continue;
		vlen = strlen(v) - 10;
		if (!(more = realloc(lines, (n + 1) * sizeof(*lines))))
			break;
		lines = more;
		if (!(lines[n] = malloc(strlen(name) + vlen + 3)))
			break;
		sprintf(lines[n], "%s %.*s\n", name, (int)vlen, v);
		total += strlen(lines[n++]);
	}
	if (d)
		closedir(d);
	if (d && n < SIZE_MAX && (out = malloc(total))) {
		qsort(lines, n, sizeof(*lines), by_text);
		out[0] = '\0';
		for (size_t i = 0; i < n; i++)
			strcat(out, lines[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return out;
}
