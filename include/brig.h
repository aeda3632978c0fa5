/*
 * brig — run untrusted Python, JavaScript and shell code in a Linux sandbox.
 *
 * The embedding program creates one executor (brig_executor_new), then runs
 * code with brig_run.  Every run gets a fresh set of namespaces, a minimal
 * root filesystem, a seccomp allowlist and resource limits.  The only way out
 * of the sandbox is a capability the embedder grants to that run (brig_caps):
 * HTTP to named hosts, mounted directories, a key-value store and host
 * functions.
 *
 * Conventions
 *  - Functions that can fail return 0 (BRIG_OK) or a negative brig_error.
 *  - Objects are opaque handles; each _new/_open has a matching _free.
 *  - No global state: every handle is independent.  An executor may be used
 *    from many threads at once; a brig_caps or brig_result belongs to one
 *    thread at a time.  A brig_kv is internally locked and may be shared.
 *  - Option structs must be initialised with their _init function first;
 *    fields may be appended in later versions.
 *  - Sizes are bytes, times are milliseconds unless the name says otherwise.
 */
#ifndef BRIG_H
#define BRIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRIG_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

/*
 * Error codes.  Negative so that they never collide with an exit status.
 * brig_err_name gives the stable identifier (e.g. "ERR_CANCELLED"),
 * brig_strerror a human-readable sentence.
 */
typedef enum brig_error {
	BRIG_OK = 0,
	BRIG_E_INVAL = -1,	     /* invalid argument (bad option, empty code...) */
	BRIG_E_CANCELLED = -2,	     /* wall/CPU timeout or an explicit kill */
	BRIG_E_LIMIT = -3,	     /* memory, process, output or disk limit hit */
	BRIG_E_GUEST_ABORT = -4,     /* the guest crashed or died from a signal */
	BRIG_E_UNAVAILABLE = -5,     /* the sandbox cannot be built on this host */
	BRIG_E_INTERNAL = -6,	     /* unexpected failure inside brig */
	BRIG_E_PROTOCOL = -7,	     /* the guest broke the control protocol */
	BRIG_E_NOMEM = -8,	     /* host allocation failed */
	BRIG_E_UNSUPPORTED = -9,     /* feature or language not available */
	BRIG_E_DENIED = -10,	     /* a capability was not granted */
	BRIG_E_NOTFOUND = -11,	     /* no such key, file or function */
	BRIG_E_POISONED = -12,	     /* session was killed; restore or close it */
	BRIG_E_CONSUMED = -13,	     /* object already used up */
	BRIG_E_STACK_OVERFLOW = -14, /* guest recursion exhausted its stack */
	BRIG_E_IO = -15,	     /* a host file operation failed (an rwc mount's commit) */
} brig_error;

/* A sentence describing code; never NULL. */
const char *brig_strerror(int code);
/* The stable name of code, such as "ERR_CANCELLED"; never NULL. */
const char *brig_err_name(int code);

/* ------------------------------------------------------------- languages */

typedef enum brig_lang {
	BRIG_LANG_PYTHON = 0,
	BRIG_LANG_JS = 1,
	BRIG_LANG_SH = 2,
} brig_lang;

/* Parse "python", "py", "js", "javascript" or "sh".  BRIG_E_INVAL otherwise. */
int brig_lang_parse(const char *name, brig_lang *out);
/* The canonical name: "python", "js" or "sh". */
const char *brig_lang_name(brig_lang lang);

/* ---------------------------------------------------------------- limits */

/*
 * Resource limits.  In brig_config a zero field means "built-in default";
 * in brig_run_opts a zero field means "the executor's value".
 *
 * memory_bytes, max_pids and cpu_timeout_ms bound the whole sandbox.  A
 * cgroup enforces them where brig can use one (root, or a delegated cgroup
 * v2 subtree); otherwise brig measures the sandbox every 20 ms and kills it
 * on a breach, each process is held to memory_bytes of address space, and
 * memory no process owns (memfd, System V IPC) is refused.  SECURITY.md
 * gives the exact bounds; `brig doctor` says which applies on a host.
 */
