/*
 * The plan's encoding: a header (magic, a version that changes with the
 * plan's layout, the fds present), then every field in a fixed order.
 * Numbers are little-endian-agnostic host u32/u64 (both ends are this
 * build on this machine); strings are a u32 length, the bytes and a NUL.
 */
#include "jail/plan_wire.h"

#include <string.h>

#define WIRE_MAGIC 0x315a5242u /* "BRZ1" */
#define WIRE_VERSION                                                                               \
	((uint32_t)(sizeof(struct jail_plan) * 7 + sizeof(struct jail_ctl_msg)) ^ 0x5a000000u)

#define F_MEMGUARD 1u
#define F_PRIVILEGED 2u

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool bad;
};

static void put(struct wbuf *w, const void *v, size_t n)
{
	if (w->bad || n > w->cap - w->len) {
		w->bad = true;
		return;
	}
	memcpy(w->p + w->len, v, n);
	w->len += n;
}

static void put32(struct wbuf *w, uint32_t v)
{
	put(w, &v, sizeof(v));
}

static void put64(struct wbuf *w, uint64_t v)
{
	put(w, &v, sizeof(v));
}

static void put_str(struct wbuf *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n > UINT32_MAX - 1) {
		w->bad = true;
		return;
	}
	put32(w, (uint32_t)n);
	put(w, s ? s : "", n + 1);
}

static void put_strv(struct wbuf *w, const char *const *v, size_t max)
{
	uint32_t n = 0;

	while (n < max && v[n])
		n++;
	put32(w, n);
	for (uint32_t i = 0; i < n; i++)
		put_str(w, v[i]);
}

static void put_rlimits(struct wbuf *w, const struct jail_rlimits *rl)
{
	const uint64_t v[] = {rl->cpu_seconds, rl->as_bytes, rl->data_bytes, rl->nproc,
			      rl->fsize_bytes, rl->nofile,   rl->sigpending, rl->msgqueue};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		put64(w, v[i]);
}

static void collect_fds(const struct jail_plan *plan, int ctl, int fds[PLAN_NFDS], int *nfds,
			uint32_t *mask)
{
	const int slot[PLAN_NFDS] = {ctl,
				     plan->proto_fd,
				     plan->stdin_fd,
				     plan->stdout_fd,
				     plan->stderr_fd,
				     plan->cgroup_fds[0],
				     plan->cgroup_fds[1],
				     plan->cgroup_fds[2],
				     plan->cgroup_dir_fd};

	*nfds = 0;
	*mask = 0;
	for (int i = 0; i < PLAN_NFDS; i++) {
		if (slot[i] < 0)
			continue;
		fds[(*nfds)++] = slot[i];
		*mask |= 1u << i;
	}
}

ssize_t plan_wire_encode(const struct jail_plan *plan, int lang, int ctl, uint8_t *buf, size_t cap,
			 int fds[PLAN_NFDS], int *nfds)
{
	struct wbuf w = {buf, 0, cap, false};
	uint32_t mask;

	if (plan->session)
		return -1;
	collect_fds(plan, ctl, fds, nfds, &mask);
	put32(&w, WIRE_MAGIC);
	put32(&w, WIRE_VERSION);
	put32(&w, mask);
	put32(&w, (uint32_t)lang);
	put_strv(&w, plan->argv, JAIL_MAX_ARGS);
	put_strv(&w, plan->envp, JAIL_MAX_ENV);
	put32(&w, (uint32_t)plan->nbinds);
	for (size_t i = 0; i < plan->nbinds; i++) {
		put_str(&w, plan->binds[i].dst);
		put_str(&w, plan->binds[i].src);
		put32(&w, (uint32_t)plan->binds[i].kind);
		put32(&w, plan->binds[i].is_dir);
	}
	put32(&w, (uint32_t)plan->nfiles);
	for (size_t i = 0; i < plan->nfiles; i++) {
		put_str(&w, plan->files[i].path);
		put_str(&w, plan->files[i].content);
	}
	put_str(&w, plan->scratch_opts);
	put_str(&w, plan->rwc_opts);
	put_rlimits(&w, &plan->rl);
	put64(&w, plan->memory_bytes);
	put32(&w, (plan->bpf_memguard ? F_MEMGUARD : 0) | (plan->privileged ? F_PRIVILEGED : 0));
	put32(&w, (uint32_t)plan->host_uid);
	put32(&w, (uint32_t)plan->host_gid);
	put32(&w, plan->proxy_port);
	return w.bad ? -1 : (ssize_t)w.len;
}

uint32_t plan_wire_version(void)
{
	return WIRE_VERSION;
}

/* ---------------------------------------------------------------- decode */

struct rbuf {
	uint8_t *p;
	size_t len, off;
	bool bad;
};

static bool take(struct rbuf *r, void *v, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		memset(v, 0, n);
		return false;
	}
	memcpy(v, r->p + r->off, n);
	r->off += n;
	return true;
}

static uint32_t get32(struct rbuf *r)
{
	uint32_t v;

	take(r, &v, sizeof(v));
	return v;
}

static uint64_t get64(struct rbuf *r)
{
	uint64_t v;

	take(r, &v, sizeof(v));
	return v;
}

