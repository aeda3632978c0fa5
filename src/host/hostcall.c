#include "hostcall.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct hc_cancel {
	atomic_int refs;
	atomic_bool fired;
	int fd;
};

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

struct hc_cancel *hc_cancel_new(void)
{
	struct hc_cancel *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	atomic_init(&c->fired, false);
	return c;
}

struct hc_cancel *hc_cancel_ref(struct hc_cancel *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

void hc_cancel_unref(struct hc_cancel *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	close(c->fd);
	free(c);
}

void hc_cancel_fire(struct hc_cancel *c)
{
	uint64_t one = 1;

	if (c && !atomic_exchange(&c->fired, true))
		(void)!write(c->fd, &one, sizeof(one));
}

bool hc_cancelled(struct hc_cancel *c)
{
	return c && atomic_load(&c->fired);
}

int hc_cancel_fd(struct hc_cancel *c)
{
	return c ? c->fd : -1;
}
