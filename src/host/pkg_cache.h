/*
 * The cache of installed Python packages, on the host's file system:
 *
 *   ROOT/ABI/NAME/VERSION/        what pip installed (--target), complete
 *   ROOT/ABI/NAME/specs/HEX       the version a request (its specifier) got
 *   ROOT/ABI/NAME/.lock           held while NAME is installed (flock)
 *   ROOT/ABI/NAME/.stage-XXXXXX   pip's output until it is published
 *   ROOT/views/RUN-XXXXXX         a sandbox's view: hard links of what it installed
 *
 * A version directory appears by rename(2) once whole, so its presence
 * means it is complete.  Names, specifiers and versions are checked before
 * they become paths.
 */
#ifndef BRIG_PKG_CACHE_H
#define BRIG_PKG_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "hostcall.h"

#define PKG_NAME_MAX 128
#define PKG_SPEC_MAX 256

/*
 * A project name as PEP 508 allows it, normalised as PEP 503 does (lower
 * case, runs of "-_." become "-").  Returns 0 or -1 with why set.
 */
int pkg_name_normalize(const char *name, char out[PKG_NAME_MAX + 1], char *why, size_t whylen);
/*
 * A version specifier ("", "==1.2", ">=2,<3", "~=1.4", "!=1.5"), spaces
 * removed.  Returns 0 or -1 with why set.
 */
int pkg_spec_normalize(const char *spec, char out[PKG_SPEC_MAX + 1], char *why, size_t whylen);

/* mkdir -p, each new level with mode. */
int pkg_mkdirs(const char *path, int mode);
/* rm -rf, never following symbolic links.  0 or -errno. */
int pkg_remove_tree(const char *path);
/*
 * Hard-link every directory and regular file of src into dst (which
 * exists), keeping what dst has already; symbolic links are recreated.
 * 0 or -errno.
 */
int pkg_link_tree(const char *src, const char *dst);

/* Hold dir/.lock exclusively, waiting until it is free or cancel fires.  fd or -errno. */
int pkg_lock(const char *dir, struct hc_cancel *cancel);

/* The version a specifier got earlier, if its directory is still there.  0 or -1. */
int pkg_memo_get(const char *dir, const char *spec, char *version, size_t len);
void pkg_memo_put(const char *dir, const char *spec, const char *version);

/*
 * The version of project name (normalised) that pip installed into site:
 * from its NAME-VERSION.dist-info directory.  0 or -1.
 */
int pkg_installed_version(const char *site, const char *name, char *version, size_t len);

/*
 * Move what pip installed into site over dir: each top-level entry replaces
 * dir's, and a project's older NAME-VERSION.dist-info goes.  0 or -errno.
 */
int pkg_merge_site(const char *site, const char *dir);
/* "name version\n" per dist-info directory of dir, sorted; malloc'd, or NULL. */
char *pkg_list_site(const char *dir);

#endif
