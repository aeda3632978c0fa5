/*
 * `brig mcp`: a Model Context Protocol server on stdin/stdout (JSON-RPC
 * 2.0, one message a line).  Tools run code once (run_python,
 * run_javascript, run_shell) or in a session kept across calls
 * (session_create, session_exec, session_close).  What the tools may use
 * is the policy file's grant for --as NAME, exactly as for `brig serve`.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/hostfn_cmd.h"
#include "cli/mcp_inbox.h"
#include "cli/serve.h"
#include "cli/serve_load.h"

#define MCP_VERSION "2025-06-18"
#define MCP_MAX_LINE (16u << 20)

static const char *const known_versions[] = {"2025-06-18", "2025-03-26", "2024-11-05"};

static const char mcp_usage[] =
    "usage: brig mcp [--policy FILE] [--as NAME] [--max-sessions N]\n"
    "\n"
    "A Model Context Protocol server on stdin/stdout.  Tools: run_python,\n"
    "run_javascript, run_shell, session_create, session_exec, session_close.\n"
    "--policy and --as NAME choose the grant (see brig serve; default: the\n"
    "policy's \"default\", else no capabilities and the default limits).\n";

struct mcp {
	brig_executor *ex;
	struct serve_policy policy;
	const struct serve_grant *grant;
	const char *who;
	brig_limits ceiling;
	uint32_t max_sessions;
	struct serve_sessions sessions;
	struct mcp_inbox *inbox;
};

/* ------------------------------------------------------------------ wire */

static void send_msg(json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(9));

	json_decref(msg);
	if (!s)
		return;
	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	free(s);
}

static void reply(json_t *id, json_t *result)
{
	send_msg(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result));
}

static void reply_error(json_t *id, int code, const char *message)
{
	send_msg(json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
			   id ? id : json_null(), "error", "code", code, "message", message));
}

/* ----------------------------------------------------------------- tools */

static json_t *schema_props(bool run, bool session_id)
{
	json_t *p = json_object();

	if (session_id)
		json_object_set_new(p, "session_id", json_pack("{s:s}", "type", "string"));
	if (run) {
		json_object_set_new(
		    p, "code",
		    json_pack("{s:s, s:s}", "type", "string", "description", "the program to run"));
		json_object_set_new(p, "stdin", json_pack("{s:s}", "type", "string"));
	}
	return p;
}

