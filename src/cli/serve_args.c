/* `brig serve` options.  Pure: fills serve_opts, nothing else. */
#include "cli/serve.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "util/parse.h"

const char serve_usage[] =
    "usage: brig serve [OPTIONS]\n"
    "\n"
    "Serve runs and sessions over HTTP/1.1 (JSON API under /v1, see README.md).\n"
    "\n"
    "  --listen HOST:PORT|unix:PATH  where to listen (default 127.0.0.1:8080)\n"
    "  --tokens FILE            bearer tokens, one \"NAME SECRET\" a line; without it\n"
    "                           only loopback or a unix socket is allowed\n"
    "  --policy FILE            what each token may use (hosts, mounts, kv stores,\n"
    "                           host functions, limits, sessions, rate)\n"
    "  --instance NAME          session ids start with NAME. (a router pins them)\n"
    "  --max-body SIZE          request body (default 10m)\n"
    "  --max-header SIZE        request line and headers (default 16k)\n"
    "  --request-timeout DURATION  how long a connection may stay silent, and\n"
    "                           the most a request body may take (default 10s)\n"
    "  --max-connections N      open connections (default 256)\n"
    "  --max-runs N             runs at once (default 8)\n"
    "  --max-queue N            runs waiting for a slot, then 429 (default 64)\n"
    "  --max-sessions N         sessions per token (default 8)\n"
    "  --session-ttl DURATION   close sessions idle this long (default 10m)\n"
    "  --drain-timeout DURATION on SIGTERM, how long runs may finish (default 30s)\n";

enum {
	O_LISTEN = 256,
	O_TOKENS,
	O_POLICY,
	O_BODY,
	O_HEADER,
	O_RTIMEOUT,
	O_CONNS,
	O_RUNS,
	O_QUEUE,
	O_SESSIONS,
	O_TTL,
	O_DRAIN,
	O_HELP,
	O_INSTANCE,
};

static const struct option longopts[] = {
    {"listen", required_argument, NULL, O_LISTEN},
    {"tokens", required_argument, NULL, O_TOKENS},
    {"policy", required_argument, NULL, O_POLICY},
    {"max-body", required_argument, NULL, O_BODY},
    {"max-header", required_argument, NULL, O_HEADER},
    {"request-timeout", required_argument, NULL, O_RTIMEOUT},
    {"max-connections", required_argument, NULL, O_CONNS},
    {"max-runs", required_argument, NULL, O_RUNS},
    {"max-queue", required_argument, NULL, O_QUEUE},
    {"max-sessions", required_argument, NULL, O_SESSIONS},
    {"session-ttl", required_argument, NULL, O_TTL},
    {"drain-timeout", required_argument, NULL, O_DRAIN},
    {"help", no_argument, NULL, O_HELP},
    {"instance", required_argument, NULL, O_INSTANCE},
    {NULL, 0, NULL, 0},
};

static int bad(char *err, size_t errlen, const char *opt, const char *val)
{
	snprintf(err, errlen, "invalid value '%s' for --%s", val, opt);
	return -1;
}

static int parse_one(int c, const char *v, struct serve_opts *o)
{
	uint64_t n = 0;

	switch (c) {
	case O_LISTEN:
		o->listen = v;
		return 0;
	case O_TOKENS:
		o->tokens_file = v;
		return 0;
	case O_POLICY:
		o->policy_file = v;
		return 0;
	case O_INSTANCE:
		/* Safe in a path and a log line: [a-z0-9-]. */
		if (!*v || strlen(v) > SERVE_INSTANCE_MAX ||
		    strspn(v, "abcdefghijklmnopqrstuvwxyz"
			      "0123456789-") != strlen(v))
			return -1;
		o->instance = v;
		return 0;
	case O_BODY:
		return parse_size(v, &o->max_body);
	case O_HEADER:
		if (parse_size(v, &n) || n < 1024 || n > (1u << 20))
			return -1;
		o->max_header = (uint32_t)n;
		return 0;
	case O_RTIMEOUT:
		/* libmicrohttpd counts whole seconds. */
		if (parse_duration_ms(v, &n) || n < 1000 || n > 3600000)
			return -1;
		o->request_timeout = (uint32_t)(n / 1000);
		return 0;
	case O_CONNS:
		return parse_count(v, &o->max_connections);
	case O_RUNS:
		return parse_count(v, &o->max_runs);
	case O_QUEUE:
		/* 0 is allowed: no queue, 429 as soon as every slot is taken. */
		if (strcmp(v, "0") == 0)
			return o->max_queue = 0, 0;
		return parse_count(v, &o->max_queue);
	case O_SESSIONS:
		return parse_count(v, &o->max_sessions);
	case O_TTL:
		return parse_duration_ms(v, &o->session_ttl_ms);
	case O_DRAIN:
		return parse_duration_ms(v, &o->drain_timeout_ms);
	}
	return -1;
}

int serve_parse_args(int argc, char **argv, struct serve_opts *o, char *err, size_t errlen)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->listen = "127.0.0.1:8080";
	o->max_body = 10u << 20;
	o->max_header = 16u << 10;
	o->request_timeout = 10;
	o->max_connections = 256;
	o->max_runs = 8;
	o->max_queue = 64;
	o->max_sessions = 8;
	o->session_ttl_ms = 600000;
	o->drain_timeout_ms = 30000;
	/* Without a policy a caller may lower the defaults, never raise them. */
	brig_limits_init(&o->ceiling);
	o->ceiling.wall_timeout_ms = BRIG_DEFAULT_WALL_TIMEOUT_MS;
	o->ceiling.memory_bytes = BRIG_DEFAULT_MEMORY_BYTES;
	o->ceiling.max_pids = BRIG_DEFAULT_MAX_PIDS;
	o->ceiling.max_output_bytes = BRIG_DEFAULT_MAX_OUTPUT_BYTES;
	o->ceiling.tmp_bytes = BRIG_DEFAULT_TMP_BYTES;
	o->ceiling.max_code_bytes = BRIG_DEFAULT_MAX_CODE_BYTES;
	o->ceiling.mount_write_bytes = BRIG_DEFAULT_MOUNT_WRITE_BYTES;
	o->ceiling.max_open_files = BRIG_DEFAULT_MAX_OPEN_FILES;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		if (c == O_HELP) {
			snprintf(err, errlen, "help");
			return 1;
		}
		if (c == '?') {
			snprintf(err, errlen,
				 "unknown or incomplete option (see brig serve --help)");
			return -1;
		}
		if (parse_one(c, optarg, o))
			return bad(err, errlen, longopts[c - O_LISTEN].name, optarg);
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}
