/*
 * `brig repl`: an interactive session.  Lines are gathered until the guest
 * says the statement is complete, then run with the value echoed.  Ctrl-C
 * asks the running code to stop (Python raises KeyboardInterrupt); if it has
 * not stopped after a grace period the call is killed and the REPL says so
 * and restores the session from its start (Python) or starts afresh (JS).
 */
#include <editline/readline.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/buf.h"

#define GRACE_MS 2000

struct repl {
	brig_executor *ex;
	brig_lang lang;
	const brig_run_opts *ro;
	brig_session *s;
	brig_snapshot *start; /* the fresh state, for a reset; NULL without snapshots */
	bool tty;
	char history[1024];
	atomic_bool running;
	atomic_uint statement; /* counts statements, so a late kill cannot hit the next one */
	int wake[2];	       /* SIGINT handler -> watcher thread */
};

/* The only state a signal handler may touch: the pipe it writes to. */
static int sigint_fd = -1;

static void on_sigint(int sig)
{
	(void)sig;
	if (sigint_fd >= 0)
		(void)!write(sigint_fd, "i", 1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static bool still_running(struct repl *r, unsigned stmt)
{
	return atomic_load(&r->running) && atomic_load(&r->statement) == stmt;
}

/* Turns each Ctrl-C into a break, and a break that does not work into a kill. */
static void *watcher(void *arg)
{
	struct repl *r = arg;
	char c;

	while (read(r->wake[0], &c, 1) == 1) {
		unsigned stmt = atomic_load(&r->statement);

		if (c == 'q')
			break;
		if (!atomic_load(&r->running))
			continue;
		brig_session_break(r->s);
		for (int waited = 0; waited < GRACE_MS && still_running(r, stmt); waited += 10)
			sleep_ms(10);
		if (still_running(r, stmt))
			brig_session_interrupt(r->s);
	}
	return NULL;
}

static int open_session(struct repl *r)
{
	char *why = NULL;

	if (brig_session_new(r->ex, r->lang, r->ro, &r->s, &why) != BRIG_OK) {
		fprintf(stderr, "brig: cannot start a session: %s\n", why ? why : "unknown reason");
		free(why);
		return -1;
	}
	/* A reset point (JavaScript has none where brig lacks its node addon). */
	brig_session_snapshot(r->s, &r->start);
	return 0;
}

/* After a kill: back to the start, with a word about it. */
static int reset(struct repl *r)
{
	if (r->start && brig_session_restore(r->s, r->start) == BRIG_OK) {
		fprintf(stderr, "brig: the code did not stop; the session was restored to its "
				"start\n");
		return 0;
	}
	fprintf(stderr, "brig: the code did not stop; the session was restarted\n");
	brig_snapshot_free(r->start);
	r->start = NULL;
	brig_session_free(r->s);
	r->s = NULL;
	return open_session(r);
}

static char *read_line(struct repl *r, bool more)
{
	const char *prompt = more ? "... " : r->lang == BRIG_LANG_PYTHON ? ">>> " : "> ";
	struct buf b = BUF_INIT;
	int c;

	if (r->tty)
		return readline(prompt);
	while ((c = getchar()) != EOF && c != '\n')
		buf_append(&b, &(char){(char)c}, 1);
	if (c == EOF && b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static bool blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

/* Run one complete statement.  Returns -1 when the session has ended. */
static int execute(struct repl *r, const struct buf *stmt, int *exit_code)
{
	brig_call_opts o;
	brig_result *res = NULL;
	int rc;

	brig_call_opts_init(&o);
	o.interactive = true;
	o.filename = "<stdin>";
	atomic_fetch_add(&r->statement, 1);
	atomic_store(&r->running, true);
	rc = brig_session_run(r->s, stmt->data, stmt->len, &o, &res);
	atomic_store(&r->running, false);
	if (rc == BRIG_E_CANCELLED && brig_session_poisoned(r->s)) {
		/* Why it was killed ("wall-clock timeout of ..."), as the one-shot CLI says. */
		if (brig_result_limit(res) != BRIG_LIMIT_NONE)
			fprintf(stderr, "brig: %s: %s\n", brig_err_name(rc),
				brig_result_message(res));
		brig_result_free(res);
		return reset(r);
	}
	if (rc == BRIG_E_CONSUMED ||
	    (rc == BRIG_OK && brig_result_exit_code(res) != 0 && brig_result_exit_code(res) != 1)) {
		*exit_code = brig_result_exit_code(res);
		brig_result_free(res);
		return -1;
	}
	if (rc != BRIG_OK)
		fprintf(stderr, "brig: %s: %s\n", brig_err_name(rc), brig_result_message(res));
	brig_result_free(res);
	return 0;
}

static void remember(struct repl *r, const struct buf *stmt)
{
	char *entry;

	if (!r->tty || !(entry = strndup(stmt->data, stmt->len - 1)))
		return;
	add_history(entry);
	free(entry);
}

/* Gather lines into a statement; 1 when one is ready, 0 at EOF. */
static int gather(struct repl *r, struct buf *stmt)
{
	bool complete = false;
	char *line;

	stmt->len = 0;
	while ((line = read_line(r, stmt->len > 0))) {
		buf_append(stmt, line, strlen(line));
		buf_append(stmt, "\n", 1);
		free(line);
		if (blank(stmt->data)) {
			stmt->len = 0;
			continue;
		}
		if (brig_session_complete(r->s, stmt->data, &complete) != BRIG_OK || complete)
			return 1;
	}
	return stmt->len > 0; /* run what is left at EOF */
}

static int loop(struct repl *r)
{
	struct buf stmt = BUF_INIT;
	int exit_code = 0;

	while (r->s && gather(r, &stmt)) {
		remember(r, &stmt);
		if (execute(r, &stmt, &exit_code) < 0)
			break;
	}
	if (r->tty)
		putchar('\n');
	buf_free(&stmt);
	return exit_code;
}

static void history_start(struct repl *r)
{
	const char *home = getenv("HOME");

	if (!r->tty || !home)
		return;
	snprintf(r->history, sizeof(r->history), "%s/.brig_history", home);
	using_history();
	read_history(r->history);
}

int cli_repl(brig_executor *ex, brig_lang lang, const brig_run_opts *ro)
{
	struct repl r = {.ex = ex, .lang = lang, .ro = ro, .tty = isatty(0) && isatty(1)};
	struct sigaction sa = {0};
	pthread_t w;
	int rc;

	if (lang == BRIG_LANG_SH) {
		fprintf(stderr, "brig: the REPL speaks python or js\n");
		return 2;
	}
	if (pipe2(r.wake, O_CLOEXEC) < 0 || open_session(&r) < 0)
		return 125;
	history_start(&r);
	sigint_fd = r.wake[1];
	sa.sa_handler = on_sigint;
	sa.sa_flags = SA_RESTART; /* a Ctrl-C at the prompt must not end the input */
	sigaction(SIGINT, &sa, NULL);
	pthread_create(&w, NULL, watcher, &r);
	rc = loop(&r);
	(void)!write(r.wake[1], "q", 1);
	pthread_join(w, NULL);
	if (r.history[0])
		write_history(r.history);
	brig_snapshot_free(r.start);
	brig_session_free(r.s);
	close(r.wake[0]);
	close(r.wake[1]);
	return rc;
}
