/*
 * install_pkg: which packages a run may install, pip in a sandbox of its own
 * whose only egress is the index, the cache, and the run's view of it.
 */
#include "lib/packages.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/hostcall.h"
#include "host/pkg_cache.h"

#define DEFAULT_INDEX "https://pypi.org/simple"
#define DEFAULT_MAX_BYTES (256ull << 20)
#define DEFAULT_TIMEOUT_MS 300000u
#define PIP_MEMORY (512ull << 20)
#define PIP_OUTPUT (64u << 10)

struct pkg_caps {
	struct strv names; /* normalised */
	bool any;
	char *index;
	char *cache;
	brig_package_limits lim;
	struct strv dirs; /* brig_caps_add_packages */
};

/* ---------------------------------------------------------- capabilities */

static struct pkg_caps *pkg_of(brig_caps *caps)
{
	if (!caps->pkg)
		caps->pkg = calloc(1, sizeof(*caps->pkg));
	return caps->pkg;
}

void pkg_caps_free(struct pkg_caps *p)
{
	if (!p)
		return;
	strv_free(&p->names);
	strv_free(&p->dirs);
	free(p->index);
	free(p->cache);
	free(p);
}

static int dup_str(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -1 : 0;
}

int pkg_caps_copy(struct pkg_caps **dst, const struct pkg_caps *src)
{
	struct pkg_caps *p;

	*dst = NULL;
	if (!src)
		return BRIG_OK;
	if (!(p = calloc(1, sizeof(*p))))
		return BRIG_E_NOMEM;
	p->any = src->any;
	p->lim = src->lim;
	if (strv_copy(&p->names, &src->names) || strv_copy(&p->dirs, &src->dirs) ||
	    dup_str(&p->index, src->index) || dup_str(&p->cache, src->cache)) {
		pkg_caps_free(p);
		return BRIG_E_NOMEM;
	}
	*dst = p;
	return BRIG_OK;
}

int brig_caps_allow_package(brig_caps *caps, const char *name)
{
	char norm[PKG_NAME_MAX + 1];

	if (!caps || pkg_name_normalize(name, norm, NULL, 0) != 0)
		return BRIG_E_INVAL;
	if (!pkg_of(caps))
		return BRIG_E_NOMEM;
	return strv_push(&caps->pkg->names, norm) ? BRIG_E_NOMEM : BRIG_OK;
}

int brig_caps_allow_any_package(brig_caps *caps)
{
	if (!caps)
		return BRIG_E_INVAL;
	if (!pkg_of(caps))
		return BRIG_E_NOMEM;
	caps->pkg->any = true;
	return BRIG_OK;
}

/* "http(s)://host[:port]/path": no credentials, nothing a shell would read. */
static bool index_valid(const char *url)
{
	const char *auth = strncmp(url, "https://", 8) == 0  ? url + 8
			   : strncmp(url, "http://", 7) == 0 ? url + 7
							     : NULL;
	size_t alen;

	if (!auth || strlen(url) > 2048)
		return false;
	alen = strcspn(auth, "/");
	if (alen == 0 || memchr(auth, '@', alen))
		return false;
	for (const char *c = url; *c; c++)
		if (*c <= ' ' || *c >= 0x7f || strchr("'\"\\`$", *c))
			return false;
	return true;
}

static int replace_str(char **slot, const char *v)
{
	char *copy = strdup(v);

	if (!copy)
		return BRIG_E_NOMEM;
	free(*slot);
	*slot = copy;
	return BRIG_OK;
}

int brig_caps_set_package_index(brig_caps *caps, const char *url)
{
	if (!caps || !url || !index_valid(url))
		return BRIG_E_INVAL;
	return pkg_of(caps) ? replace_str(&caps->pkg->index, url) : BRIG_E_NOMEM;
}

int brig_caps_set_package_cache(brig_caps *caps, const char *dir)
{
	if (!caps || !dir || dir[0] != '/' || strlen(dir) > 1024)
		return BRIG_E_INVAL;
	return pkg_of(caps) ? replace_str(&caps->pkg->cache, dir) : BRIG_E_NOMEM;
}

