/* Helpers shared by the C API suites. */
#ifndef BRIG_TEST_CAPI_H
#define BRIG_TEST_CAPI_H

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brig.h"

/* An executor for the tests (BRIG_GUEST_DIR may point at a copy of guest/,
 * BRIG_ZYGOTE_DIR and BRIG_NATIVE_DIR at copies of the native files), with
 * this warm_start (0: the default). */
static inline brig_executor *test_executor_warm(int warm_start)
{
	brig_executor *ex = NULL;
	brig_config cfg;
	char *why = NULL;

	brig_config_init(&cfg);
	cfg.guest_dir = getenv("BRIG_GUEST_DIR");
	cfg.zygote_dir = getenv("BRIG_ZYGOTE_DIR");
	cfg.native_dir = getenv("BRIG_NATIVE_DIR");
	cfg.warm_start = warm_start;
	if (brig_executor_new(&cfg, &ex, &why) != BRIG_OK)
		fprintf(stderr, "executor: %s\n", why ? why : "?");
	free(why);
	return ex;
}

static inline brig_executor *test_executor(void)
{
	return test_executor_warm(0);
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

/*
 * A fresh host directory for an rwc mount in dir (at least 40 bytes), which
 * the guest's user may write (as root the guest is uid 65534).  0 or -1.
 */
static inline int rwc_dir(char *dir)
{
	strcpy(dir, "/tmp/brig-rwc-capi.XXXXXX");
	if (!mkdtemp(dir) || chmod(dir, 0755) < 0)
		return -1;
	return geteuid() == 0 ? chown(dir, 65534, 65534) : 0;
}

static inline int rwc_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	return remove(p);
}

static inline void rwc_dir_remove(const char *dir)
{
	nftw(dir, rwc_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The whole content of dir/name, or NULL (a static buffer). */
static inline const char *rwc_read(const char *dir, const char *name)
{
	static char buf[256];
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "rb")))
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

#endif
