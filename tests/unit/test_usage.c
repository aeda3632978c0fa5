/*
 * The pure parts of measuring a jail without a cgroup: parsing /proc, and
 * accounting for processes between two samples (waited for, zombies,
 * orphans, released without a wait).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "jail/usage.h"

/* A /proc/PID/stat line with the fields usage reads set. */
static void stat_line(char *out, size_t len, int pid, const char *comm, char state, int ppid,
		      unsigned ut, unsigned st, unsigned cut, unsigned cst, unsigned start)
{
	snprintf(out, len,
		 "%d (%s) %c %d %d %d 0 -1 4194560 100 0 0 0 %u %u %u %u 20 0 1 0 %u 12345678 "
		 "300 18446744073709551615 94000000000000 94000000100000 0 0 0 0 0 0 0 0 0 0 0 "
		 "0 17 0 0 0 0 0 0\n",
		 pid, comm, state, ppid, pid, pid, ut, st, cut, cst, start);
}

static void test_parse_stat(void)
{
	struct usage_proc p;
	char line[512];

	stat_line(line, sizeof(line), 42, "python3", 'S', 7, 11, 22, 33, 44, 5555);
	CHECK(usage_parse_stat(line, &p) == 0);
	CHECK(p.pid == 42 && p.ppid == 7 && p.start == 5555);
	CHECK(p.own == 33 && p.child == 77);
	/* A command may hold spaces and parentheses: the last ')' ends it. */
	stat_line(line, sizeof(line), 9, "a) (b c) Z", 'Z', 1, 5, 6, 0, 0, 77);
	CHECK(usage_parse_stat(line, &p) == 0);
	CHECK(p.pid == 9 && p.ppid == 1 && p.own == 11 && p.start == 77);
	CHECK(usage_parse_stat("", &p) == -1);
	CHECK(usage_parse_stat("12 (x) S 1 2", &p) == -1);
	CHECK(usage_parse_stat("not a stat line", &p) == -1);
}

static void test_kb_field(void)
{
	const char *status = "Name:\tpython3\nVmPTE:\t      96 kB\nRssAnon:\t    6864 kB\n"
			     "RssShmem:\t       0 kB\n";

	CHECK(usage_kb_field(status, "RssAnon") == 6864 * 1024);
	CHECK(usage_kb_field(status, "VmPTE") == 96 * 1024);
	CHECK(usage_kb_field(status, "RssShmem") == 0);
	CHECK(usage_kb_field(status, "VmSwap") == 0);
	/* A key is a whole name, not a prefix. */
	CHECK(usage_kb_field(status, "Rss") == 0);
}

/* Build a sample (sorted by pid) from rows of {pid, ppid, start, own, child}. */
static struct usage_proc *sample(const unsigned rows[][5], size_t n)
{
	struct usage_proc *v = calloc(n, sizeof(*v));

	for (size_t i = 0; v && i < n; i++)
		v[i] = (struct usage_proc){(int32_t)rows[i][0], (int32_t)rows[i][1], rows[i][2],
					   rows[i][3],		rows[i][4],	     0};
	return v;
}

#define ACCOUNT(u, rows)                                                                           \
	usage_account((u), sample((rows), sizeof(rows) / sizeof((rows)[0])),                       \
		      sizeof(rows) / sizeof((rows)[0]))

/* init (1), a process P (2) and its child C (3) burning CPU. */
static const unsigned before[][5] = {{1, 0, 1, 1, 0}, {2, 1, 10, 10, 0}, {3, 2, 20, 50, 0}};

static void test_waited_child(void)
{
	struct jail_usage u;
	static const unsigned after[][5] = {{1, 0, 1, 1, 0}, {2, 1, 10, 12, 60}};

	usage_init(&u, -1, -1, 0);
	CHECK(ACCOUNT(&u, before) == 61);
	/* P waited for C: C's 60 ticks are in P's child time, counted once. */
	CHECK(ACCOUNT(&u, after) == 73);
	CHECK(u.lost == 0);
	usage_free(&u);
}