void brig_caps_set_package_limits(brig_caps *caps, const brig_package_limits *limits)
{
	if (caps && limits && pkg_of(caps))
		caps->pkg->lim = *limits;
}

int brig_caps_add_packages(brig_caps *caps, const char *dir)
{
	if (!caps || !dir || dir[0] != '/')
		return BRIG_E_INVAL;
	if (!pkg_of(caps))
		return BRIG_E_NOMEM;
	return strv_push(&caps->pkg->dirs, dir) ? BRIG_E_NOMEM : BRIG_OK;
}

const struct strv *pkg_caps_dirs(const struct pkg_caps *c)
{
	return c ? &c->dirs : NULL;
}

/* ------------------------------------------------------------- the run */

static bool installs(const struct pkg_caps *c)
{
	return c && (c->any || c->names.n);
}

static char *default_cache(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char buf[PATH_MAX];

	if (xdg && xdg[0] == '/')
		snprintf(buf, sizeof(buf), "%s/brig/python", xdg);
	else if (home && home[0] == '/')
		snprintf(buf, sizeof(buf), "%s/.cache/brig/python", home);
	else
		snprintf(buf, sizeof(buf), "/tmp/brig-cache-%u/python", (unsigned)getuid());
	return strdup(buf);
}

int pkg_run_init(struct pkg_run *p, brig_executor *ex, const brig_caps *caps, char *err,
		 size_t errlen)
{
	char path[PATH_MAX], real[PATH_MAX];
	const char *base;
	int rc;

	memset(p, 0, sizeof(*p));
	p->ex = ex;
	p->caps = caps;
	if (!installs(caps->pkg))
		return BRIG_OK;
	p->root = caps->pkg->cache ? strdup(caps->pkg->cache) : default_cache();
	if (!p->root)
		return BRIG_E_NOMEM;
	base = realpath(ex->python, real) ? strrchr(real, '/') + 1 : "python3";
	snprintf(p->abi, sizeof(p->abi), "%s", base);
	snprintf(path, sizeof(path), "%s/views", p->root);
	if ((rc = pkg_mkdirs(path, 0755)) < 0) {
		snprintf(err, errlen, "package cache %s: %s", path, strerror(-rc));
		return BRIG_E_INVAL;
	}
	snprintf(path, sizeof(path), "%s/views/run-XXXXXX", p->root);
	if (!mkdtemp(path) || chmod(path, 0755) < 0 || !(p->view = strdup(path))) {
		snprintf(err, errlen, "package cache %s: %s", path, strerror(errno));
		return BRIG_E_INVAL;
	}
	return BRIG_OK;
}

void pkg_run_cleanup(struct pkg_run *p)
{
	if (p->view)
		(void)pkg_remove_tree(p->view);
	free(p->view);
	free(p->root);
	p->view = p->root = NULL;
}

/* ------------------------------------------------------------ pip's run */

static const char *index_url(const struct pkg_caps *c)
{
	return c && c->index ? c->index : DEFAULT_INDEX;
}

/* The hosts pip may reach: the index's; PyPI keeps its files on another. */
static int allow_index(brig_caps *caps, const char *url, char *auth, size_t len)
{
	const char *a = strstr(url, "://") + 3;
	size_t n = strcspn(a, "/");

	snprintf(auth, len, "%.*s", (int)n, a);
	if (brig_caps_allow_host(caps, auth) != BRIG_OK)
		return -1;
	if (strcmp(url, DEFAULT_INDEX) == 0 &&
	    brig_caps_allow_host(caps, "files.pythonhosted.org") != BRIG_OK)
		return -1;
	return 0;
}