static json_t *caps_props(json_t *p)
{
	json_object_set_new(p, "limits",
			    json_pack("{s:s, s:s}", "type", "object", "description",
				      "wallTimeoutMs, cpuTimeoutMs, memoryBytes, maxPids, ..."));
	json_object_set_new(
	    p, "hosts", json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string"));
	json_object_set_new(p, "mounts", json_pack("{s:s}", "type", "array"));
	json_object_set_new(p, "kv", json_pack("{s:s}", "type", "string"));
	json_object_set_new(
	    p, "functions",
	    json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string"));
	return p;
}

static json_t *tool(const char *name, const char *desc, json_t *props, json_t *required)
{
	return json_pack("{s:s, s:s, s:{s:s, s:o, s:o, s:b}}", "name", name, "description", desc,
			 "inputSchema", "type", "object", "properties", props, "required", required,
			 "additionalProperties", 0);
}

static json_t *tools_list(void)
{
	json_t *exec = schema_props(true, true);

	json_object_del(exec, "stdin");
	json_object_set_new(exec, "wallClockTimeoutMs", json_pack("{s:s}", "type", "integer"));
	json_object_set_new(exec, "cpuTimeoutMs", json_pack("{s:s}", "type", "integer"));
	return json_pack(
	    "{s:[o, o, o, o, o, o]}", "tools",
	    tool("run_python",
		 "Run Python 3 code in a fresh sandbox; returns stdout, stderr, "
		 "the exit code and brig's error code.",
		 caps_props(schema_props(true, false)), json_pack("[s]", "code")),
	    tool("run_javascript", "Run JavaScript (Node) code in a fresh sandbox.",
		 caps_props(schema_props(true, false)), json_pack("[s]", "code")),
	    tool("run_shell", "Run a POSIX shell script in a fresh sandbox.",
		 caps_props(schema_props(true, false)), json_pack("[s]", "code")),
	    tool("session_create",
		 "Start a session (python or javascript) whose variables, imports and files "
		 "persist across session_exec calls; returns its session_id.",
		 caps_props(json_pack("{s:{s:s, s:[s, s]}}", "lang", "type", "string", "enum",
				      "python", "javascript")),
		 json_array()),
	    tool("session_exec", "Run code in a session.", exec,
		 json_pack("[s, s]", "session_id", "code")),
	    tool("session_close", "Close a session.", schema_props(false, true),
		 json_pack("[s]", "session_id")));
}

static json_t *text_result(const char *text, bool error)
{
	return json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text", "text", text,
			 "isError", error);
}

/* A run's result: a readable text block plus the whole result as JSON. */
static json_t *run_result(const brig_result *res)
{
	char *j = brig_result_to_json(res);
	json_t *o = j ? json_loads(j, 0, NULL) : NULL, *out;
	char *text = NULL;
	bool failed = brig_result_error(res) != BRIG_OK || brig_result_exit_code(res) != 0;

	free(j);
	if (!o)
		return text_result("out of memory", true);
	if (asprintf(&text, "exit_code: %d\nerror: %s\n--- stdout ---\n%s\n--- stderr ---\n%s",
		     brig_result_exit_code(res),
		     brig_result_error(res) ? brig_err_name(brig_result_error(res)) : "none",
		     json_string_value(json_object_get(o, "stdout")),
		     json_string_value(json_object_get(o, "stderr"))) < 0)
		text = NULL;
	out = text_result(text ? text : "", failed);
	json_object_set_new(out, "structuredContent", o);
	free(text);
	return out;
}

/* Parse and check a tool's arguments; NULL, or an error result. */
static json_t *checked(struct mcp *m, json_t *args, unsigned allowed, unsigned required,
		       struct serve_req *req, brig_limits *eff, brig_caps **caps)
{
	char err[512], msg[600];

	if (serve_req_from_json(args, allowed, required, req, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "invalid arguments: %s", err);
		return text_result(msg, true);
	}
	if (!caps)
		return NULL;
	if (serve_req_check(req, m->grant, &m->ceiling, eff, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "not granted: %s", err);
		return text_result(msg, true);
	}
	if (brig_caps_new(caps) || serve_req_caps(req, m->grant, hostfn_command, *caps))
		return text_result("the capabilities asked for are invalid", true);
	return NULL;
}

static json_t *tool_run(struct mcp *m, brig_lang lang, json_t *args)
{
	struct serve_req req;
	brig_caps *caps = NULL;
	brig_result *res = NULL;
	brig_run_opts ro;
	json_t *out;

	brig_run_opts_init(&ro);
	out = checked(m, args, SF_CODE | SF_STDIN | SERVE_CAP_FIELDS, SF_CODE, &req, &ro.limits,
		      &caps);
	if (!out) {
		ro.caps = caps;
		ro.stdin_data = req.stdin_data;
		ro.stdin_len = req.stdin_len;
		if (brig_cancel_new(&ro.cancel) == BRIG_OK) {
			mcp_inbox_watch(m->inbox, ro.cancel, NULL);
			brig_run(m->ex, lang, req.code, req.code_len, &ro, &res);
			mcp_inbox_watch(m->inbox, NULL, NULL);
			brig_cancel_free(ro.cancel);
		}
		out = res ? run_result(res) : text_result("out of memory", true);
	}
	brig_result_free(res);
	brig_caps_free(caps);
	serve_req_free(&req);
	return out;
}

static json_t *tool_session_create(struct mcp *m, json_t *args)
{
	struct serve_req req;
	struct serve_sess *sess = NULL;
	brig_caps *caps = NULL;
	brig_session *s = NULL;
	brig_run_opts ro;
	char *why = NULL, msg[600];
	json_t *out;
	int rc;

	brig_run_opts_init(&ro);
	out = checked(m, args, SF_LANG | SERVE_CAP_FIELDS, 0, &req, &ro.limits, &caps);
	if (out)
		goto done;
	if (serve_sess_reserve(&m->sessions, m->who, m->max_sessions, &sess)) {
		out = text_result("too many sessions: close one first", true);
		goto done;
	}
	ro.caps = caps;
	rc = brig_session_new(m->ex, req.lang, &ro, &s, &why);
	serve_sess_started(&m->sessions, sess, s, s ? caps : NULL, req.lang);
	if (s) {
		caps = NULL;
		snprintf(msg, sizeof(msg), "session_id: %s", serve_sess_id(sess));
		out = text_result(msg, false);
		json_object_set_new(out, "structuredContent",
				    json_pack("{s:s}", "session_id", serve_sess_id(sess)));
	} else {
		snprintf(msg, sizeof(msg), "cannot start a session: %s: %s", brig_err_name(rc),
			 why ? why : brig_strerror(rc));
		out = text_result(msg, true);
	}
	serve_sess_put(&m->sessions, sess);
done:
	free(why);
	brig_caps_free(caps);
	serve_req_free(&req);
	return out;
}

static json_t *tool_session_exec(struct mcp *m, json_t *args)
{
	struct serve_req req;
	struct serve_sess *sess;
	brig_result *res = NULL;
	brig_call_opts o;
	json_t *out = checked(m, args, SF_SESSION | SF_CODE | SF_WALL | SF_CPU,
			      SF_SESSION | SF_CODE, &req, NULL, NULL);

	if (out)
		goto done;
	if (!(sess = serve_sess_get(&m->sessions, m->who, req.session))) {
		out = text_result("no such session", true);
		goto done;
	}
	brig_call_opts_init(&o);
	o.wall_timeout_ms = req.wall_ms;
	o.cpu_timeout_ms = req.cpu_ms;
	/* Cancelled before it started: never started (no answer goes out). */
	if (mcp_inbox_watch(m->inbox, NULL, serve_sess_handle(sess)))
		out = text_result("cancelled", true);
	else
		brig_session_run(serve_sess_handle(sess), req.code, req.code_len, &o, &res);
	mcp_inbox_watch(m->inbox, NULL, NULL);
	serve_sess_put(&m->sessions, sess);
	if (!out)
		out = res ? run_result(res) : text_result("out of memory", true);
	brig_result_free(res);
done:
	serve_req_free(&req);
	return out;
}

static json_t *tool_session_close(struct mcp *m, json_t *args)
{
	struct serve_req req;
	json_t *out = checked(m, args, SF_SESSION, SF_SESSION, &req, NULL, NULL);

	if (!out)
		out = serve_sess_close(&m->sessions, m->who, req.session)
			  ? text_result("no such session", true)
			  : text_result("closed", false);
	serve_req_free(&req);
	return out;
}

/* The result of tools/call, or NULL for an unknown tool. */
static json_t *call_tool(struct mcp *m, const char *name, json_t *args)
{
	if (strcmp(name, "run_python") == 0)
		return tool_run(m, BRIG_LANG_PYTHON, args);
	if (strcmp(name, "run_javascript") == 0)
		return tool_run(m, BRIG_LANG_JS, args);
	if (strcmp(name, "run_shell") == 0)
		return tool_run(m, BRIG_LANG_SH, args);
	if (strcmp(name, "session_create") == 0)
		return tool_session_create(m, args);
	if (strcmp(name, "session_exec") == 0)
		return tool_session_exec(m, args);
	if (strcmp(name, "session_close") == 0)
		return tool_session_close(m, args);
	return NULL;
}

/* -------------------------------------------------------------- dispatch */

static json_t *initialize(json_t *params)
{
	const char *asked = json_string_value(json_object_get(params, "protocolVersion"));
	const char *version = MCP_VERSION;

	for (size_t i = 0; asked && i < sizeof(known_versions) / sizeof(*known_versions); i++) {
		if (strcmp(asked, known_versions[i]) == 0)
			version = known_versions[i];
	}
	return json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s}, s:s}", "protocolVersion", version,
			 "capabilities", "tools", "listChanged", 0, "serverInfo", "name", "brig",
			 "version", BRIG_VERSION, "instructions",
			 "Runs untrusted code in brig's sandbox: no network, files or host "
			 "access beyond what the operator's policy grants.");
}