typedef struct brig_limits {
	uint64_t wall_timeout_ms;  /* default 30000 */
	uint64_t cpu_timeout_ms;   /* CPU time of the whole tree; default: none */
	uint64_t memory_bytes;	   /* default 256 MiB */
	uint32_t max_pids;	   /* processes and threads; default 128 */
	uint64_t max_output_bytes; /* per stream (stdout, stderr); default 1 MiB */
	uint64_t tmp_bytes;	   /* /tmp, /home/user and /dev/shm in all; default 64 MiB */
	uint64_t max_code_bytes;   /* size of the submitted code; default 8 MiB */
	/*
	 * One protocol frame; default 32 MiB.  It also bounds what a guest's
	 * host calls make the host hold: each call is charged its blob plus
	 * its JSON at parsed size (which for [[],[],...] is some 50 times the
	 * text) before it is parsed, replies are charged until the guest
	 * reads them, and the run holds at most max_frame_bytes of such
	 * charges; beyond, the host stops reading the guest's calls until
	 * room frees.  A call that alone exceeds it fails in the guest with
	 * ValueError("host call too large ...").  So a run's host calls hold
	 * at most about 2 x max_frame_bytes (the frame being received plus
	 * the charges) plus, for each of the 8 calls that run at once, one
	 * reply (at most max_frame_bytes; in practice the limits of the
	 * function: http max_response_bytes, fs max_read_bytes, kv
	 * max_value_bytes, or what a host function returns).
	 */
	uint64_t max_frame_bytes;
	/*
	 * What a run may add to its rwc mounts, all together: bytes, and one
	 * inode per KiB of it.  Past it the guest's writes fail with ENOSPC.
	 * Default 64 MiB.  See brig_caps_mount.
	 */
	uint64_t mount_write_bytes;
	uint64_t tmp_inodes;	 /* files and directories in /tmp, /home/user and
				    /dev/shm in all; default 16384 */
	uint32_t max_open_files; /* open files per process (RLIMIT_NOFILE); default 256 */
	/*
	 * JavaScript's stack: V8's limit (node --stack-size), past which
	 * recursion throws RangeError (a handler call: BRIG_E_STACK_OVERFLOW).
	 * Default (0) node's own, 984 KiB.  From 64 KiB to BRIG_MAX_STACK_BYTES,
	 * and at least 1 MiB below brig's own RLIMIT_STACK, which the guest's
	 * thread inherits.  Python bounds recursion by its recursion limit and
	 * ignores it.
	 */
	uint64_t stack_bytes;
} brig_limits;

#define BRIG_DEFAULT_WALL_TIMEOUT_MS 30000u
#define BRIG_DEFAULT_MEMORY_BYTES (256ull << 20)
#define BRIG_DEFAULT_MAX_PIDS 128u
#define BRIG_DEFAULT_MAX_OUTPUT_BYTES (1ull << 20)
#define BRIG_DEFAULT_TMP_BYTES (64ull << 20)
#define BRIG_DEFAULT_MAX_CODE_BYTES (8ull << 20)
#define BRIG_DEFAULT_MAX_FRAME_BYTES (32ull << 20)
#define BRIG_DEFAULT_MOUNT_WRITE_BYTES (64ull << 20)
#define BRIG_DEFAULT_TMP_INODES 16384u
#define BRIG_DEFAULT_MAX_OPEN_FILES 256u
#define BRIG_MAX_STACK_BYTES (7ull << 20)

/* Zero every field (every limit takes its default). */
void brig_limits_init(brig_limits *l);

/* ------------------------------------------------------------ key-value */

/*
 * A key-value store that guest code reaches as `kv`.  Values are JSON text.
 * Keys are non-empty UTF-8 strings; a key longer than max_key_bytes gives
 * BRIG_E_LIMIT on every operation (get and delete too, never "not found").
 * Stores are internally locked: one store may serve many runs at once.
 * The store must outlive every run that was given it.
 */
typedef struct brig_kv brig_kv;

typedef struct brig_kv_limits {
	size_t max_key_bytes;	/* default 256 */
	size_t max_value_bytes; /* JSON text; default 64 KiB */
	size_t max_entries;	/* default 1000 */
	size_t max_total_bytes; /* keys plus values; default 10 MiB */
} brig_kv_limits;

/* Zero every field (defaults). */
void brig_kv_limits_init(brig_kv_limits *l);
/* An in-memory store.  limits may be NULL. */
int brig_kv_new(const brig_kv_limits *limits, brig_kv **out);
/*
 * A durable store in the SQLite file at path, created if missing.  Several
 * processes may write the same file at once without losing updates.
 */
int brig_kv_open(const char *path, const brig_kv_limits *limits, brig_kv **out);
void brig_kv_free(brig_kv *kv);
/* *json_out is malloc'd JSON text; BRIG_E_NOTFOUND if key is absent. */
int brig_kv_get(brig_kv *kv, const char *key, char **json_out);
/* json must be valid JSON.  BRIG_E_LIMIT if a bound would be exceeded. */
int brig_kv_set(brig_kv *kv, const char *key, const char *json);
/* BRIG_E_NOTFOUND if key is absent. */
int brig_kv_delete(brig_kv *kv, const char *key);
/* *json_out is a malloc'd JSON array of the keys, sorted. */
int brig_kv_keys(brig_kv *kv, char **json_out);

/* ------------------------------------------------------- host functions */

/*
 * A host function that guest code calls with call(name, **kwargs).
 * args_json is a JSON object of the keyword arguments (strings in it may
 * hold \u0000; integers fit in 64 bits).  On success, set
 * *result_json to malloc'd JSON text (NULL means null) and return 0.  On
 * failure return nonzero and set *error_message to a malloc'd message (or
 * leave it NULL); the guest sees RuntimeError(message).  The callback may
 * run on any thread and concurrently with itself.
 */
typedef int (*brig_host_fn)(void *userdata, const char *name, const char *args_json,
			    char **result_json, char **error_message);

/*
 * Cancellation.  When the run ends (its deadline, a limit, the guest's
 * exit) or a session call is killed (its timeout, brig_session_interrupt),
 * its host calls in flight are cancelled: HTTP transfers abort, and a host
 * function should return soon (its result is discarded).  brig_run and the
 * session call return only once every host function has returned: a
 * function that ignores cancellation delays them until it returns.
 *
 * From inside a host function, brig_hostcall_current gives the call being
 * served (NULL on any other thread or outside a host function).  The
 * handle stays valid until the function returns and may be handed to
 * other threads until then.
 */
