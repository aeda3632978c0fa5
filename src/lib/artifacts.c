/*
 * Artifacts: the files a guest left in its outputs directory, read into the
 * result once the jail is gone, so nothing in the guest can change them
 * while they are read.  The directory is a tmpfs of its own (rootfs.c), so
 * its size and inode count already bound what there is to read; the walk
 * still opens nothing through a link and stops at ARTIFACTS_DEPTH.
 */
#include "lib/internal.h"
#include "util/fdio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARTIFACTS_DEPTH 8

static const struct {
	const char *ext;
	const char *mime;
} mime_types[] = {
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"svg", "image/svg+xml"},
    {"pdf", "application/pdf"},
    {"html", "text/html"},
    {"htm", "text/html"},
    {"txt", "text/plain"},
    {"log", "text/plain"},
    {"md", "text/markdown"},
    {"csv", "text/csv"},
    {"tsv", "text/tab-separated-values"},
    {"json", "application/json"},
    {"jsonl", "application/x-ndjson"},
    {"xml", "application/xml"},
    {"js", "text/javascript"},
    {"py", "text/x-python"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"parquet", "application/vnd.apache.parquet"},
    {"wav", "audio/wav"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
};

const char *artifact_mime(const char *name)
{
	const char *base = strrchr(name, '/'), *dot;

	base = base ? base + 1 : name;
	dot = strrchr(base, '.');
	if (dot && dot != base) {
		for (size_t i = 0; i < sizeof(mime_types) / sizeof(mime_types[0]); i++) {
			if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
				return mime_types[i].mime;
		}
	}
	return "application/octet-stream";
}

struct walk {
	brig_result *r;
	uint32_t max;
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entry names of dir (without . and ..), sorted; NULL on failure. */
static char **list_dir(int dfd, size_t *n)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **v = NULL, **grown;
	struct dirent *e;

	*n = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!(grown = realloc(v, (*n + 1) * sizeof(*v))))
			break;
		v = grown;
		if (!(v[*n] = strdup(e->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), by_name);
	return v ? v : calloc(1, sizeof(*v));
}

static int add_file(struct walk *w, int dfd, const char *entry, const char *name)
{
	int fd = openat(dfd, entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct artifact a = {.mime = artifact_mime(name)}, *grown;
	struct stat st;
	int rc = BRIG_OK;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || w->r->narts >= w->max) {
		w->r->arts_trunc = true;
		goto out;
	}
	if (!(a.name = strdup(name)) || fd_read_all(fd, &a.data) < 0 ||
	    !(grown = realloc(w->r->arts, (w->r->narts + 1) * sizeof(*grown)))) {
		free(a.name);
		buf_free(&a.data);
		rc = BRIG_E_NOMEM;
		goto out;
	}
	w->r->arts = grown;
	w->r->arts[w->r->narts++] = a;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

static int walk_dir(struct walk *w, int dfd, const char *prefix, int depth)
{
	size_t n;
	char **names = list_dir(dfd, &n), name[4096];
	int rc = BRIG_OK;
	struct stat st;

	/* A directory the guest made unreadable is its own loss, not an error. */
	if (!names) {
		w->r->arts_trunc = true;
		return BRIG_OK;
	}

	for (size_t i = 0; i < n && rc == BRIG_OK; i++) {
		if (snprintf(name, sizeof(name), "%s%s", prefix, names[i]) >= (int)sizeof(name) ||
		    fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			w->r->arts_trunc = true;
		} else if (S_ISDIR(st.st_mode) && depth < ARTIFACTS_DEPTH) {
			int sub =
			    openat(dfd, names[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			size_t len = strlen(name);

			if (sub < 0 || len + 2 > sizeof(name)) {
				w->r->arts_trunc = true;
			} else {
				memcpy(name + len, "/", 2);
				rc = walk_dir(w, sub, name, depth + 1);
			}
			if (sub >= 0)
				close(sub);
		} else {
			rc = add_file(w, dfd, names[i], name);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int artifacts_collect(brig_result *r, int dirfd, uint32_t max_files)
{
	struct walk w = {r, max_files};

	return walk_dir(&w, dirfd, "", 0);
}

void artifacts_free(brig_result *r)
{
	for (size_t i = 0; i < r->narts; i++) {
		free(r->arts[i].name);
		buf_free(&r->arts[i].data);
	}
	free(r->arts);
	r->arts = NULL;
	r->narts = 0;
}

size_t brig_result_artifact_count(const brig_result *r)
{
	return r ? r->narts : 0;
}

int brig_result_artifact(const brig_result *r, size_t i, const char **name, const char **mime,
			 const void **data, size_t *len)
{
	const struct artifact *a;

	if (!r || i >= r->narts)
		return BRIG_E_NOTFOUND;
	a = &r->arts[i];
	if (name)
		*name = a->name;
	if (mime)
		*mime = a->mime;
	if (data)
		*data = a->data.data ? a->data.data : "";
	if (len)
		*len = a->data.len;
	return BRIG_OK;
}

bool brig_result_artifacts_truncated(const brig_result *r)
{
	return r && r->arts_trunc;
}