static void handle(struct mcp *m, json_t *msg)
{
	json_t *id = json_object_get(msg, "id"), *params = json_object_get(msg, "params");
	const char *method = json_string_value(json_object_get(msg, "method"));

	if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "jsonrpc")) ||
	    strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0 || !method) {
		/* Responses from the client (we send no requests) are ignored. */
		if (!(json_is_object(msg) && id && !method))
			reply_error(id, -32600, "invalid request");
		return;
	}
	if (!id)
		return; /* a notification: initialized, ... (cancelled: mcp_inbox.c) */
	if (strcmp(method, "initialize") == 0)
		reply(id, initialize(params));
	else if (strcmp(method, "ping") == 0)
		reply(id, json_object());
	else if (strcmp(method, "tools/list") == 0)
		reply(id, tools_list());
	else if (strcmp(method, "tools/call") == 0) {
		const char *name = json_string_value(json_object_get(params, "name"));
		json_t *args = json_object_get(params, "arguments"), *res;
		json_t *empty = json_object();

		mcp_inbox_begin(m->inbox, id);
		res = name ? call_tool(m, name, args ? args : empty) : NULL;
		json_decref(empty);
		if (mcp_inbox_end(m->inbox))
			json_decref(res); /* cancelled: MCP wants no answer */
		else if (res)
			reply(id, res);
		else
			reply_error(id, -32602, name ? "unknown tool" : "params.name is required");
	} else
		reply_error(id, -32601, "method not found");
}