typedef struct brig_hostcall brig_hostcall;

brig_hostcall *brig_hostcall_current(void);
/* The function's name as the guest called it. */
const char *brig_hostcall_name(const brig_hostcall *call);
/* Whether the call was cancelled.  NULL: false. */
bool brig_hostcall_cancelled(const brig_hostcall *call);
/*
 * A file descriptor that becomes readable (POLLIN) once the call is
 * cancelled, to wait on next to the function's own: do not read or close
 * it.  -1 for NULL.
 */
int brig_hostcall_cancel_fd(const brig_hostcall *call);

/* --------------------------------------------------------- capabilities */

/*
 * A capability set: everything a run may reach outside the sandbox.
 * brig_run copies it when the run starts, so later changes never affect a
 * run in progress, and nothing granted to one run is visible to another.
 */
typedef struct brig_caps brig_caps;

typedef enum brig_mount_mode {
	BRIG_MOUNT_RO = 0,  /* read, list, stat */
	BRIG_MOUNT_RW = 1,  /* plus write existing files, remove */
	BRIG_MOUNT_RWC = 2, /* plus create files and directories */
} brig_mount_mode;

typedef struct brig_http_limits {
	size_t max_url_bytes;	   /* default 8 KiB */
	size_t max_request_bytes;  /* request body; default 10 MiB */
	size_t max_response_bytes; /* response body; default 10 MiB */
	uint64_t timeout_ms;	   /* whole request: lookups, redirects; default 30 s */
	unsigned max_redirects;	   /* default 5 */
} brig_http_limits;

typedef struct brig_fs_limits {
	size_t max_read_bytes;	/* default 10 MiB */
	size_t max_write_bytes; /* default 10 MiB */
} brig_fs_limits;

int brig_caps_new(brig_caps **out);
void brig_caps_free(brig_caps *caps);
/*
 * Allow HTTP(S) to host (and its subdomains).  "host" or "host:port"; IPv6
 * literals as "[::1]:8080".  Without a port, 80 and 443 are allowed.
 */
int brig_caps_allow_host(brig_caps *caps, const char *host_port);
/*
 * Expose the host directory host_path to the guest at vpath (absolute).
 *
 * BRIG_MOUNT_RO   a read-only bind: the guest's own file APIs and fs.* read.
 * BRIG_MOUNT_RW   read-only to the guest's own file APIs; fs.write and
 *                 fs.remove change existing entries of the host directory
 *                 directly.  Nothing can be created.
 * BRIG_MOUNT_RWC  the guest sees a private writable copy-on-write layer over
 *                 the directory (an overlay whose upper layer is a tmpfs in
 *                 the sandbox), through its own file APIs and fs.* alike.
 *                 Nothing touches the host directory while guest code runs:
 *                 brig commits the changes when the run ends (a session:
 *                 after each call, and when it is freed), and only these:
 *                  - regular files, each atomically (a temporary file renamed
 *                    over the old one), mode masked with 0755 (never setuid,
 *                    setgid or sticky), modification time kept;
 *                  - new directories, mode masked with 0755 plus 0700; the
 *                    modes of existing directories and of the mount root are
 *                    never changed;
 *                  - deletions (whole trees, never across a mount point);
 *                  - relative symbolic links that stay inside the mount.
 *                 FIFOs, sockets, devices and other links are never created
 *                 on the host: the result fails with BRIG_E_DENIED naming
 *                 them, after everything else was committed.  A host I/O
 *                 failure stops the commit: BRIG_E_IO.  Committed entries
 *                 belong to the user brig runs as.  What a run adds is bounded
 *                 by brig_limits.mount_write_bytes (the guest gets ENOSPC);
 *                 changing a file copies it whole into that allowance.
 *                 Changes others make to the directory during a run may not
 *                 be visible to the guest, and where both changed a path the
 *                 guest's change wins.  Needs Linux 6.6 or later (overlayfs
 *                 in a user namespace on a tmpfs with user xattrs); without
 *                 it such runs fail with BRIG_E_UNAVAILABLE.
 */
int brig_caps_mount(brig_caps *caps, const char *vpath, const char *host_path,
		    brig_mount_mode mode);
/* Give the run this store (not owned).  Without it, each run gets its own. */
int brig_caps_set_kv(brig_caps *caps, brig_kv *kv);
/* Grant a host function to runs using this capability set. */
int brig_caps_add_function(brig_caps *caps, const char *name, brig_host_fn fn, void *userdata);
/*
 * Artifacts: the files a one-shot run's guest leaves in its outputs
 * directory come back in the result (brig_result_artifact), with their
 * names, MIME types and bytes.  Unless changed here, every one-shot run has
 * one at BRIG_DEFAULT_OUTPUTS; Python's display() writes charts there.  It
 * is a file system of its own: at most max_bytes in all (default 32 MiB, at
 * most 1 GiB) and max_files files (default 64, at most 4096) with a few
 * directories; past that the guest's writes fail with ENOSPC.  Regular
 * files only, up to 8 directory levels deep, in name order; anything else
 * is left out and brig_result_artifacts_truncated says so.  vpath NULL: no
 * outputs directory.  Otherwise a guest path as brig_caps_mount accepts
 * (below /home/user or /tmp, or a directory of its own such as /outputs),
 * and not one of the run's mounts.  Sessions have no outputs directory.
 */
