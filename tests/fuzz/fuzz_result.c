/*
 * A run's outcome as JSON (brig_result_to_json in src/lib/result.c), which
 * `brig --json` prints: guest stdout and stderr are any bytes, and the message
 * may carry text that came from the guest (a handler's exception, cut to fit
 * a buffer) or from the embedder.
 *
 * Input: the message, a NUL, stdout, a NUL, stderr; the first byte also
 * picks the error code and limit.
 *
 * Invariants: the JSON is always produced and parses; stdout and stderr come
 * back as their bytes with invalid UTF-8 replaced by U+FFFD, so valid text is
 * unchanged; brig_result_message() is UTF-8 too, and a valid message is
 * unchanged.
 */
#include "fuzz.h"
#include "lib/internal.h"

#include <jansson.h>

static void check_text(json_t *obj, const char *key, const struct buf *raw)
{
	struct buf clean = BUF_INIT;
	json_t *v = json_object_get(obj, key);

	FUZZ_ASSERT(json_is_string(v));
	FUZZ_ASSERT(utf8_sanitize(&clean, raw->data ? raw->data : "", raw->len) == 0);
	FUZZ_ASSERT(json_string_length(v) == clean.len);
	FUZZ_ASSERT(clean.len == 0 || memcmp(json_string_value(v), clean.data, clean.len) == 0);
	buf_free(&clean);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t pick = fuzz_take_byte(&in);
	brig_result *r = result_new();
	char *msg = fuzz_take_str(&in), *text;
	const uint8_t *out = in.p;
	const uint8_t *nul = in.n ? memchr(in.p, 0, in.n) : NULL;
	size_t out_len = nul ? (size_t)(nul - in.p) : in.n;
	json_t *j;

	FUZZ_ASSERT(r && msg);
	FUZZ_ASSERT(buf_append(&r->out, out, out_len) == 0);
	if (nul)
		FUZZ_ASSERT(buf_append(&r->err, nul + 1, in.n - out_len - 1) == 0);
	if (pick & 1)
		result_fail(r, -(int)(pick >> 4), "%s", msg);
	r->limit = (brig_limit_kind)((pick >> 1) & 7);
	r->exit_code = pick;
	text = brig_result_to_json(r);
	FUZZ_ASSERT(text != NULL);
	j = json_loads(text, JSON_ALLOW_NUL, NULL);
	FUZZ_ASSERT(json_is_object(j));
	check_text(j, "stdout", &r->out);
	check_text(j, "stderr", &r->err);
	if (pick & 1) {
		/* The message itself is kept UTF-8 for C callers too. */
		FUZZ_ASSERT(
		    fuzz_utf8_valid(brig_result_message(r), strlen(brig_result_message(r))));
		if (fuzz_utf8_valid(msg, strlen(msg)))
			FUZZ_ASSERT(!strcmp(json_string_value(json_object_get(j, "message")), msg));
	}
	json_decref(j);
	free(text);
	free(msg);
	brig_result_free(r);
	return 0;
}
