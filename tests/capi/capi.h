/* Helpers shared by the C API suites. */
#ifndef BRIG_TEST_CAPI_H
#define BRIG_TEST_CAPI_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "brig.h"

/* An executor for the tests (BRIG_GUEST_DIR may point at a copy of guest/). */
static inline brig_executor *test_executor(void)
{
	brig_executor *ex = NULL;
	brig_config cfg;
	char *why = NULL;

	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	if (brig_executor_new(&cfg, &ex, &why) != BRIG_OK)
		fprintf(stderr, "executor: %s\n", why ? why : "?");
	free(why);
	return ex;
}

/* Entries of a /proc directory: fds, threads. */
static inline int count_dir(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

#endif