#define BRIG_DEFAULT_OUTPUTS "/home/user/outputs"
int brig_caps_set_outputs(brig_caps *caps, const char *vpath, uint32_t max_files,
			  uint64_t max_bytes);
/* Zero fields keep the defaults. */
void brig_caps_set_http_limits(brig_caps *caps, const brig_http_limits *limits);
void brig_caps_set_fs_limits(brig_caps *caps, const brig_fs_limits *limits);

/*
 * The egress proxy.  A run with any allowed host (brig_caps_allow_host) has
 * an HTTP proxy on 127.0.0.1:BRIG_PROXY_PORT inside its own network
 * namespace, served by the host, and the guest's environment names it
 * (HTTP_PROXY, HTTPS_PROXY, NO_PROXY, their lower-case forms, PIP_PROXY and
 * npm's npm_config_proxy / npm_config_https_proxy), so ordinary clients
 * (urllib, requests, pip, curl, wget, npm) reach the allowed hosts and
 * nothing else: the namespace has no other way out.  It takes CONNECT
 * tunnels (TLS stays end to end) and plain HTTP requests with an absolute
 * http:// target (one request per connection).  Each connection is checked
 * as an http.request is: host and port against the allowlist, then every
 * address the name resolves to must be public (an IP literal that was
 * allowed is trusted as written), and the proxy connects to an address it
 * checked.  A refusal is an error response whose status line and body say
 * why ("403 Forbidden (brig proxy: host not allowed: ...)"); the result
 * counts refusals (brig_result_proxy_refused).  The run's end closes every
 * connection.
 */
#define BRIG_PROXY_PORT 3128

typedef struct brig_proxy_limits {
	uint32_t max_connections;    /* per run; later ones are refused; default 256 */
	uint32_t max_active;	     /* open at once; more wait to be accepted; default 32 */
	uint64_t max_bytes_up;	     /* guest to servers, per run; default 1 GiB */
	uint64_t max_bytes_down;     /* servers to guest, per run; default 1 GiB */
	uint64_t connect_timeout_ms; /* request head, lookup and connect; default 30 s */
	uint64_t idle_timeout_ms;    /* no byte either way; default 60 s */
	uint64_t max_connection_ms;  /* one connection's whole life; default: the run's */
} brig_proxy_limits;

/* Zero fields keep the defaults. */
void brig_caps_set_proxy_limits(brig_caps *caps, const brig_proxy_limits *limits);

/*
 * Python packages.  install_pkg(name, spec=None) in a Python guest installs
 * a package the capabilities allow, and it is importable at once.  pip
 * never runs on the host: it runs in a sandbox of its own (a shell run of
 * the same executor) whose only egress, through its proxy, is the package
 * index, with --only-binary :all: (wheels only: no build script runs) and
 * --target into a directory that sandbox commits (a BRIG_MOUNT_RWC mount,
 * so Linux 6.6 or later).  What it installed, dependencies included, goes
 * to a cache keyed by ABI (the interpreter), project name and version, and
 * the specifier's answer is remembered; the requesting sandbox sees hard
 * links of it, read-only, at BRIG_PACKAGES_DIR, which is on its sys.path.
 * Installs of one project wait for each other (a lock in the cache), so
 * concurrent requests install it once.  Errors: PermissionError when the
 * package is not allowed, ValueError for a bad name or specifier,
 * RuntimeError naming pip's last words when the install fails.
 */
#define BRIG_PACKAGES_DIR "/opt/packages"

typedef struct brig_package_limits {
	uint64_t max_bytes;  /* what one install may write; default 256 MiB */
	uint64_t timeout_ms; /* one install, pip's sandbox included; default 300 s */
} brig_package_limits;

/* Allow install_pkg of this project (any spelling PEP 503 normalises alike). */
int brig_caps_allow_package(brig_caps *caps, const char *name);
/* Allow install_pkg of any project. */
int brig_caps_allow_any_package(brig_caps *caps);
/* The PEP 503 simple index, http:// or https://; default https://pypi.org/simple. */
int brig_caps_set_package_index(brig_caps *caps, const char *url);
/*
 * The cache directory (created when missing); default
 * $XDG_CACHE_HOME/brig/python, else $HOME/.cache/brig/python.
 */
int brig_caps_set_package_cache(brig_caps *caps, const char *dir);
/* Zero fields keep the defaults. */
void brig_caps_set_package_limits(brig_caps *caps, const brig_package_limits *limits);
/*
 * Put the host directory dir (pip --target layout, e.g. what `brig deps
 * install` made) read-only on a Python guest's sys.path.  Repeatable.
 */
int brig_caps_add_packages(brig_caps *caps, const char *dir);

/* ------------------------------------------------------------- executor */

typedef struct brig_executor brig_executor;

