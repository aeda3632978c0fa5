#include "cli/serve_load.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"

#define MAX_FILE_BYTES (4u << 20)

static int read_file(const char *path, struct buf *b, bool secret, char *err, size_t errlen)
{
	char chunk[8192];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st)) {
		snprintf(err, errlen, "%s", strerror(errno));
		goto fail;
	}
	/* Secrets readable by others are secrets no longer. */
	if (secret && (st.st_mode & 0077)) {
		snprintf(err, errlen, "readable by group or others (chmod 600 it)");
		goto fail;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || b->len + (size_t)n > MAX_FILE_BYTES ||
		    buf_append(b, chunk, (size_t)n)) {
			snprintf(err, errlen, "%s", n < 0 ? strerror(errno) : "larger than 4 MiB");
			goto fail;
		}
	}
	close(fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	buf_free(b);
	return -1;
}

int serve_load_tokens(const char *path, struct serve_tokens *t, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	int rc;

	if (read_file(path, &b, true, err, errlen))
		return -1;
	rc = serve_tokens_parse(b.data ? b.data : "", b.len, t, err, errlen);
	if (b.data)
		memset(b.data, 0, b.len);
	buf_free(&b);
	return rc;
}

int serve_load_policy(const char *path, struct serve_policy *p, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	int rc;

	if (read_file(path, &b, false, err, errlen))
		return -1;
	rc = serve_policy_parse(b.data ? b.data : "", b.len, p, err, errlen);
	buf_free(&b);
	return rc;
}

void serve_config(brig_config *cfg)
{
	brig_config_init(cfg);
	cfg->guest_dir = getenv("BRIG_GUEST_DIR");
	cfg->zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	cfg->native_dir = getenv("BRIG_NATIVE_DIR");
	cfg->warm_start = 1;
}

int serve_open_stores(struct serve_policy *p, char *err, size_t errlen)
{
	err[0] = '\0';
	for (size_t i = 0; i < p->n; i++) {
		struct serve_grant *g = &p->grants[i];

		for (size_t j = 0; j < g->nkvs; j++) {
			int rc = brig_kv_open(g->kvs[j].value, NULL, &g->kvs[j].kv);
			if (rc) {
				snprintf(err, errlen, "kv store '%s' of '%s' (%s): %s",
					 g->kvs[j].name, g->name, g->kvs[j].value,
					 brig_strerror(rc));
				return -1;
			}
		}
	}
	return 0;
}
