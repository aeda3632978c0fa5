#include "util/parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct unit {
	const char *name;
	double scale;
};

/* Reads a non-negative decimal number; *end points past it. */
static int parse_number(const char *s, double *v, const char **end)
{
	char *e;

	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -1;
	errno = 0;
	*v = strtod(s, &e);
	if (errno || e == s || !isfinite(*v) || *v < 0)
		return -1;
	*end = e;
	return 0;
}

static int apply_unit(double v, const char *suffix, const struct unit *units, double *out)
{
	for (const struct unit *u = units; u->name; u++) {
		if (strcasecmp(suffix, u->name) == 0) {
			*out = v * u->scale;
			return 0;
		}
	}
	return -1;
}

static int to_u64(double v, uint64_t *out)
{
	if (!(v >= 1) || v >= 18446744073709549568.0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct unit units[] = {
	    {"", 1000},	    {"ms", 1},	    {"s", 1000}, {"m", 60000},
	    {"min", 60000}, {"h", 3600000}, {NULL, 0},
	};
	const char *end;
	double v, scaled;

	if (!s || parse_number(s, &v, &end) || apply_unit(v, end, units, &scaled))
		return -1;
	return to_u64(scaled, ms);
}

int parse_size(const char *s, uint64_t *bytes)
{
	static const struct unit units[] = {
	    {"", 1},
	    {"b", 1},
	    {"k", 1024.0},
	    {"kb", 1024.0},
	    {"kib", 1024.0},
	    {"m", 1048576.0},
	    {"mb", 1048576.0},
	    {"mib", 1048576.0},
	    {"g", 1073741824.0},
	    {"gb", 1073741824.0},
	    {"gib", 1073741824.0},
	    {"t", 1099511627776.0},
	    {"tb", 1099511627776.0},
	    {"tib", 1099511627776.0},
	    {NULL, 0},
	};
	const char *end;
	double v, scaled;

	if (!s || parse_number(s, &v, &end) || apply_unit(v, end, units, &scaled))
		return -1;
	return to_u64(scaled, bytes);
}

int parse_count(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}
