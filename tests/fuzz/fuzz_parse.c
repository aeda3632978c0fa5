/*
 * The size, duration and count parsers (src/util/parse.c) behind --timeout,
 * --cpu-timeout, --memory, --pids, --max-output and --tmp-size.
 *
 * Invariants: a value that parses is at least 1 (zero, negative, NaN and
 * overflow are errors); a count agrees with strtoull; a bare decimal size is
 * that many bytes and a bare duration that many seconds; a unit scales the
 * bare value exactly where the product is exact.
 */
#include "fuzz.h"
#include "util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static void check_count(const char *s)
{
	uint32_t n;
	unsigned long long v;
	char *end;

	if (parse_count(s, &n) != 0)
		return;
	FUZZ_ASSERT(all_digits(s));
	errno = 0;
	v = strtoull(s, &end, 10);
	FUZZ_ASSERT(errno == 0 && *end == '\0' && v == n && n >= 1);
}

/* "<digits><suffix>" scales "<digits>" exactly while both stay below 2^53. */
static void check_scaled(const char *s, uint64_t got, uint64_t scale, const char *suffix,
			 int (*parse)(const char *, uint64_t *))
{
	char buf[64];
	uint64_t v, want;
	size_t len = strlen(s);

	if (len >= 16 || !all_digits(s))
		return;
	snprintf(buf, sizeof(buf), "%s%s", s, suffix);
	want = got * scale;
	if (want / scale != got || want >= (1ull << 53))
		return;
	FUZZ_ASSERT(parse(buf, &v) == 0 && v == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *s = fuzz_take_str(&in);
	uint64_t v;

	if (!s)
		return 0;
	if (parse_size(s, &v) == 0) {
		FUZZ_ASSERT(v >= 1);
		if (all_digits(s) && strlen(s) < 16)
			FUZZ_ASSERT(v == strtoull(s, NULL, 10));
		check_scaled(s, v, 1024, "k", parse_size);
		check_scaled(s, v, 1024 * 1024, "MiB", parse_size);
	}
	if (parse_duration_ms(s, &v) == 0) {
		FUZZ_ASSERT(v >= 1);
		if (all_digits(s) && strlen(s) < 13)
			FUZZ_ASSERT(v == 1000 * strtoull(s, NULL, 10));
		if (all_digits(s) && strlen(s) < 13)
			check_scaled(s, v / 1000, 60000, "m", parse_duration_ms);
	}
	check_count(s);
	free(s);
	return 0;
}
