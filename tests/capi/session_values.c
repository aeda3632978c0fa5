/*
 * The embedder's side of tests/property/test_session_values.py: one session
 * whose handlers are called with events from stdin, through the C API.
 *
 *   session_values LANG [MAX_FRAME_BYTES]
 *   stdin:  the handlers, one line of JSON: {"name": "code", ...}
 *           then one call per line: NAME \t EVENT_JSON
 *   stdout: one line per call: OK \t RESULT_JSON
 *                          or: ERR \t ERROR_NAME \t POISONED (0/1) \t MESSAGE
 *
 * The session may call the host function "echo", which returns its
 * arguments.  Exits 0 once stdin ends, 1 if the session cannot be set up.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brig.h"
#include "capi.h"

static int echo(void *ud, const char *name, const char *args, char **result, char **err)
{
	(void)ud, (void)name, (void)err;
	*result = strdup(args);
	return *result ? 0 : 1;
}

static int add_handlers(brig_session *s, const char *line)
{
	json_t *all = json_loads(line, 0, NULL), *code;
	const char *name;
	int rc = all ? BRIG_OK : BRIG_E_INVAL;

	json_object_foreach(all, name, code)
	{
		if (rc == BRIG_OK)
			rc = brig_session_add_handler(s, name, json_string_value(code));
	}
	json_decref(all);
	return rc == BRIG_OK ? brig_session_load(s, NULL) : rc;
}

/* A message on one line. */
static void print_flat(const char *msg)
{
	for (const char *c = msg; *c; c++)
		putchar(*c == '\n' || *c == '\t' || *c == '\r' ? ' ' : *c);
}

static void call_one(brig_session *s, char *line)
{
	char *tab = strchr(line, '\t'), *result = NULL;
	brig_result *res = NULL;
	brig_call_opts o;
	int rc;

	/* A full collection after each call would cost more than the call. */
	brig_call_opts_init(&o);
	o.gc = false;
	if (!tab) {
		printf("ERR\tBAD_LINE\t0\tno tab\n");
		return;
	}
	*tab = '\0';
	rc = brig_session_call_handler(s, line, tab + 1, &o, &result, &res);
	if (rc == BRIG_OK) {
		printf("OK\t%s\n", result);
	} else {
		printf("ERR\t%s\t%d\t", brig_err_name(rc), brig_session_poisoned(s));
		print_flat(brig_result_message(res) ? brig_result_message(res) : "");
		putchar('\n');
	}
	fflush(stdout);
	free(result);
	brig_result_free(res);
}

int main(int argc, char **argv)
{
	brig_executor *ex = test_executor();
	brig_session *s = NULL;
	brig_caps *caps = NULL;
	brig_run_opts o;
	brig_lang lang;
	char *line = NULL, *why = NULL;
	size_t cap = 0;
	ssize_t n;
	int status = 1;

	if (argc < 2 || brig_lang_parse(argv[1], &lang) != BRIG_OK || !ex) {
		fprintf(stderr, "usage: session_values LANG [MAX_FRAME_BYTES]\n");
		return 2;
	}
	brig_run_opts_init(&o);
	if (argc > 2)
		o.limits.max_frame_bytes = strtoull(argv[2], NULL, 10);
	if (brig_caps_new(&caps) != BRIG_OK ||
	    brig_caps_add_function(caps, "echo", echo, NULL) != BRIG_OK)
		goto out;
	o.caps = caps;
	if (brig_session_new(ex, lang, &o, &s, &why) != BRIG_OK) {
		fprintf(stderr, "session: %s\n", why ? why : "?");
		goto out;
	}
	if ((n = getline(&line, &cap, stdin)) <= 0 || add_handlers(s, line) != BRIG_OK) {
		fprintf(stderr, "cannot load the handlers\n");
		goto out;
	}
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		call_one(s, line);
	}
	status = 0;
out:
	free(line);
	free(why);
	brig_session_free(s);
	brig_caps_free(caps);
	brig_executor_free(ex);
	return status;
}