typedef struct brig_config {
	const char *python;    /* interpreter; default "/usr/bin/python3" */
	const char *node;      /* default "/usr/bin/node" */
	const char *shell;     /* default "/bin/sh" */
	const char *guest_dir; /* directory of the guest agents; default built in */
	/* Directory of native guest files (brig_node.node, which JavaScript
	 * session snapshots need), bound read-only into every jail; default
	 * built in.  Used only when the guest directory has a native/ mount
	 * point, as the shipped one does. */
	const char *native_dir;
	brig_limits limits; /* defaults for every run */
	/*
	 * When brig runs as root, the guest's user is mapped to this host uid
	 * and gid so that an escape from the user namespace is not root.
	 * Default 65534 (nobody).  Ignored when not root.
	 */
	uint32_t host_uid;
	uint32_t host_gid;
	/*
	 * Warm start: 0 (the default) or 1 on, -1 off.  When on, one-shot
	 * Python and JavaScript runs get their sandbox from a zygote: a warm
	 * interpreter per language that this executor starts on first use (a
	 * child process that never runs guest code) and that forks, for each
	 * run, a fresh jail's init whose guest is a copy of the warm
	 * interpreter.  Each run still gets its own mount, pid, network, IPC
	 * and UTS namespaces, /tmp and home, limits, seccomp filter and ids,
	 * exactly as a cold run; only the interpreter's start is skipped.
	 * Runs start cold while the zygote warms up, when it died (it is
	 * replaced), for sessions and shell, and for interpreter flags other
	 * than the ones it started with (a JavaScript memory limit other than
	 * the first one's).  brig_result_warm tells which.  Shared by design
	 * with the zygote, and so between runs: the interpreter's address
	 * layout and Python's str hash secret (see SECURITY.md).
	 */
	int warm_start;
	/*
	 * Jails each zygote prepares ahead of demand, for the plan it served
	 * last (namespaces and root built, waiting for a run with the same
	 * limits and mounts): 0 means 2, at most 8.
	 */
	uint32_t warm_pool;
	/* The zygotes' library and node addon; default built in (BRIG_ZYGOTE_DIR). */
	const char *zygote_dir;
	/*
	 * Spawn warm jails through the brig daemon listening on this unix
	 * socket (brig daemon start), instead of zygotes of this executor's
	 * own.  This process stays the host of every run: it serves the host
	 * calls, streams the output and enforces the limits.  When the daemon
	 * cannot serve a run (it is gone, still warming up, or runs another
	 * build) the run starts cold.  NULL: no daemon.
	 */
	const char *daemon_socket;
} brig_config;

void brig_config_init(brig_config *cfg);
/*
 * Create an executor.  Checks that the sandbox can be built on this host
 * (user namespaces, seccomp) and returns BRIG_E_UNAVAILABLE with a reason
 * in *why (malloc'd, may be NULL) when it cannot.  cfg may be NULL.
 */
int brig_executor_new(const brig_config *cfg, brig_executor **out, char **why);
/* Wait for no run; the caller must not free an executor that is running code. */
void brig_executor_free(brig_executor *ex);
/*
 * Start lang's zygote now (with the executor's default limits) and wait up
 * to timeout_ms until it is warm, so that the next runs start warm.
 * BRIG_OK, BRIG_E_UNSUPPORTED (warm start off, or lang is shell), or
 * BRIG_E_UNAVAILABLE (the zygote did not come up in time; runs start
 * cold meanwhile).
 */
int brig_executor_prewarm(brig_executor *ex, brig_lang lang, int timeout_ms);
/*
 * Serving warm starts to other processes of the same user (what brig
 * daemon does).  conn is a connected SOCK_SEQPACKET unix socket whose peer
 * is an executor with daemon_socket set; checking who the peer is (its
 * uid) is the caller's job.  brig_executor_greet sends the greeting the
 * peer waits for.  brig_executor_relay reads one spawn request and answers
 * it, starting this executor's zygote for the request's interpreter when
 * needed (the peer starts that run cold); it blocks until the zygote
 * answered.  It returns BRIG_OK, BRIG_E_CONSUMED when the peer hung up,
 * BRIG_E_PROTOCOL for a malformed request, BRIG_E_UNSUPPORTED without warm
 * start.  The jails' inits are the calling process's children:
 * brig_executor_reap reaps those that exited (call it on SIGCHLD), and
 * notices zygotes that died.
 */
int brig_executor_greet(brig_executor *ex, int conn);
int brig_executor_relay(brig_executor *ex, int conn);
void brig_executor_reap(brig_executor *ex);
/*
 * Show every run of this executor the host file or directory at path,
 * read-only and at the same path, next to the reviewed allowlist that all
 * jails get (CA certificates, fontconfig, matplotlibrc, mime.types...; see
 * SECURITY.md).  A symbolic link is replicated as a link.  For
 * configuration that software in the guest reads from a fixed place, such
 * as /etc/pip.conf or a directory of /usr/local.  Refused with BRIG_E_INVAL:
 * a path that is not absolute and canonical, /etc itself, what brig builds
 * itself (/proc, /dev, /sys, /tmp, /home, /run, /opt/brig and the /etc
 * files it generates), and secrets or host identity (/etc/shadow,
 * /etc/gshadow, /etc/ssh, /etc/ssl/private, /etc/sudoers, /etc/machine-id,
 * /root...), also as a parent, also where a link leads; and anything but a
 * file or a directory (a socket bound read-only can still be connected to).
 * A directory's own sockets stay reachable: expose none that holds one
 * (such as /var/run).  BRIG_E_NOTFOUND when path does not exist,
 * BRIG_E_LIMIT beyond 32 paths in all.  Must happen before the first run
 * starts; afterwards it returns BRIG_E_INVAL.
 */