/* A string in place: its bytes must end in the NUL that was sent. */
static const char *get_str(struct rbuf *r)
{
	uint32_t n = get32(r);
	const char *s;

	if (r->bad || n >= r->len - r->off || r->p[r->off + n] != '\0' ||
	    memchr(r->p + r->off, '\0', n)) {
		r->bad = true;
		return "";
	}
	s = (const char *)r->p + r->off;
	r->off += (size_t)n + 1;
	return s;
}

static void get_strv(struct rbuf *r, const char **v, size_t max)
{
	uint32_t n = get32(r);

	if (n >= max) {
		r->bad = true;
		n = 0;
	}
	for (uint32_t i = 0; i < n; i++)
		v[i] = get_str(r);
	v[n] = NULL;
}

static void get_opts(struct rbuf *r, char *dst, size_t cap)
{
	const char *s = get_str(r);
	size_t n = strlen(s);

	if (n >= cap) {
		r->bad = true;
		n = 0;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

static void get_binds(struct rbuf *r, struct jail_plan *plan)
{
	uint32_t n = get32(r);

	if (n > JAIL_MAX_BINDS) {
		r->bad = true;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct jail_bind *b = &plan->binds[i];
		uint32_t kind, is_dir;

		b->dst = get_str(r);
		b->src = get_str(r);
		kind = get32(r);
		is_dir = get32(r);
		if (kind > JAIL_BIND_OUTPUTS || is_dir > 1)
			r->bad = true;
		b->is_dir = is_dir;
		b->kind = (enum jail_bind_kind)kind;
	}
	plan->nbinds = n;
}

static void get_files(struct rbuf *r, struct jail_plan *plan)
{
	uint32_t n = get32(r);

	if (n > JAIL_MAX_FILES) {
		r->bad = true;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		plan->files[i].path = get_str(r);
		plan->files[i].content = get_str(r);
	}
	plan->nfiles = n;
}

static void get_rlimits(struct rbuf *r, struct jail_rlimits *rl)
{
	uint64_t *v[] = {&rl->cpu_seconds, &rl->as_bytes, &rl->data_bytes, &rl->nproc,
			 &rl->fsize_bytes, &rl->nofile,	  &rl->sigpending, &rl->msgqueue};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		*v[i] = get64(r);
}

/* Put the received fds in their slots; the ctl, channel and stdio are required. */
static int place_fds(uint32_t mask, const int *fds, int nfds, struct jail_plan *plan, int *ctl)
{
	int *slot[PLAN_NFDS] = {ctl,
				&plan->proto_fd,
				&plan->stdin_fd,
				&plan->stdout_fd,
				&plan->stderr_fd,
				&plan->cgroup_fds[0],
				&plan->cgroup_fds[1],
				&plan->cgroup_fds[2],
				&plan->cgroup_dir_fd};
	const uint32_t required =
	    1u << PLAN_FD_CTL | 1u << PLAN_FD_PROTO | 1u << PLAN_FD_STDOUT | 1u << PLAN_FD_STDERR;
	int k = 0;

	if (!fds) { /* a template: no fds at all */
		for (int i = 0; i < PLAN_NFDS; i++)
			*slot[i] = -1;
		return 0;
	}
	if ((mask & required) != required || mask >> PLAN_NFDS)
		return -1;
	for (int i = 0; i < PLAN_NFDS; i++) {
		*slot[i] = -1;
		if (!(mask & (1u << i)))
			continue;
		if (k >= nfds)
			return -1; /* the bytes promise an fd that did not come */
		*slot[i] = fds[k++];
	}
	return k == nfds ? 0 : -1;
}

int plan_wire_decode(uint8_t *buf, size_t len, const int *fds, int nfds, struct jail_plan *plan,
		     int *lang, int *ctl)
{
	struct rbuf r = {buf, len, 0, false};
	uint32_t mask, flags;

	memset(plan, 0, sizeof(*plan));
	plan->timer_fd = -1;
	if (get32(&r) != WIRE_MAGIC || get32(&r) != WIRE_VERSION)
		return -1;
	mask = get32(&r);
	*lang = (int)get32(&r);
	get_strv(&r, plan->argv, JAIL_MAX_ARGS);
	get_strv(&r, plan->envp, JAIL_MAX_ENV);
	get_binds(&r, plan);
	get_files(&r, plan);
	get_opts(&r, plan->scratch_opts, sizeof(plan->scratch_opts));
	get_opts(&r, plan->rwc_opts, sizeof(plan->rwc_opts));
	get_rlimits(&r, &plan->rl);
	plan->memory_bytes = get64(&r);
	flags = get32(&r);
	plan->host_uid = (uid_t)get32(&r);
	plan->host_gid = (gid_t)get32(&r);
	plan->proxy_port = (uint16_t)get32(&r);
	if (r.bad || r.off != len || !plan->argv[0] || (flags & ~(F_MEMGUARD | F_PRIVILEGED)))
		return -1;
	plan->bpf = &jail_seccomp_filter;
	plan->bpf_memguard = flags & F_MEMGUARD ? &jail_seccomp_memguard : NULL;
	plan->privileged = flags & F_PRIVILEGED;
	return place_fds(mask, fds, nfds, plan, ctl);
}
