/* Capability sets: built by the embedder, frozen into a private copy per run. */
#include "lib/internal.h"

#include <stdlib.h>
#include <string.h>

#include "host/fs.h"
#include "host/http.h"

int brig_caps_new(brig_caps **out)
{
	if (!out)
		return BRIG_E_INVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? BRIG_OK : BRIG_E_NOMEM;
}

static void mounts_free(struct mount_spec *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].vpath);
		free(m[i].host_path);
	}
	free(m);
}

void brig_caps_free(brig_caps *caps)
{
	if (!caps)
		return;
	strv_free(&caps->hosts);
	mounts_free(caps->mounts, caps->nmounts);
	fn_table_free(&caps->fns);
	pkg_caps_free(caps->pkg);
	free(caps->outputs);
	free(caps);
}

int brig_caps_allow_host(brig_caps *caps, const char *host_port)
{
	char err[256];

	if (!caps || !host_port || http_allow_entry_valid(host_port, err, sizeof(err)) < 0)
		return BRIG_E_INVAL;
	return strv_push(&caps->hosts, host_port) ? BRIG_E_NOMEM : BRIG_OK;
}

static int add_mount(brig_caps *caps, const char *vpath, const char *host_path,
		     brig_mount_mode mode)
{
	struct mount_spec *v = realloc(caps->mounts, (caps->nmounts + 1) * sizeof(*v));
	struct mount_spec m = {strdup(vpath), strdup(host_path), mode};

	if (v)
		caps->mounts = v;
	if (!v || !m.vpath || !m.host_path) {
		free(m.vpath);
		free(m.host_path);
		return BRIG_E_NOMEM;
	}
	caps->mounts[caps->nmounts++] = m;
	return BRIG_OK;
}

int brig_caps_mount(brig_caps *caps, const char *vpath, const char *host_path, brig_mount_mode mode)
{
	char err[256];

	if (!caps || !vpath || !host_path || !*host_path || mode > BRIG_MOUNT_RWC ||
	    fs_vpath_valid(vpath, err, sizeof(err)) < 0)
		return BRIG_E_INVAL;
	for (size_t i = 0; i < caps->nmounts; i++) {
		if (strcmp(caps->mounts[i].vpath, vpath) == 0)
			return BRIG_E_INVAL;
	}
	return add_mount(caps, vpath, host_path, mode);
}

int brig_caps_set_kv(brig_caps *caps, brig_kv *kv)
{
	if (!caps)
		return BRIG_E_INVAL;
	caps->kv = kv;
	return BRIG_OK;
}

int brig_caps_add_function(brig_caps *caps, const char *name, brig_host_fn fn, void *userdata)
{
	if (!caps)
		return BRIG_E_INVAL;
	return fn_table_add(&caps->fns, name, fn, userdata);
}

int brig_caps_set_outputs(brig_caps *caps, const char *vpath, uint32_t max_files,
			  uint64_t max_bytes)
{
	char err[256], *copy = NULL;

	if (!caps || max_files > ARTIFACTS_MAX_FILES || max_bytes > ARTIFACTS_MAX_BYTES ||
	    (vpath && fs_vpath_valid(vpath, err, sizeof(err)) < 0))
		return BRIG_E_INVAL;
	if (vpath && !(copy = strdup(vpath)))
		return BRIG_E_NOMEM;
	free(caps->outputs);
	caps->outputs = copy;
	caps->outputs_set = true;
	caps->max_artifacts = max_files;
	caps->artifact_bytes = max_bytes;
	return BRIG_OK;
}

void brig_caps_set_http_limits(brig_caps *caps, const brig_http_limits *limits)
{
	if (caps && limits)
		caps->http = *limits;
}

void brig_caps_set_fs_limits(brig_caps *caps, const brig_fs_limits *limits)
{
	if (caps && limits)
		caps->fs = *limits;
}

void brig_caps_set_proxy_limits(brig_caps *caps, const brig_proxy_limits *limits)
{
	if (caps && limits)
		caps->proxy = *limits;
}

/*
 * Deep-copy src (may be NULL) and merge the executor's functions in, so the
 * run's capabilities cannot change under it nor leak into another run.
 */
int caps_freeze(const brig_caps *src, const struct fn_table *exec_fns, brig_caps **out)
{
	brig_caps *c;
	int rc = BRIG_E_NOMEM;

	if ((rc = brig_caps_new(&c)))
		return rc;
	rc = BRIG_E_NOMEM;
	if (src) {
		c->kv = src->kv;
		c->http = src->http;
		c->fs = src->fs;
		c->proxy = src->proxy;
		if ((rc = pkg_caps_copy(&c->pkg, src->pkg)))
			goto fail;
		rc = BRIG_E_NOMEM;
		if (src->outputs_set &&
		    brig_caps_set_outputs(c, src->outputs, src->max_artifacts, src->artifact_bytes))
			goto fail;
		if (strv_copy(&c->hosts, &src->hosts))
			goto fail;
		for (size_t i = 0; i < src->nmounts; i++) {
			const struct mount_spec *m = &src->mounts[i];
			if (add_mount(c, m->vpath, m->host_path, m->mode))
				goto fail;
		}
		if ((rc = fn_table_copy(&c->fns, &src->fns)))
			goto fail;
	}
	/* A run's own grant shadows an executor-wide function of the same name. */
	for (size_t i = 0; i < exec_fns->n; i++) {
		const struct host_fn *f = &exec_fns->v[i];
		if (!fn_table_find(&c->fns, f->name) &&
		    (rc = fn_table_add(&c->fns, f->name, f->fn, f->userdata)))
			goto fail;
	}
	*out = c;
	return BRIG_OK;
fail:
	brig_caps_free(c);
	return rc;
}
