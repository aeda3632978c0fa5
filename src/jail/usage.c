/*
 * Measuring a jail from the host without a cgroup (see usage.h).
 *
 * CPU: the sum over every process of the jail's pid namespace of its own
 * time (all its threads, dead ones included) and the time of the children
 * it waited for.  That covers zombies, orphans (init waits for them) and
 * children of any thread.  A process released without a wait (its parent
 * ignores SIGCHLD or set SA_NOCLDWAIT) passes its time to nobody; its last
 * sampled time is kept instead.
 *
 * Memory: anonymous and shared memory, swap and page tables of every
 * process but init (a clone of the embedder, running no guest code), plus
 * the buffers of every socket in the jail's network namespace.
 */
#include "jail/usage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/netlink_diag.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ancestors climbed to find who waited for a vanished process. */
#define MAX_HOPS 64

/* Per-process memory figures of one sample (bytes). */
struct proc_mem {
	int32_t pid;
	uint64_t cheap; /* resident anon + shmem + swap + page tables */
	uint64_t pte;
	bool counted; /* false for init and its clones that have not exec'ed */
};

void usage_init(struct jail_usage *u, int proc_fd, int diag_fd, pid_t init_pid)
{
	memset(u, 0, sizeof(*u));
	u->proc_fd = proc_fd;
	u->diag_fd = diag_fd;
	u->init_pid = init_pid;
}

void usage_free(struct jail_usage *u)
{
	free(u->procs);
	u->procs = NULL;
	u->nprocs = u->cap = 0;
}

/* ----------------------------------------------------------- pure parts */

int usage_parse_stat(const char *text, struct usage_proc *p)
{
	const char *close = strrchr(text, ')');
	unsigned long long ut, st, start;
	long long cut, cst;
	int pid, ppid;
	char state;

	memset(p, 0, sizeof(*p));
	if (!close || sscanf(text, "%d", &pid) != 1)
		return -1;
	/* After the command: state(3) ppid(4) ... utime(14) stime(15) cutime(16)
	 * cstime(17) ... starttime(22). */
	if (sscanf(close + 1,
		   " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld %*d %*d %*d "
		   "%*d %llu",
		   &state, &ppid, &ut, &st, &cut, &cst, &start) != 7)
		return -1;
	p->pid = pid;
	p->ppid = ppid;
	p->start = start;
	p->own = ut + st;
	p->child = (uint64_t)(cut > 0 ? cut : 0) + (uint64_t)(cst > 0 ? cst : 0);
	return 0;
}

/* The "startcode endcode" pair (fields 26, 27): equal to init's only in
 * init's clones that have not exec'ed (an unreadable pair is "1 1"). */
static int parse_code(const char *text, unsigned long long code[2])
{
	const char *p = strrchr(text, ')');

	code[0] = code[1] = 0;
	for (int field = 2; p && field < 26; field++)
		p = strchr(p + 1, ' ');
	return p && sscanf(p, " %llu %llu", &code[0], &code[1]) == 2 ? 0 : -1;
}

static int64_t kb_field(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 10) * 1024;
	}
	return -1;
}

uint64_t usage_kb_field(const char *text, const char *key)
{
	int64_t v = kb_field(text, key);

	return v > 0 ? (uint64_t)v : 0;
}