static void test_released_child(void)
{
	struct jail_usage u;
	static const unsigned after[][5] = {{1, 0, 1, 1, 0}, {2, 1, 10, 12, 0}};

	/* P ignores SIGCHLD: C is gone and nobody got its time; its last
	 * sampled time stays counted. */
	usage_init(&u, -1, -1, 0);
	ACCOUNT(&u, before);
	CHECK(ACCOUNT(&u, after) == 63);
	CHECK(u.lost == 50);
	usage_free(&u);
}

static void test_zombie(void)
{
	struct jail_usage u;
	static const unsigned after[][5] = {{1, 0, 1, 1, 0}, {2, 1, 10, 12, 0}, {3, 2, 20, 60, 0}};

	/* C exited and P never waits: the zombie still shows its time. */
	usage_init(&u, -1, -1, 0);
	ACCOUNT(&u, before);
	CHECK(ACCOUNT(&u, after) == 73);
	CHECK(u.lost == 0);
	usage_free(&u);
}

static void test_orphans(void)
{
	struct jail_usage u;
	/* P died (init waited for it); C, reparented to init, runs on. */
	static const unsigned orphaned[][5] = {{1, 0, 1, 1, 12}, {3, 1, 20, 70, 0}};
	/* Then C died too, and init waited for it. */
	static const unsigned reaped[][5] = {{1, 0, 1, 1, 92}};

	usage_init(&u, -1, -1, 0);
	ACCOUNT(&u, before);
	CHECK(ACCOUNT(&u, orphaned) == 83);
	CHECK(ACCOUNT(&u, reaped) == 93);
	CHECK(u.lost == 0);
	usage_free(&u);
}

static void test_parent_and_child_vanish_together(void)
{
	struct jail_usage u;
	/* Between two samples P waited for C, and init for P. */
	static const unsigned waited[][5] = {{1, 0, 1, 1, 75}};
	/* Or C was orphaned and init waited for both. */
	static const unsigned orphaned[][5] = {{1, 0, 1, 1, 75}};

	usage_init(&u, -1, -1, 0);
	ACCOUNT(&u, before);
	CHECK(ACCOUNT(&u, waited) == 76);
	CHECK(u.lost == 0);
	usage_free(&u);
	usage_init(&u, -1, -1, 0);
	ACCOUNT(&u, before);
	CHECK(ACCOUNT(&u, orphaned) == 76);
	CHECK(u.lost == 0);
	usage_free(&u);
}

static void test_budget_is_the_parents_own(void)
{
	struct jail_usage u;
	/* P released C without a wait, while init waited for orphans nobody
	 * saw: their time must not pay for C, whose parent is alive. */
	static const unsigned after[][5] = {{1, 0, 1, 1, 80}, {2, 1, 10, 12, 0}};

	usage_init(&u, -1, -1, 0);
	ACCOUNT(&u, before);
	CHECK(ACCOUNT(&u, after) == 1 + 80 + 12 + 50);
	CHECK(u.lost == 50);
	usage_free(&u);
}

static void test_pid_reuse(void)
{
	struct jail_usage u;
	/* Pid 3 is another process now (another start time); the old one was
	 * released without a wait. */
	static const unsigned after[][5] = {{1, 0, 1, 1, 0}, {2, 1, 10, 12, 0}, {3, 2, 99, 5, 0}};

	usage_init(&u, -1, -1, 0);
	ACCOUNT(&u, before);
	CHECK(ACCOUNT(&u, after) == 1 + 12 + 5 + 50);
	CHECK(u.lost == 50);
	usage_free(&u);
}

static void test_unavailable(void)
{
	struct jail_usage u;

	usage_init(&u, -1, -1, 0);
	CHECK(usage_sample(&u, USAGE_CPU | USAGE_MEMORY, 1 << 20) == -1);
	CHECK(u.err[0] != '\0');
	usage_free(&u);
}

int main(void)
{
	test_parse_stat();
	test_kb_field();
	test_waited_child();
	test_released_child();
	test_zombie();
	test_orphans();
	test_parent_and_child_vanish_together();
	test_budget_is_the_parents_own();
	test_pid_reuse();
	test_unavailable();
	return CHECK_DONE();
}
