/*
 * UTF-8 validation and repair (src/util/utf8.c), which turns guest output
 * into JSON strings and keeps error messages UTF-8.
 *
 * Invariants: the repaired text is UTF-8 that jansson accepts; valid input is
 * copied unchanged; the validator agrees with jansson's own on every input;
 * repair never grows the text more than threefold (one U+FFFD per byte);
 * in-place scrubbing keeps the length and leaves valid text alone.
 */
#include "fuzz.h"

#include <jansson.h>

/* In-place repair of a C string: same length, UTF-8, valid text untouched. */
static void check_scrub(const uint8_t *data, size_t size)
{
	size_t len = strnlen((const char *)data, size);
	char *s = malloc(len + 1);

	FUZZ_ASSERT(s != NULL);
	memcpy(s, data, len);
	s[len] = '\0';
	utf8_scrub(s);
	FUZZ_ASSERT(strlen(s) == len && fuzz_utf8_valid(s, len));
	if (fuzz_utf8_valid((const char *)data, len))
		FUZZ_ASSERT(memcmp(s, data, len) == 0);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT;
	bool valid = fuzz_utf8_valid((const char *)data, size);
	json_t *j;

	FUZZ_ASSERT(utf8_sanitize(&out, (const char *)data, size) == 0);
	FUZZ_ASSERT(out.len <= 3 * size);
	FUZZ_ASSERT(fuzz_utf8_valid(out.data ? out.data : "", out.len));
	if (valid)
		FUZZ_ASSERT(out.len == size && (size == 0 || memcmp(out.data, data, size) == 0));
	else
		FUZZ_ASSERT(out.len != size || memcmp(out.data, data, size) != 0);

	check_scrub(data, size);
	j = json_stringn(out.data ? out.data : "", out.len);
	FUZZ_ASSERT(j != NULL);
	json_decref(j);
	/* jansson validates strings too: both must draw the same line. */
	j = json_stringn((const char *)data, size);
	FUZZ_ASSERT((j != NULL) == valid);
	json_decref(j);
	buf_free(&out);
	return 0;
}
