/*
 * A jail plan as bytes (src/jail/plan_wire.c), which a zygote decodes from
 * its executor and the daemon from any client of its user.
 *
 * Input: one byte saying how many fds came with the message (0-15), then
 * the message.
 *
 * Invariants: decoding never reads outside the message; a plan it accepts
 * has every count within its bounds and every string inside the message
 * and NUL-terminated; and encoding that plan again gives back the message
 * byte for byte, fds in the same slots.
 */
#include "fuzz.h"
#include "jail/plan_wire.h"

#include <stdlib.h>
#include <string.h>

static void check_str(const char *s, const uint8_t *buf, size_t len)
{
	FUZZ_ASSERT(s != NULL);
	FUZZ_ASSERT((const uint8_t *)s >= buf && (const uint8_t *)s < buf + len);
	FUZZ_ASSERT(memchr(s, 0, len - (size_t)((const uint8_t *)s - buf)) != NULL);
}

static void check_plan(const struct jail_plan *p, const uint8_t *buf, size_t len)
{
	FUZZ_ASSERT(p->nbinds <= JAIL_MAX_BINDS && p->nfiles <= JAIL_MAX_FILES);
	for (int i = 0; p->argv[i]; i++)
		check_str(p->argv[i], buf, len);
	for (int i = 0; p->envp[i]; i++)
		check_str(p->envp[i], buf, len);
	for (size_t i = 0; i < p->nbinds; i++) {
		check_str(p->binds[i].dst, buf, len);
		check_str(p->binds[i].src, buf, len);
	}
	for (size_t i = 0; i < p->nfiles; i++) {
		check_str(p->files[i].path, buf, len);
		check_str(p->files[i].content, buf, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	int nfds = fuzz_take_byte(&in) % 16, fds[16], again[PLAN_NFDS], n2, lang, ctl;
	uint8_t *buf = malloc(in.n + 1), *out;
	struct jail_plan plan;
	ssize_t len;

	FUZZ_ASSERT(buf != NULL);
	memcpy(buf, in.p, in.n);
	for (int i = 0; i < nfds; i++)
		fds[i] = 100 + i;
	if (plan_wire_decode(buf, in.n, fds, nfds, &plan, &lang, &ctl) == 0) {
		check_plan(&plan, buf, in.n);
		FUZZ_ASSERT((out = malloc(PLAN_WIRE_MAX)) != NULL);
		len = plan_wire_encode(&plan, lang, ctl, out, PLAN_WIRE_MAX, again, &n2);
		FUZZ_ASSERT(len == (ssize_t)in.n && memcmp(out, buf, in.n) == 0);
		FUZZ_ASSERT(n2 == nfds && memcmp(again, fds, sizeof(int) * (size_t)nfds) == 0);
		free(out);
	}
	free(buf);
	return 0;
}
