/* The outcome of a run and its accessors. */
#include "lib/internal.h"
#include "util/base64.h"
#include "util/utf8.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

brig_result *result_new(void)
{
	brig_result *r = calloc(1, sizeof(*r));

	if (r)
		r->exit_code = -1;
	return r;
}

int result_fail(brig_result *r, int code, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	/* Guest text reaches here cut to fit buffers (a handler's exception). */
	if (msg)
		utf8_scrub(msg);
	free(r->message);
	r->message = msg;
	r->error = code;
	return code;
}

int brig_result_error(const brig_result *r)
{
	return r ? r->error : BRIG_E_INVAL;
}

const char *brig_result_message(const brig_result *r)
{
	return r && r->message ? r->message : "";
}

int brig_result_exit_code(const brig_result *r)
{
	return r ? r->exit_code : -1;
}

int brig_result_signal(const brig_result *r)
{
	return r ? r->signal : 0;
}

brig_limit_kind brig_result_limit(const brig_result *r)
{
	return r ? r->limit : BRIG_LIMIT_NONE;
}

static const char *stream_data(const struct buf *b, size_t *len)
{
	if (len)
		*len = b->len;
	return b->data ? b->data : "";
}

const char *brig_result_stdout(const brig_result *r, size_t *len)
{
	return stream_data(&r->out, len);
}

const char *brig_result_stderr(const brig_result *r, size_t *len)
{
	return stream_data(&r->err, len);
}

bool brig_result_stdout_truncated(const brig_result *r)
{
	return r->out_trunc;
}

bool brig_result_stderr_truncated(const brig_result *r)
{
	return r->err_trunc;
}

uint64_t brig_result_wall_us(const brig_result *r)
{
	return r->wall_us;
}

uint64_t brig_result_cpu_us(const brig_result *r)
{
	return r->cpu_us;
}

int brig_result_warm(const brig_result *r)
{
	return r && r->warm;
}

uint64_t brig_result_proxy_connections(const brig_result *r)
{
	return r ? r->proxy_connections : 0;
}

uint64_t brig_result_proxy_refused(const brig_result *r)
{
	return r ? r->proxy_refused : 0;
}

static const char *limit_name(brig_limit_kind k)
{
	static const char *const names[] = {"none", "wall",   "cpu", "memory",
					    "pids", "output", "disk"};

	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}

/*
 * Output may hold any bytes, and a message may quote guest text cut to fit a
 * buffer; JSON needs UTF-8, so invalid sequences become U+FFFD.
 */
static json_t *text_json(const char *s, size_t len)
{
	struct buf clean = BUF_INIT;
	json_t *out;

	if (utf8_sanitize(&clean, s, len))
		return NULL;
	out = json_stringn(clean.data ? clean.data : "", clean.len);
	buf_free(&clean);
	return out;
}

static json_t *text_value(const struct buf *b)
{
	return text_json(b->data ? b->data : "", b->len);
}

static json_t *message_value(const brig_result *r)
{
	return text_json(brig_result_message(r), strlen(brig_result_message(r)));
}

static json_t *artifact_value(const struct artifact *a)
{
	char *b64 = base64_encode(a->data.data ? a->data.data : "", a->data.len);
	json_t *name = text_json(a->name, strlen(a->name)), *o;

	o = b64 && name ? json_pack("{s:o, s:s, s:I, s:s}", "name", name, "mime", a->mime, "size",
				    (json_int_t)a->data.len, "base64", b64)
			: NULL;
	if (!o)
		json_decref(name);
	free(b64);
	return o;
}

/* Attach the artifacts to o, or drop o. */
static json_t *with_artifacts(json_t *o, const brig_result *r)
{
	json_t *arr = o ? json_array() : NULL;

	for (size_t i = 0; arr && i < r->narts; i++) {
		if (json_array_append_new(arr, artifact_value(&r->arts[i])) < 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (!arr || json_object_set_new(o, "artifacts", arr) < 0 ||
	    json_object_set_new(o, "artifacts_truncated", json_boolean(r->arts_trunc)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *brig_result_to_json(const brig_result *r)
{
	json_t *o;
	char *s;

	if (!r)
		return NULL;
	o = json_pack(
	    "{s:b, s:s?, s:i, s:o, s:i, s:i, s:s, s:o, s:o, s:b, s:b, s:f, s:f, s:b, s:I, s:I}",
	    "ok", r->error == BRIG_OK, "error",
	    r->error == BRIG_OK ? NULL : brig_err_name(r->error), "error_code", r->error, "message",
	    message_value(r), "exit_code", r->exit_code, "signal", r->signal, "limit",
	    limit_name(r->limit), "stdout", text_value(&r->out), "stderr", text_value(&r->err),
	    "stdout_truncated", r->out_trunc, "stderr_truncated", r->err_trunc, "wall_ms",
	    r->wall_us / 1000.0, "cpu_ms", r->cpu_us / 1000.0, "warm", r->warm != 0,
	    "proxy_connections", (json_int_t)r->proxy_connections, "proxy_refused",
	    (json_int_t)r->proxy_refused);
	if (!(o = with_artifacts(o, r)))
		return NULL;
	s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
	json_decref(o);
	return s;
}

void brig_result_free(brig_result *r)
{
	if (!r)
		return;
	free(r->message);
	buf_free(&r->out);
	buf_free(&r->err);
	artifacts_free(r);
	free(r);
}