static int parse_args(int argc, char **argv, struct mcp *m, const char **policy)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(mcp_usage, stdout);
			return 1;
		}
		if (!v)
			goto bad;
		if (strcmp(a, "--policy") == 0)
			*policy = v;
		else if (strcmp(a, "--as") == 0)
			m->who = v;
		else if (strcmp(a, "--max-sessions") == 0) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);
			if (*end || n == 0 || n > 1000)
				goto bad;
			m->max_sessions = (uint32_t)n;
		} else
			goto bad;
		i++;
	}
	return 0;
bad:
	fprintf(stderr, "brig mcp: bad arguments (see brig mcp --help)\n");
	return -1;
}

/* Requests one at a time; mcp_inbox.c reads on meanwhile. */
static int serve_stdio(struct mcp *m)
{
	const char *why;
	json_t *msg;
	int error;

	if (!(m->inbox = mcp_inbox_start(stdin, MCP_MAX_LINE)))
		return -1;
	while ((msg = mcp_inbox_next(m->inbox, &error, &why)) || error) {
		if (msg)
			handle(m, msg);
		else
			reply_error(NULL, error, why);
		json_decref(msg);
	}
	mcp_inbox_free(m->inbox);
	return 0;
}

int mcp_main(int argc, char **argv)
{
	struct mcp m = {.who = "default", .max_sessions = 8};
	const char *policy = NULL;
	brig_config cfg;
	char err[512], *why = NULL;
	int rc = parse_args(argc, argv, &m, &policy);

	if (rc)
		return rc > 0 ? 0 : 2;
	brig_limits_init(&m.ceiling);
	m.ceiling.wall_timeout_ms = BRIG_DEFAULT_WALL_TIMEOUT_MS;
	m.ceiling.memory_bytes = BRIG_DEFAULT_MEMORY_BYTES;
	m.ceiling.max_pids = BRIG_DEFAULT_MAX_PIDS;
	m.ceiling.max_output_bytes = BRIG_DEFAULT_MAX_OUTPUT_BYTES;
	if (policy && (serve_load_policy(policy, &m.policy, err, sizeof(err)) ||
		       serve_open_stores(&m.policy, err, sizeof(err)))) {
		fprintf(stderr, "brig mcp: --policy %s: %s\n", policy, err);
		serve_policy_free(&m.policy);
		return 2;
	}
	m.grant = serve_policy_find(&m.policy, m.who);
	if (m.grant && m.grant->max_sessions)
		m.max_sessions = m.grant->max_sessions;
	serve_sessions_init(&m.sessions, NULL);
	serve_config(&cfg);
	if (brig_executor_new(&cfg, &m.ex, &why)) {
		fprintf(stderr, "brig mcp: sandbox unavailable: %s\n", why ? why : "unknown");
		free(why);
		serve_policy_free(&m.policy);
		return 125;
	}
	if (serve_stdio(&m) < 0) {
		fprintf(stderr, "brig mcp: cannot start reading: %s\n", strerror(errno));
		rc = 1;
	}
	serve_sess_reap(&m.sessions, 0);
	brig_executor_free(m.ex);
	serve_policy_free(&m.policy);
	return rc;
}
