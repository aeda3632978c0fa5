/*
 * The CLI's argument parser (src/cli/args.c), with its duration, size,
 * count, --mount and --host-fn parsing.
 *
 * Input: the arguments after "brig", separated by NUL bytes.
 *
 * Invariants: a failure always says why; on success every string points
 * into the arguments, lists stay within CLI_MAX_LIST, limits that were given
 * are nonzero, a mount has a non-empty virtual and host path, and a host
 * function a non-empty name and command.
 */
#include "cli/args.h"
#include "fuzz.h"

#include <getopt.h>

#define MAX_ARGS 32

static bool points_into(const char *s, char *const *argv, const size_t *lens, int argc)
{
	for (int i = 0; i < argc; i++)
		if (s >= argv[i] && s <= argv[i] + lens[i])
			return true;
	return false;
}

/*
 * glibc's getopt keeps state between calls (a half-read "-abc" cluster, the
 * ordering mode), and the CLI parses once per process: start each input
 * afresh, in cli_parse's ordering ("+": stop at the first non-option).
 */
static void reset_getopt(void)
{
	static char arg0[] = "brig";
	static char *argv[] = {arg0, NULL};

	optind = 0;
	opterr = 0;
	while (getopt(1, argv, "+") != -1)
		;
}

static void check_opts(const struct cli_opts *o, char *const *argv, const size_t *lens, int argc)
{
	FUZZ_ASSERT(o->nhosts <= CLI_MAX_LIST && o->nmounts <= CLI_MAX_LIST &&
		    o->nfns <= CLI_MAX_LIST);
	FUZZ_ASSERT(!o->code || points_into(o->code, argv, lens, argc));
	FUZZ_ASSERT(!o->file || points_into(o->file, argv, lens, argc));
	FUZZ_ASSERT(!(o->code && o->file));
	for (size_t i = 0; i < o->nhosts; i++)
		FUZZ_ASSERT(points_into(o->hosts[i], argv, lens, argc));
	for (size_t i = 0; i < o->nmounts; i++) {
		FUZZ_ASSERT(*o->mounts[i].vpath && *o->mounts[i].host_path);
		FUZZ_ASSERT(o->mounts[i].mode <= BRIG_MOUNT_RWC);
	}
	for (size_t i = 0; i < o->nfns; i++)
		FUZZ_ASSERT(*o->fns[i].name && *o->fns[i].command);
	FUZZ_ASSERT((unsigned)o->lang <= BRIG_LANG_SH);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *argv[MAX_ARGS + 2], *strs[MAX_ARGS + 2];
	size_t lens[MAX_ARGS + 1];
	int argc = 0;
	struct cli_opts o;
	char err[512] = "";

	argv[argc] = strdup("brig");
	lens[argc++] = 4;
	while (in.n && argc <= MAX_ARGS) {
		argv[argc] = fuzz_take_str(&in);
		if (!argv[argc])
			break;
		lens[argc] = strlen(argv[argc]);
		argc++;
	}
	argv[argc] = NULL;
	memcpy(strs, argv, sizeof(strs));
	reset_getopt();
	if (cli_parse(argc, argv, &o, err, sizeof(err)) == 0)
		check_opts(&o, strs, lens, argc);
	else
		FUZZ_ASSERT(err[0] != '\0');
	for (int i = 0; i < argc; i++)
		free(strs[i]);
	return 0;
}