int brig_executor_add_host_path(brig_executor *ex, const char *path);
/*
 * Register a host function for every run of this executor.  Must happen
 * before the first run starts; afterwards it returns BRIG_E_INVAL.
 */
int brig_executor_register_function(brig_executor *ex, const char *name, brig_host_fn fn,
				    void *userdata);

/* ------------------------------------------------------------------ runs */

typedef enum brig_stream { BRIG_STDOUT = 1, BRIG_STDERR = 2 } brig_stream;

/* Called on the running thread as output arrives (within the output limit). */
typedef void (*brig_output_fn)(void *userdata, brig_stream stream, const char *data, size_t len);

/*
 * A cancel token: lets any thread end one-shot runs that are in progress.
 * Give it to runs in brig_run_opts.cancel; brig_cancel_trigger then kills
 * every run holding it (with everything the guest started) and those runs
 * return BRIG_E_CANCELLED with limit BRIG_LIMIT_NONE.  A token stays
 * triggered: a run started with a triggered token is cancelled before its
 * sandbox is built, so a trigger that races with brig_run is never lost.
 * Use a new token for new work.  Sessions ignore it: they have
 * brig_session_interrupt.  The token must outlive the runs given it.
 */
typedef struct brig_cancel brig_cancel;

int brig_cancel_new(brig_cancel **out);
/* Cancel the runs holding c.  From any thread, any number of times. */
void brig_cancel_trigger(brig_cancel *c);
bool brig_cancel_triggered(const brig_cancel *c);
/* NULL is fine.  Not while a run still holds it. */
void brig_cancel_free(brig_cancel *c);

typedef struct brig_run_opts {
	brig_limits limits;	/* zero fields take the executor's value */
	const char *filename;	/* shown in tracebacks; default "<string>" */
	const brig_caps *caps;	/* NULL: no capabilities at all */
	const char *stdin_data; /* given to the guest as stdin; NULL: empty */
	size_t stdin_len;
	/*
	 * Stream the guest's stdin from stdin_fd instead: what the fd gives is
	 * copied to the guest as it arrives, until end of file (the fd is not
	 * closed).  The guest never holds the fd itself (a terminal's ioctls
	 * stay out of its reach).  One-shot runs only; stdin_data is ignored.
	 */
	bool stdin_stream;
	int stdin_fd;
	brig_output_fn on_output; /* optional streaming of stdout/stderr */
	void *output_userdata;
	brig_cancel *cancel; /* optional; not owned (one-shot runs only) */
} brig_run_opts;

void brig_run_opts_init(brig_run_opts *opts);

typedef struct brig_result brig_result;

/* Which limit ended a run, if any. */
typedef enum brig_limit_kind {
	BRIG_LIMIT_NONE = 0,
	BRIG_LIMIT_WALL,
	BRIG_LIMIT_CPU,
	BRIG_LIMIT_MEMORY,
	BRIG_LIMIT_PIDS,
	BRIG_LIMIT_OUTPUT,
	BRIG_LIMIT_DISK,
} brig_limit_kind;

/*
 * Run code in a fresh sandbox and wait for it.  opts may be NULL.  *out is
 * set whenever memory allows, also on failure, and must be freed with
 * brig_result_free.  Returns brig_result_error(*out).
 */
int brig_run(brig_executor *ex, brig_lang lang, const char *code, size_t code_len,
	     const brig_run_opts *opts, brig_result **out);

/* BRIG_OK when the guest ran to completion (whatever its exit code). */
int brig_result_error(const brig_result *r);
/* Human-readable detail of the error; "" when BRIG_OK. */
const char *brig_result_message(const brig_result *r);
/* The guest's exit status, or 128+signal when it died from a signal, or -1. */
int brig_result_exit_code(const brig_result *r);
/* The signal that ended the guest, or 0. */
int brig_result_signal(const brig_result *r);
brig_limit_kind brig_result_limit(const brig_result *r);
/* Captured output; never NULL, always NUL-terminated after len bytes. */
const char *brig_result_stdout(const brig_result *r, size_t *len);
const char *brig_result_stderr(const brig_result *r, size_t *len);
bool brig_result_stdout_truncated(const brig_result *r);
bool brig_result_stderr_truncated(const brig_result *r);
uint64_t brig_result_wall_us(const brig_result *r);
uint64_t brig_result_cpu_us(const brig_result *r);
/* 1 when the run's sandbox came from a warm zygote, 0 when it started cold. */
int brig_result_warm(const brig_result *r);
/*
 * Connections the egress proxy received (brig_proxy_limits), and those it
 * refused: not allowed, malformed, over a limit or unreachable.  In a
 * session, counted since the session began.
 */
uint64_t brig_result_proxy_connections(const brig_result *r);
uint64_t brig_result_proxy_refused(const brig_result *r);
/*
 * Artifacts (brig_caps_set_outputs): how many, and the i-th one's name (its
 * path relative to the outputs directory, "/" between directories), MIME
 * type (from its extension; "application/octet-stream" when unknown) and
 * bytes.  The pointers live as long as r.  BRIG_E_NOTFOUND when i is out of
 * range; any out pointer may be NULL.
 */
