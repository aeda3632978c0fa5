/* A minimal assertion harness for the C unit tests. */
#ifndef BRIG_CHECK_H
#define BRIG_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed;
static int check_passed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (cond) {                                                                        \
			check_passed++;                                                            \
		} else {                                                                           \
			check_failed++;                                                            \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
		}                                                                                  \
	} while (0)

#define CHECK_STR(a, b) CHECK((a) != NULL && (b) != NULL && strcmp((a), (b)) == 0)

/* Print the tally in the form CI understands and turn it into an exit code. */
#define CHECK_DONE()                                                                               \
	(printf("%d passed, %d failed\n", check_passed, check_failed), check_failed != 0)

#endif