static void pip_limits(brig_limits *l, const brig_package_limits *pl)
{
	memset(l, 0, sizeof(*l));
	l->wall_timeout_ms = pl->timeout_ms;
	l->memory_bytes = PIP_MEMORY;
	l->tmp_bytes = pl->max_bytes;
	l->mount_write_bytes = pl->max_bytes;
	l->max_output_bytes = PIP_OUTPUT;
}

/* pip's last line of output: what went wrong, as it says it. */
static void last_words(const brig_result *res, char *why, size_t whylen)
{
	size_t len;
	const char *out = brig_result_stderr(res, &len);
	const char *end = out + len, *start;

	if (brig_result_error(res) != BRIG_OK) {
		snprintf(why, whylen, "%s", brig_result_message(res));
		return;
	}
	while (end > out && (end[-1] == '\n' || end[-1] == ' '))
		end--;
	for (start = end; start > out && start[-1] != '\n'; start--)
		;
	snprintf(why, whylen, "%.*s", (int)(end - start > 300 ? 300 : end - start), start);
}

/* One pip install: requirements (quoted, shell-safe) into stage/site. */
struct pip_job {
	brig_executor *ex;
	const char *index;
	const char *reqs;
	const char *stage;
	brig_package_limits lim;
	struct hc_cancel *cancel; /* may be NULL */
};

/* pip install --target /out/site in a sandbox whose only egress is the index. */
static int run_pip(const struct pip_job *j, char *why, size_t whylen)
{
	bool http = strncmp(j->index, "http://", 7) == 0;
	char auth[512], script[8192];
	brig_caps *caps = NULL;
	brig_cancel *stop = NULL;
	brig_result *res = NULL;
	brig_run_opts o;
	int rc = -1;

	if (brig_caps_new(&caps) != BRIG_OK ||
	    allow_index(caps, j->index, auth, sizeof(auth)) < 0 ||
	    brig_caps_mount(caps, "/out", j->stage, BRIG_MOUNT_RWC) != BRIG_OK ||
	    (j->cancel && cancel_wrap_fd(hc_cancel_fd(j->cancel), &stop) != BRIG_OK)) {
		snprintf(why, whylen, "cannot prepare pip's sandbox");
		goto out;
	}
	/* The index holds no shell syntax (index_valid), nor do requirements. */
	snprintf(script, sizeof(script),
		 "exec python3 -m pip install --disable-pip-version-check --no-cache-dir "
		 "--no-input --only-binary :all: --no-compile --target /out/site "
		 "--index-url '%s' %s%s %s",
		 j->index, http ? "--trusted-host " : "", http ? auth : "", j->reqs);
	brig_run_opts_init(&o);
	o.caps = caps;
	o.cancel = stop;
	pip_limits(&o.limits, &j->lim);
	brig_run(j->ex, BRIG_LANG_SH, script, strlen(script), &o, &res);
	if (res && brig_result_error(res) == BRIG_OK && brig_result_exit_code(res) == 0)
		rc = 0;
	else if (res)
		last_words(res, why, whylen);
	else
		snprintf(why, whylen, "out of memory");
out:
	brig_result_free(res);
	brig_cancel_free(stop);
	brig_caps_free(caps);
	return rc;
}

/* A staging directory in parent that pip, as the guest, may write. */
static int make_stage(const brig_executor *ex, const char *parent, char *out, size_t len)
{
	snprintf(out, len, "%s/.stage-XXXXXX", parent);
	/* The guest's host ids differ from ours when we are root. */
	if (!mkdtemp(out) || (ex->privileged && chown(out, ex->host_uid, ex->host_gid) < 0))
		return -1;
	return 0;
}