size_t brig_result_artifact_count(const brig_result *r);
int brig_result_artifact(const brig_result *r, size_t i, const char **name, const char **mime,
			 const void **data, size_t *len);
/* Some of what the outputs directory held was left out (see brig_caps_set_outputs). */
bool brig_result_artifacts_truncated(const brig_result *r);
/*
 * Write every artifact into the host directory dir (which must exist),
 * creating the subdirectories their names need.  Never follows a link: a
 * symbolic link where a directory or file would go fails the call with
 * BRIG_E_DENIED; a file already there is replaced (a new file renamed over
 * it, so a hard link elsewhere keeps its content), with mode 0644.  What
 * was written before a failure stays.  BRIG_E_IO for any other failure.
 * On failure *why (malloc'd, may be NULL) names the file.
 */
int brig_result_write_artifacts(const brig_result *r, const char *dir, char **why);
/*
 * The whole result as one malloc'd JSON object: ok, error (the name, or
 * null), error_code, message, exit_code, signal, limit ("none", "wall",
 * "cpu", "memory", "pids", "output", "disk"), stdout, stderr,
 * stdout_truncated, stderr_truncated, wall_ms, cpu_ms, warm
 * (brig_result_warm), proxy_connections, proxy_refused, artifacts (an
 * array of {name, mime, size, base64}) and artifacts_truncated.
 */
char *brig_result_to_json(const brig_result *r);
void brig_result_free(brig_result *r);

/*
 * `brig deps install`: install requirements ("name", or a name and a
 * specifier: "attrs>=23", "pydantic~=2.0") and their dependencies into the
 * host directory dir (created when missing), as pip --target lays them out,
 * with pip in a sandbox of ex whose only egress is the package index (that
 * of caps, which may be NULL: PyPI), wheels only.  An installed project's
 * files and metadata replace what dir held of it.  Returns BRIG_OK, or
 * BRIG_E_INVAL (a bad requirement) or BRIG_E_IO (pip failed, or dir is not
 * writable) with *message (malloc'd, unless message is NULL) saying why.
 */
int brig_packages_install(brig_executor *ex, const brig_caps *caps, const char *dir,
			  const char *const *reqs, size_t n, char **message);
/* What dir holds: "name version\n" per project, sorted; malloc'd, NULL when unreadable. */
char *brig_packages_list(const char *dir);

/* -------------------------------------------------------------- sessions */

/*
 * A session is a sandbox that lives across calls: globals, functions,
 * imports and files persist from one brig_session_run to the next.  It is
 * built like a run (brig_run_opts: limits, capabilities fixed for its whole
 * life, output streaming) and serves one call at a time; calls from several
 * threads are serialised.  Two sessions never see each other's state.
 *
 * A call that hits its timeout, a limit, or brig_session_interrupt is
 * killed (with everything it started) and the session becomes poisoned:
 * further calls fail with BRIG_E_POISONED until brig_session_restore or
 * brig_session_free.
 *
 * Changes to rwc mounts are committed to the host after every call (and
 * once more when the session is freed).  A call whose changes cannot all be
 * committed fails with the commit's error (BRIG_E_DENIED, BRIG_E_IO or
 * BRIG_E_LIMIT; see brig_caps_mount), without poisoning the session; the
 * same refusal is not reported again by later calls.
 * A session belongs to the process, not to the thread that made it: any
 * thread may use or free it, also after its creator ended.
 * Between calls nothing of the session runs: every process the guest left
 * behind (threads, children, background work) is stopped about 1 ms after a
 * call returns and resumes when the next call starts.
 */
typedef struct brig_session brig_session;

/* Per-call options.  Zero fields take the session's limits. */
typedef struct brig_call_opts {
	uint64_t wall_timeout_ms; /* OR'ed with cpu_timeout_ms: whichever fires first */
	uint64_t cpu_timeout_ms;
	/* Collect garbage after a handler call (default true).  JavaScript runs
	 * a full collection only once the heap grew by 4 MiB since the last
	 * (V8 collects short-lived garbage itself; a full one costs ms). */
	bool gc;
	bool interactive;     /* REPL style: print the value of an expression */
	const char *filename; /* shown in tracebacks; default "<session>" */
} brig_call_opts;

void brig_call_opts_init(brig_call_opts *o);

/* Start a session for lang.  opts may be NULL.  *why (malloc'd) on failure. */
int brig_session_new(brig_executor *ex, brig_lang lang, const brig_run_opts *opts,
		     brig_session **out, char **why);
/*
 * Kill the session's sandbox and free it.  NULL is fine.  Not while a call
 * is running on another thread: interrupt it and let the call return first.
 */
void brig_session_free(brig_session *s);
/*
 * Run code in the session.  Like brig_run, *out is set whenever memory
 * allows and the return value is brig_result_error(*out).  An uncaught
 * exception is not an error of the call: its traceback is on stderr and the
 * exit code is 1; the session stays usable.  A SystemExit/process.exit ends
 * the session (BRIG_OK with its exit code; later calls fail).
 */
int brig_session_run(brig_session *s, const char *code, size_t len, const brig_call_opts *o,
		     brig_result **out);
