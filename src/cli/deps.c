/*
 * `brig deps install [--dir DIR] [--package-index URL] PKG[SPEC]...` and
 * `brig deps list [--dir DIR]`: Python packages for --packages DIR, installed
 * by pip in a sandbox (brig_packages_install).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brig.h"
#include "cli/cli.h"

#define DEFAULT_DIR ".brig/python/packages"

static const char deps_usage[] =
    "usage: brig deps install [--dir DIR] [--package-index URL] PKG[SPEC]...\n"
    "       brig deps list [--dir DIR]\n"
    "DIR defaults to " DEFAULT_DIR "; use it with brig --packages DIR.\n";

struct deps_opts {
	bool install;
	const char *dir;
	const char *index;
	const char **reqs;
	size_t nreqs;
};

static int parse(int argc, char **argv, struct deps_opts *o)
{
	o->dir = DEFAULT_DIR;
	if (argc < 3 || (strcmp(argv[2], "install") && strcmp(argv[2], "list")))
		return -1;
	o->install = strcmp(argv[2], "install") == 0;
	if (!(o->reqs = calloc((size_t)argc, sizeof(*o->reqs))))
		return -1;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			o->dir = argv[++i];
		else if (o->install && strcmp(argv[i], "--package-index") == 0 && i + 1 < argc)
			o->index = argv[++i];
		else if (argv[i][0] == '-' || !o->install)
			return -1;
		else
			o->reqs[o->nreqs++] = argv[i];
	}
	return o->install && !o->nreqs ? -1 : 0;
}

static int list(const char *dir)
{
	char *text = brig_packages_list(dir);

	if (!text) {
		fprintf(stderr, "brig: cannot read %s\n", dir);
		return 1;
	}
	fputs(text, stdout);
	free(text);
	return 0;
}

static int install(const struct deps_opts *o)
{
	brig_executor *ex = NULL;
	brig_caps *caps = NULL;
	brig_config cfg;
	char *msg = NULL, *why = NULL;
	int rc;

	brig_config_init(&cfg);
	cfg.warm_start = -1; /* pip's one shell run gains nothing from a zygote */

	if ((rc = brig_caps_new(&caps)) == BRIG_OK && o->index &&
	    brig_caps_set_package_index(caps, o->index) != BRIG_OK) {
		fprintf(stderr, "brig: invalid --package-index '%s'\n", o->index);
		brig_caps_free(caps);
		return 2;
	}
	if (rc == BRIG_OK && (rc = brig_executor_new(&cfg, &ex, &why)) != BRIG_OK)
		msg = why, why = NULL;
	if (rc == BRIG_OK)
		rc = brig_packages_install(ex, caps, o->dir, o->reqs, o->nreqs, &msg);
	if (rc != BRIG_OK)
		fprintf(stderr, "brig: deps install: %s\n", msg ? msg : brig_strerror(rc));
	free(msg);
	brig_executor_free(ex);
	brig_caps_free(caps);
	if (rc == BRIG_OK)
		return list(o->dir);
	return rc == BRIG_E_INVAL ? 2 : 1;
}

int cli_deps(int argc, char **argv)
{
	struct deps_opts o = {.install = false};
	int rc;

	if (parse(argc, argv, &o) < 0) {
		fputs(deps_usage, stderr);
		free(o.reqs);
		return 2;
	}
	rc = o.install ? install(&o) : list(o.dir);
	free(o.reqs);
	return rc;
}
