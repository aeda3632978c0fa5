#include "hostcall.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"

void hc_reply_init(struct hc_reply *r)
{
	memset(r, 0, sizeof(*r));
}

void hc_reply_clear(struct hc_reply *r)
{
	json_decref(r->value);
	free(r->blob);
	hc_reply_init(r);
}

int hc_fail(struct hc_reply *r, const char *type, const char *fmt, ...)
{
	va_list ap;

	json_decref(r->value);
	r->value = NULL;
	free(r->blob);
	r->blob = NULL;
	r->blob_len = 0;
	r->err_type = type;
	va_start(ap, fmt);
	vsnprintf(r->err_msg, sizeof(r->err_msg), fmt, ap);
	va_end(ap);
	/*
	 * Messages quote guest strings cut to fit ("%.400s", or the buffer's
	 * end) and embedders' text, either of which can end mid-character or
	 * hold other bytes: replace what is not UTF-8, or the reply could not
	 * be encoded.
	 */
	utf8_scrub(r->err_msg);
	return -1;
}

int hc_ok(struct hc_reply *r, json_t *value)
{
	json_decref(r->value);
	r->value = value;
	r->err_type = NULL;
	return 0;
}
