/*
 * install_pkg for one sandbox (see brig_caps_allow_package in brig.h): the
 * policy, pip's own sandbox, and the sandbox's view of what it installed.
 */
#ifndef BRIG_PACKAGES_H
#define BRIG_PACKAGES_H

#include <jansson.h>

#include "lib/internal.h"

struct hc_cancel;
struct hc_reply;

struct pkg_run {
	brig_executor *ex;
	const brig_caps *caps; /* the sandbox's, frozen */
	char *root;	       /* the cache */
	char abi[48];	       /* the interpreter's name: "python3.11" */
	char *view;	       /* host directory bound at BRIG_PACKAGES_DIR; NULL: none */
};

/*
 * Prepare install_pkg for a sandbox with these capabilities: a view
 * directory when packages may be installed.  0, or a brig_error with err set.
 */
int pkg_run_init(struct pkg_run *p, brig_executor *ex, const brig_caps *caps, char *err,
		 size_t errlen);
/* brig_caps_add_packages' directories, or NULL (c may be NULL). */
const struct strv *pkg_caps_dirs(const struct pkg_caps *c);
/* Remove the view.  Safe on a zeroed pkg_run. */
void pkg_run_cleanup(struct pkg_run *p);
/* The "pkg.install" host call: {name, spec}.  Blocking; thread-safe. */
void pkg_install(struct pkg_run *p, json_t *args, struct hc_cancel *cancel, struct hc_reply *rep);

#endif