static struct usage_proc *find(struct usage_proc *v, size_t n, int32_t pid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].pid == pid)
			return &v[mid];
		if (v[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool same(const struct usage_proc *a, const struct usage_proc *b)
{
	return a && b && a->pid == b->pid && a->start == b->start;
}

/* Take t ticks from p's budget if it can pay them. */
static bool absorb(struct usage_proc *p, uint64_t t)
{
	if (!p || p->budget < (int64_t)t)
		return false;
	p->budget -= (int64_t)t;
	return true;
}

/*
 * Who waited for the vanished process o?  Its parent, if the parent lives;
 * when the parent vanished too, the nearest living ancestor (which waited
 * for the parent, whose time then included o's) or init (which waits for
 * orphans).  Init is tried only in that case, so that the time of orphans
 * nobody saw cannot pay for a process that its living parent let go.
 */
static bool waited_for(struct jail_usage *u, struct usage_proc *now, size_t n,
		       const struct usage_proc *o, uint64_t t)
{
	int32_t pid = o->ppid;

	for (int hops = 0; pid > 0 && hops < MAX_HOPS; hops++) {
		struct usage_proc *alive = find(now, n, pid),
				  *seen = find(u->procs, u->nprocs, pid);

		if (alive && (!seen || same(alive, seen)))
			return absorb(alive, t) ||
			       (hops > 0 && pid != 1 && absorb(find(now, n, 1), t));
		if (!seen)
			break;
		pid = seen->ppid;
	}
	return absorb(find(now, n, 1), t);
}

uint64_t usage_account(struct jail_usage *u, struct usage_proc *now, size_t n)
{
	uint64_t total;

	for (size_t i = 0; i < n; i++) {
		struct usage_proc *seen = find(u->procs, u->nprocs, now[i].pid);

		now[i].budget = (int64_t)now[i].child;
		if (same(seen, &now[i]))
			now[i].budget -= (int64_t)seen->child;
	}
	for (size_t i = 0; i < u->nprocs; i++) {
		const struct usage_proc *o = &u->procs[i];
		uint64_t t = o->own + o->child;

		if (same(find(now, n, o->pid), o))
			continue;
		if (!waited_for(u, now, n, o, t))
			u->lost += t;
	}
	total = u->lost;
	for (size_t i = 0; i < n; i++)
		total += now[i].own + now[i].child;
	free(u->procs);
	u->procs = now;
	u->nprocs = u->cap = n;
	return total;
}

/* ---------------------------------------------------------- /proc reads */

static int read_at(int dir, const char *path, char *buf, size_t len)
{
	int fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	const struct usage_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Init's stat, from the host's /proc should the jail's ever hide it. */
static int read_init(struct jail_usage *u, char *buf, size_t len)
{
	char path[64];

	if (read_at(u->proc_fd, "1/stat", buf, len) == 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)u->init_pid);
	return read_at(AT_FDCWD, path, buf, len);
}

/* A process's own pages: its share of them when we may read it, else all. */
static uint64_t exact_mem(struct jail_usage *u, const struct proc_mem *pm)
{
	char path[32], buf[4096];
	int64_t anon, shmem, swap;

	snprintf(path, sizeof(path), "%d/smaps_rollup", (int)pm->pid);
	if (read_at(u->proc_fd, path, buf, sizeof(buf)) < 0)
		return pm->cheap;
	anon = kb_field(buf, "Pss_Anon");
	shmem = kb_field(buf, "Pss_Shmem");
	swap = kb_field(buf, "SwapPss");
	if (anon < 0) /* kernels before 5.9: the whole share, files included */
		anon = kb_field(buf, "Pss");
	if (anon < 0)
		return pm->cheap;
	return (uint64_t)anon + (uint64_t)(shmem > 0 ? shmem : 0) +
	       (uint64_t)(swap > 0 ? swap : 0) + pm->pte;
}

static void read_mem(struct jail_usage *u, struct proc_mem *pm)
{
	char path[32], buf[4096];

	snprintf(path, sizeof(path), "%d/status", (int)pm->pid);
	if (read_at(u->proc_fd, path, buf, sizeof(buf)) < 0)
		return;
	pm->pte = usage_kb_field(buf, "VmPTE");
	pm->cheap = usage_kb_field(buf, "RssAnon") + usage_kb_field(buf, "RssShmem") +
		    usage_kb_field(buf, "VmSwap") + pm->pte;
}

struct sample {
	struct usage_proc *procs;
	struct proc_mem *mem;
	size_t n, cap;
};

static int grow(struct sample *s)
{
	size_t cap = s->cap ? 2 * s->cap : 32;
	void *p = realloc(s->procs, cap * sizeof(*s->procs)), *m;

	if (!p)
		return -1;
	s->procs = p;
	if (!(m = realloc(s->mem, cap * sizeof(*s->mem))))
		return -1;
	s->mem = m;
	s->cap = cap;
	return 0;
}

/* One process: its stat, and its memory unless it is init's image. */
static void take_proc(struct jail_usage *u, struct sample *s, long pid, bool want_mem,
		      const unsigned long long init_code[2])
{
	char path[32], buf[1024];
	unsigned long long code[2];
	struct proc_mem *pm = &s->mem[s->n];

	snprintf(path, sizeof(path), "%ld/stat", pid);
	if (read_at(u->proc_fd, path, buf, sizeof(buf)) < 0 ||
	    usage_parse_stat(buf, &s->procs[s->n]) < 0)
		return; /* gone meanwhile: the next sample accounts for it */
	memset(pm, 0, sizeof(*pm));
	pm->pid = s->procs[s->n].pid;
	pm->counted = parse_code(buf, code) == 0 &&
		      (u->count_init_clones || code[0] != init_code[0] || code[1] != init_code[1]);
	if (want_mem && pm->counted)
		read_mem(u, pm);
	s->n++;
}

static int enumerate(struct jail_usage *u, struct sample *s, bool want_mem)
{
	unsigned long long init_code[2] = {0, 0};
	char buf[1024];
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	if ((fd = openat(u->proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		snprintf(u->err, sizeof(u->err), "cannot read the sandbox's /proc: %s",
			 strerror(errno));
		return -1;
	}
	if (grow(s) < 0 || (rc = read_init(u, buf, sizeof(buf))) < 0 ||
	    usage_parse_stat(buf, &s->procs[0]) < 0) {
		closedir(d);
		if (rc == -ENOENT || rc == -ESRCH)
			return 1; /* init is gone, and the whole jail with it */
		snprintf(u->err, sizeof(u->err), "cannot read the sandbox's init");
		return -1;
	}
	s->procs[0].pid = 1;
	s->procs[0].ppid = 0;
	parse_code(buf, init_code);
	s->mem[0] = (struct proc_mem){.pid = 1};
	s->n = 1;
	while ((e = readdir(d))) {
		long pid = strtol(e->d_name, NULL, 10);

		if (pid <= 1)
			continue;
		if (s->n == s->cap && grow(s) < 0)
			break;
		take_proc(u, s, pid, want_mem, init_code);
	}
	closedir(d);
	return 0;
}

/* ---------------------------------------------------------- sock_diag */

/* One sock_diag dump: the family's message size, where its inode is, and
 * which attribute holds the socket's memory figures. */
struct diag_kind {
	size_t msg_len, ino_off;
	int meminfo_attr;
};

static uint32_t msg_ino(const struct nlmsghdr *h, const struct diag_kind *k)
{
	uint32_t ino;

	memcpy(&ino, (const char *)NLMSG_DATA(h) + k->ino_off, sizeof(ino));
	return ino;
}

/* Buffer bytes of the sockets one dump lists, but for the socket self. */
static int64_t dump_sockets(struct jail_usage *u, const void *req, size_t len,
			    const struct diag_kind *k, ino_t self)
{
	const size_t msg_len = k->msg_len;

	char buf[32768];
	int64_t total = 0;

	if (send(u->diag_fd, req, len, 0) != (ssize_t)len)
		return -errno;
	for (;;) {
		ssize_t got = recv(u->diag_fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		unsigned int n = (unsigned int)got;

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? -errno : -EIO;
		for (; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			struct rtattr *a;
			int alen;

			/* Left over from a dump cut short earlier: not ours. */
			if (h->nlmsg_seq != ((const struct nlmsghdr *)req)->nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return total;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error ? e->error : -EIO;
			}
			if (h->nlmsg_len < NLMSG_LENGTH(msg_len))
				continue;
			if (msg_ino(h, k) == self)
				continue;
			a = (struct rtattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(msg_len));
			alen = (int)(h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(msg_len)));
			for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				const uint32_t *mi = RTA_DATA(a);

				if (a->rta_type != k->meminfo_attr ||
				    RTA_PAYLOAD(a) < (SK_MEMINFO_WMEM_ALLOC + 1) * sizeof(uint32_t))
					continue;
				total +=
				    (int64_t)mi[SK_MEMINFO_RMEM_ALLOC] + mi[SK_MEMINFO_WMEM_ALLOC];
			}
		}
	}
}

/* Socket buffers of the jail: unix sockets (the only ones that can carry
 * data in an empty network namespace) and netlink sockets. */
int64_t usage_socket_bytes(struct jail_usage *u)
{
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} ureq = {{sizeof(ureq), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, ++u->seq, 0},
		  {.sdiag_family = AF_UNIX, .udiag_states = ~0u, .udiag_show = UDIAG_SHOW_MEMINFO}};
	struct {
		struct nlmsghdr h;
		struct netlink_diag_req r;
	} nreq = {{sizeof(nreq), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, ++u->seq, 0},
		  {.sdiag_family = AF_NETLINK,
		   .sdiag_protocol = NDIAG_PROTO_ALL,
		   .ndiag_show = NDIAG_SHOW_MEMINFO}};
	static const struct diag_kind unix_kind = {sizeof(struct unix_diag_msg),
						   offsetof(struct unix_diag_msg, udiag_ino),
						   UNIX_DIAG_MEMINFO};
	static const struct diag_kind netlink_kind = {sizeof(struct netlink_diag_msg),
						      offsetof(struct netlink_diag_msg, ndiag_ino),
						      NETLINK_DIAG_MEMINFO};
	struct stat st;
	int64_t a, b;

	if (u->diag_fd < 0)
		return -EPROTONOSUPPORT;
	if (fstat(u->diag_fd, &st) < 0)
		return -errno;
	if ((a = dump_sockets(u, &ureq, sizeof(ureq), &unix_kind, 0)) < 0)
		return a;
	/* Our own socket holds the dump's replies. */
	b = dump_sockets(u, &nreq, sizeof(nreq), &netlink_kind, st.st_ino);
	return b < 0 ? b : a + b;
}

int usage_probe_sockets(void)
{
	struct jail_usage u;
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int64_t rc;

	if (fd < 0)
		return -errno;
	usage_init(&u, -1, fd, 0);
	rc = usage_socket_bytes(&u);
	close(fd);
	return rc < 0 ? (int)rc : 0;
}

/* ------------------------------------------------------------- sampling */

static int sample_memory(struct jail_usage *u, const struct sample *s, uint64_t limit)
{
	int64_t sockets = usage_socket_bytes(u);
	uint64_t cheap = 0, exact = 0;

	if (sockets < 0) {
		snprintf(u->err, sizeof(u->err),
			 "cannot measure the sandbox's socket buffers (sock_diag: %s)",
			 strerror((int)-sockets));
		return -1;
	}
	for (size_t i = 0; i < s->n; i++)
		cheap += s->mem[i].counted ? s->mem[i].cheap : 0;
	u->sockets = (uint64_t)sockets;
	u->mem = cheap + u->sockets;
	if (u->mem <= limit)
		return 0;
	/* Over the limit on resident pages: forked processes share theirs, so
	 * take each one's proportional share before calling it a breach. */
	for (size_t i = 0; i < s->n; i++)
		exact += s->mem[i].counted ? exact_mem(u, &s->mem[i]) : 0;
	u->mem = exact + u->sockets;
	return 0;
}

int usage_sample(struct jail_usage *u, unsigned what, uint64_t mem_limit)
{
	struct sample s = {0};
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t ticks, us;
	int rc = 0;

	if (u->proc_fd < 0) {
		snprintf(u->err, sizeof(u->err), "the sandbox's /proc is not available");
		return -1;
	}
	if ((rc = enumerate(u, &s, what & USAGE_MEMORY)) != 0) {
		free(s.procs);
		free(s.mem);
		return rc;
	}
	if (what & USAGE_MEMORY)
		rc = sample_memory(u, &s, mem_limit);
	free(s.mem);
	qsort(s.procs, s.n, sizeof(*s.procs), by_pid);
	ticks = usage_account(u, s.procs, s.n);
	us = ticks * 1000000 / (uint64_t)(hz > 0 ? hz : 100);
	if (us > u->cpu_us)
		u->cpu_us = us;
	return rc;
}