/* Whether code is a complete statement (REPL input); BRIG_OK with *complete. */
int brig_session_complete(brig_session *s, const char *code, bool *complete);
/* Whether a call was killed and the session awaits restore or free. */
bool brig_session_poisoned(brig_session *s);
/*
 * Kill the running call, from any thread (an interrupt handle).  The session
 * becomes poisoned.  Does nothing when no call is running.
 */
void brig_session_interrupt(brig_session *s);

/*
 * Ask the running call to stop the way the language stops on Ctrl-C
 * (Python raises KeyboardInterrupt; Node interrupts the cell's script or
 * await).  The call then fails with the guest's error and the session stays
 * usable.  Code that cannot be interrupted so (a JS busy loop after an
 * await) keeps running: brig_session_interrupt kills it.  From any thread;
 * does nothing when no call is running.
 */
void brig_session_break(brig_session *s);

/*
 * Handlers (the hyperlight-js model).  code must define `handler(event)`
 * (Python: def handler(event); JS: function handler(event)), which may be
 * async.  Handlers are added, removed or cleared while unloaded, then
 * brig_session_load evaluates them all; brig_session_unload drops the loaded
 * functions so the set can change again.
 */
int brig_session_add_handler(brig_session *s, const char *name, const char *code);
int brig_session_remove_handler(brig_session *s, const char *name);
int brig_session_clear_handlers(brig_session *s);
int brig_session_load(brig_session *s, brig_result **out);
int brig_session_unload(brig_session *s);
/*
 * Call a loaded handler with event_json (strings in it may hold \u0000).  On
 * success *result_json is the malloc'd JSON of its return value, which the
 * guest encodes as docs/PROTOCOL.md ("Values") says: a result JSON cannot
 * hold exactly (NaN, a lone surrogate, more than 512 levels, too big for a
 * frame...) fails the call with BRIG_E_GUEST_ABORT and leaves the session
 * usable.  Errors: BRIG_E_INVAL (bad name or JSON, or JSON this library
 * cannot hold: integers beyond 64 bits, NUL in a key), BRIG_E_NOTFOUND (no
 * such handler), BRIG_E_CONSUMED (not loaded), BRIG_E_POISONED,
 * BRIG_E_CANCELLED (timeout or interrupt), BRIG_E_STACK_OVERFLOW,
 * BRIG_E_GUEST_ABORT (the handler raised; message in *out), BRIG_E_INTERNAL.
 * out may be NULL; otherwise it receives the call's output and message.
 */
int brig_session_call_handler(brig_session *s, const char *name, const char *event_json,
			      const brig_call_opts *o, char **result_json, brig_result **out);

/*
 * Snapshots: the session's exact state (heap, globals, loaded handlers and
 * the files of /tmp and /home/user), restorable any number of times.
 * Restoring also clears poisoning.  A session keeps at most 16 snapshots.
 * Python and JavaScript sessions support them; JavaScript needs brig's node
 * addon (brig_config.native_dir), built only where node's headers were
 * found: without it brig_session_snapshot returns BRIG_E_UNSUPPORTED.  A
 * copy restored draws fresh random numbers (Python's random and uuid4; in
 * JavaScript Math.random, which in sessions draws on the system's generator
 * because V8 cannot reseed its own, and crypto).  A snapshot is a stopped
 * copy of the guest with a second one made ahead for the next restore (two
 * processes against limits.max_pids), and guest code can spoil its own: taking one fails
 * (BRIG_E_INTERNAL) when the guest did not leave exactly one stopped copy or could not copy its
 * files, and restoring fails with BRIG_E_NOTFOUND (leaving the session
 * poisoned) once the guest killed or woke that copy.
 */
typedef struct brig_snapshot brig_snapshot;

int brig_session_snapshot(brig_session *s, brig_snapshot **out);
int brig_session_restore(brig_session *s, const brig_snapshot *snap);
/* Forget a snapshot (its frozen copy is freed).  NULL is fine. */
void brig_snapshot_free(brig_snapshot *snap);

/*
 * Replace dst's files (everything in /tmp and /home/user) with a copy of
 * src's: the way to fork a session's files into another session, say a
 * fresh one, in about the time a memcpy of them takes.  The host copies
 * them directly between the two jails' tmpfs; no guest code runs and
 * neither interpreter's state changes (/dev/shm, heaps and handlers stay as
 * they were).  The sessions may come from different executors, and either
 * may have ended (its files last until brig_session_free).  A copy waits
 * for no call: files a call or a background process changes meanwhile are
 * copied as found in src, and replaced in dst; copies into one session
 * take turns.  Regular files, directories and symbolic links are copied
 * with their modes (less set-id bits) and times; hard links become
 * separate files; FIFOs, sockets and whatever is mounted under those
 * directories are left out, and no link is ever followed.  The copies
 * count against dst's tmp_bytes and tmp_inodes (their pages are charged to
 * the calling process's memory cgroup, not dst's).
 * Errors: BRIG_E_INVAL (NULL, or dst == src), BRIG_E_LIMIT (dst's tmpfs is
 * full), BRIG_E_INTERNAL (a file src's guest made unreadable, a tree
 * deeper than 128 directories); dst then holds part of the copy.  why,
 * when not NULL, receives a malloc'd message on failure (NULL on success).
 */
int brig_session_copy_files(brig_session *dst, brig_session *src, char **why);

#ifdef __cplusplus
}
#endif
#endif /* BRIG_H */