/* "name" or "name" + specifier, checked, as one shell word. */
static int quote_requirement(const char *req, struct buf *out, char *why, size_t whylen)
{
	char raw[PKG_NAME_MAX + 2], name[PKG_NAME_MAX + 1], spec[PKG_SPEC_MAX + 1];
	size_t n = strcspn(req, "<>=!~");

	snprintf(raw, sizeof(raw), "%.*s", (int)(n > PKG_NAME_MAX ? PKG_NAME_MAX + 1 : n), req);
	if (strchr(req, ' ') || strchr(req, '\'')) {
		snprintf(why, whylen, "invalid requirement: %.200s", req);
		return -1;
	}
	if (pkg_name_normalize(raw, name, why, whylen) != 0 ||
	    pkg_spec_normalize(req + n, spec, why, whylen) != 0)
		return -1;
	if (buf_append(out, " '", 2) || buf_append(out, name, strlen(name)) ||
	    buf_append(out, spec, strlen(spec)) || buf_append(out, "'", 1))
		return -1;
	return 0;
}

/* ----------------------------------------------------------- install */

struct request {
	char name[PKG_NAME_MAX + 1];
	char spec[PKG_SPEC_MAX + 1];
	char dir[PATH_MAX]; /* ROOT/ABI/NAME */
	char version[80];
	bool cached;
};

static int parse_request(const struct pkg_run *p, json_t *args, struct request *q,
			 struct hc_reply *rep)
{
	const struct pkg_caps *c = p->caps->pkg;
	json_t *n = json_object_get(args, "name"), *s = json_object_get(args, "spec");
	char why[300];
	bool allowed = false;

	if (!json_is_string(n) || (s && !json_is_null(s) && !json_is_string(s)))
		return hc_fail(rep, "ValueError", "install_pkg(name, spec=None) takes strings");
	if (pkg_name_normalize(json_string_value(n), q->name, why, sizeof(why)) != 0 ||
	    pkg_spec_normalize(json_is_string(s) ? json_string_value(s) : "", q->spec, why,
			       sizeof(why)) != 0)
		return hc_fail(rep, "ValueError", "%s", why);
	for (size_t i = 0; c && i < c->names.n && !allowed; i++)
		allowed = strcmp(c->names.v[i], q->name) == 0;
	if (!installs(c))
		return hc_fail(rep, "PermissionError",
			       "install_pkg is not allowed: run with --allow-package %s or "
			       "--allow-packages",
			       q->name);
	if (!allowed && !c->any)
		return hc_fail(rep, "PermissionError", "package not allowed: %s", q->name);
	snprintf(q->dir, sizeof(q->dir), "%s/%s/%s", p->root, p->abi, q->name);
	return 0;
}

static void fill_limits(brig_package_limits *l, const struct pkg_caps *c)
{
	memset(l, 0, sizeof(*l));
	if (c)
		*l = c->lim;
	if (!l->max_bytes)
		l->max_bytes = DEFAULT_MAX_BYTES;
	if (!l->timeout_ms)
		l->timeout_ms = DEFAULT_TIMEOUT_MS;
}

/* Under the project's lock: the cached version, or pip's, published. */
static int resolve(struct pkg_run *p, struct request *q, struct hc_cancel *cancel,
		   struct hc_reply *rep)
{
	char stage[PATH_MAX + 16], site[PATH_MAX + 24], dest[PATH_MAX + 96], why[400];
	char reqs[PKG_NAME_MAX + PKG_SPEC_MAX + 4];
	struct pip_job job = {p->ex, index_url(p->caps->pkg), reqs, stage, {0, 0}, cancel};
	int rc = -1;

