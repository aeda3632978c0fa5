/*
 * What an embedder (or the CLI, from its flags) passes when building
 * capabilities: allowlist entries (brig_caps_allow_host), mount points
 * (brig_caps_mount, fs_vpath_valid) and language names (brig_lang_parse).
 *
 * Input: NUL-separated strings (the first 32), each tried as all three.
 *
 * Invariants: a mount point is accepted exactly when the rules of
 * include/brig.h and src/host/fs.h hold, checked here independently: absolute,
 * normalised, not "/", not on or above a directory the jail owns, not /tmp or
 * /home/user themselves; the same point cannot be mounted twice.  An entry is
 * accepted exactly when net_allow_parse accepts it.
 */
#include "fuzz.h"
#include "host/fs.h"
#include "host/netaddr.h"

#include <limits.h>

static const char *const owned[] = {"/proc", "/dev",	  "/sys",     "/usr",	"/bin",
				    "/sbin", "/lib",	  "/lib32",   "/lib64", "/libx32",
				    "/etc",  "/run/brig", "/opt/brig"};

/* a is b or below it, component-wise. */
static bool under(const char *a, const char *b)
{
	size_t n = strlen(b);

	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

static bool vpath_ok(const char *v)
{
	if (v[0] != '/' || strlen(v) >= PATH_MAX || strcmp(v, "/") == 0)
		return false;
	if (strstr(v, "//") || v[strlen(v) - 1] == '/' || strstr(v, "/./") || strstr(v, "/../"))
		return false;
	if (strlen(v) >= 2 && strcmp(v + strlen(v) - 2, "/.") == 0)
		return false;
	if (strlen(v) >= 3 && strcmp(v + strlen(v) - 3, "/..") == 0)
		return false;
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++)
		if (under(v, owned[i]) || under(owned[i], v))
			return false;
	return strcmp(v, "/tmp") != 0 && strcmp(v, "/home/user") != 0 && !under("/tmp", v) &&
	       !under("/home/user", v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	brig_caps *caps = NULL;
	char *s;

	FUZZ_ASSERT(brig_caps_new(&caps) == BRIG_OK);
	/* A few dozen strings say all there is; thousands only slow the run down. */
	for (int i = 0; i < 32 && in.n && (s = fuzz_take_str(&in)) != NULL; i++) {
		struct net_allow a;
		brig_lang lang;
		char err[256] = "";
		int rc = fs_vpath_valid(s, err, sizeof(err));

		FUZZ_ASSERT((rc == 0) == vpath_ok(s));
		if (rc != 0)
			FUZZ_ASSERT(err[0] != '\0');
		if (brig_caps_mount(caps, s, "/nonexistent", BRIG_MOUNT_RO) == BRIG_OK) {
			FUZZ_ASSERT(rc == 0);
			FUZZ_ASSERT(brig_caps_mount(caps, s, "/other", BRIG_MOUNT_RW) ==
				    BRIG_E_INVAL);
		}
		FUZZ_ASSERT((brig_caps_allow_host(caps, s) == BRIG_OK) ==
			    (net_allow_parse(s, &a, NULL, 0) == 0));
		if (brig_lang_parse(s, &lang) == BRIG_OK)
			FUZZ_ASSERT((unsigned)lang <= BRIG_LANG_SH && strlen(s) <= 10);
		free(s);
	}
	brig_caps_free(caps);
	return 0;
}
