/*
 * The reviewed allowlist of host files every jail sees, read-only and at
 * the same path: the system directories, and the few files of the host's
 * /etc that common software reads.  Everything else of /etc is either
 * generated per run (sandbox.c: passwd, group, hosts, hostname, an empty
 * resolv.conf, nsswitch.conf) or absent.  This table is the one place to
 * review; SECURITY.md lists it with the same reasons.  A path the host
 * lacks is skipped; a symbolic link is replicated as a link (its target
 * must be visible through another entry, as /usr is).
 *
 * Never add: users and credentials (shadow, gshadow, sudoers, ssh/,
 * ssl/private/, krb5.keytab), the host's identity (machine-id, hostname),
 * its network configuration (resolv.conf, hosts, network/), or anything an
 * administrator may put secrets in (environment, default/, *.d/ of
 * services, pip.conf, npmrc, gitconfig, wgetrc).
 */
#include "lib/internal.h"
#include "host/fs.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const struct host_file host_files[] = {
    /* The programs and libraries themselves. */
    {"/usr", "programs, libraries, Python packages, node, zoneinfo, fonts"},
    {"/bin", "usrmerge link, or the programs themselves"},
    {"/sbin", "usrmerge link, or the programs themselves"},
    {"/lib", "usrmerge link, or the libraries themselves"},
    {"/lib32", "usrmerge link"},
    {"/lib64", "usrmerge link; the dynamic loader"},
    {"/libx32", "usrmerge link"},
    /* /etc: configuration that is the same on every Debian host. */
    {"/etc/ld.so.cache", "the dynamic linker's cache"},
    {"/etc/alternatives", "which BLAS/LAPACK, awk, editor... the links point to"},
    {"/etc/ssl/openssl.cnf", "OpenSSL's defaults"},
    {"/etc/ssl/certs", "CA certificates: TLS certificate checks (links into /usr)"},
    {"/etc/ca-certificates.conf", "which CA certificates are enabled"},
    {"/etc/localtime", "the local time zone (a link into /usr/share/zoneinfo)"},
    {"/etc/timezone", "the local time zone's name"},
    {"/etc/matplotlibrc", "Debian's matplotlib defaults; matplotlib does not import without"},
    {"/etc/fonts", "fontconfig's configuration: text in charts"},
    {"/etc/mime.types", "file-name extensions to MIME types (mimetypes, file)"},
    {"/etc/magic", "libmagic's local rules (file)"},
    {"/etc/magic.mime", "libmagic's local MIME rules (file)"},
    {"/etc/os-release", "which distribution this is (platform, package tools)"},
    {"/etc/debian_version", "which Debian release this is"},
    {"/etc/protocols", "protocol names and numbers (getprotobyname)"},
    {"/etc/services", "service names and ports (getservbyname)"},
    {"/etc/locale.alias", "locale name aliases (glibc)"},
    {"/etc/gai.conf", "address ordering of getaddrinfo"},
    {"/etc/shells", "valid login shells"},
    {"/etc/inputrc", "readline's key bindings"},
};

const size_t host_files_count = sizeof(host_files) / sizeof(host_files[0]);

/* Where brig builds the jail's own tree: an embedder's path may not cover it. */
static const char *const reserved[] = {"/proc", "/dev", "/sys",	       "/tmp",
				       "/home", "/run", JAIL_GUEST_DIR};

/* Secrets and host identity: kept out even when an embedder asks. */
static const char *const secret[] = {
    "/etc/shadow",	"/etc/gshadow",
    "/etc/ssh",		"/etc/ssl/private",
    "/etc/sudoers",	"/etc/sudoers.d",
    "/etc/machine-id",	"/root",
    "/etc/krb5.keytab", "/var/lib/dbus/machine-id",
    "/etc/passwd",	"/etc/group",
    "/etc/hosts",	"/etc/hostname",
    "/etc/resolv.conf", "/etc/nsswitch.conf",
};

const char *host_path_refusal(const char *path)
{
	if (!path || path[0] != '/' || !path[1] || !fs_vpath_normalised(path) ||
	    strlen(path) >= PATH_MAX)
		return "must be an absolute path without ., .. or empty components";
	if (strcmp(path, "/etc") == 0)
		return "the jail's /etc is generated; expose single entries of it";
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (fs_within(path, reserved[i]) || fs_within(reserved[i], path))
			return "overlaps a directory the jail builds itself";
	}
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
		if (fs_within(path, secret[i]) || fs_within(secret[i], path))
			return "holds secrets or host identity, or a file brig generates";
	}
	return NULL;
}

/*
 * The path as named, and where its links lead, must both be acceptable, and
 * lead to a file or a directory: a socket, FIFO or device bound read-only
 * would still be usable (a daemon's socket is a way out of any sandbox).
 */
int host_path_check(const char *path)
{
	char *real;
	struct stat st;
	int rc = BRIG_OK;

	if (host_path_refusal(path))
		return BRIG_E_INVAL;
	if (lstat(path, &st) < 0 || !(real = realpath(path, NULL)))
		return BRIG_E_NOTFOUND;
	if (host_path_refusal(real) || stat(real, &st) < 0 ||
	    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
		rc = BRIG_E_INVAL;
	free(real);
	return rc;
}