	if (pkg_memo_get(q->dir, q->spec, q->version, sizeof(q->version)) == 0) {
		q->cached = true;
		return 0;
	}
	fill_limits(&job.lim, p->caps->pkg);
	if (make_stage(p->ex, q->dir, stage, sizeof(stage)) < 0)
		return hc_fail(rep, "OSError", "package cache %s: %s", q->dir, strerror(errno));
	snprintf(site, sizeof(site), "%s/site", stage);
	snprintf(reqs, sizeof(reqs), "'%s%s'", q->name, q->spec);
	if (run_pip(&job, why, sizeof(why)) < 0)
		hc_fail(rep, "RuntimeError", "pip could not install %s%s: %s", q->name, q->spec,
			why);
	else if (pkg_installed_version(site, q->name, q->version, sizeof(q->version)) < 0)
		hc_fail(rep, "RuntimeError", "pip installed no %s", q->name);
	else if (snprintf(dest, sizeof(dest), "%s/%s", q->dir, q->version) > 0 &&
		 rename(site, dest) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		hc_fail(rep, "OSError", "package cache %s: %s", dest, strerror(errno));
	else
		rc = 0;
	if (rc == 0)
		pkg_memo_put(q->dir, q->spec, q->version);
	(void)pkg_remove_tree(stage);
	return rc;
}

void pkg_install(struct pkg_run *p, json_t *args, struct hc_cancel *cancel, struct hc_reply *rep)
{
	struct request q = {.cached = false};
	char dest[PATH_MAX + 96];
	int lock, rc;

	if (parse_request(p, args, &q, rep) < 0)
		return;
	if ((rc = pkg_mkdirs(q.dir, 0755)) < 0 || (lock = pkg_lock(q.dir, cancel)) < 0) {
		if (rc == 0 && hc_cancelled(cancel))
			hc_fail(rep, "RuntimeError", "install_pkg cancelled: the run ended");
		else
			hc_fail(rep, "OSError", "package cache %s: cannot lock", q.dir);
		return;
	}
	rc = resolve(p, &q, cancel, rep);
	close(lock);
	if (rc < 0)
		return;
	snprintf(dest, sizeof(dest), "%s/%s", q.dir, q.version);
	if ((rc = pkg_link_tree(dest, p->view)) < 0) {
		hc_fail(rep, "OSError", "cannot add %s to the sandbox: %s", q.name, strerror(-rc));
		return;
	}
	hc_ok(rep, json_pack("{s:s, s:s, s:b, s:s}", "name", q.name, "version", q.version, "cached",
			     q.cached, "path", BRIG_PACKAGES_DIR));
}

/* ------------------------------------------------------- brig deps */

static int deps_fail(char **message, int rc, const char *fmt, const char *what)
{
	char text[600];

	snprintf(text, sizeof(text), fmt, what);
	if (message)
		*message = strdup(text);
	return rc;
}

int brig_packages_install(brig_executor *ex, const brig_caps *caps, const char *dir,
			  const char *const *reqs, size_t n, char **message)
{
	const struct pkg_caps *c = caps ? caps->pkg : NULL;
	char stage[PATH_MAX + 16], site[PATH_MAX + 24], why[400];
	struct pip_job job = {ex, index_url(c), NULL, stage, {0, 0}, NULL};
	struct buf words = BUF_INIT;
	int rc;

	if (message)
		*message = NULL;
	if (!ex || !dir || !*dir || (n && !reqs) || !n)
		return deps_fail(message, BRIG_E_INVAL, "%s", "a directory and requirements");
	for (size_t i = 0; i < n; i++)
		if (!reqs[i] || quote_requirement(reqs[i], &words, why, sizeof(why)) < 0) {
			buf_free(&words);
			return deps_fail(message, BRIG_E_INVAL, "%s", why);
		}
	if ((rc = pkg_mkdirs(dir, 0755)) < 0 || make_stage(ex, dir, stage, sizeof(stage)) < 0) {
		buf_free(&words);
		return deps_fail(message, BRIG_E_IO, "cannot write to %s", dir);
	}
	fill_limits(&job.lim, c);
	job.reqs = words.data;
	snprintf(site, sizeof(site), "%s/site", stage);
	if (run_pip(&job, why, sizeof(why)) < 0)
		rc = deps_fail(message, BRIG_E_IO, "pip failed: %s", why);
	else if ((rc = pkg_merge_site(site, dir)) < 0)
		rc = deps_fail(message, BRIG_E_IO, "cannot move the packages into %s", dir);
	else
		rc = BRIG_OK;
	(void)pkg_remove_tree(stage);
	buf_free(&words);
	return rc;
}

char *brig_packages_list(const char *dir)
{
	return dir ? pkg_list_site(dir) : NULL;
}
