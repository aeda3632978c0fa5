/*
 * The executor: configuration and everything that can be computed once and
 * shared by concurrent runs (the seccomp program, the system binds, the
 * cgroup hierarchy).  Immutable once the first run starts.
 */
#include "lib/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brig_build.h"
#include "jail/probe.h"
#include "jail/usage.h"
#include "lib/sandbox.h"

/* Host variables a guest needs for correct results on some CPUs (OpenBLAS). */
static const char *const pass_vars[] = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"};

static int add_sys_bind(brig_executor *ex, const char *path)
{
	struct sys_bind *v, b = {0};
	struct stat st;
	char target[PATH_MAX];
	ssize_t n;

	if (lstat(path, &st) < 0)
		return 0; /* absent on this host: nothing to bind */
	if (S_ISLNK(st.st_mode)) {
		if ((n = readlink(path, target, sizeof(target) - 1)) < 0)
			return 0;
		target[n] = '\0';
		b.kind = JAIL_BIND_SYMLINK;
		b.target = strdup(target);
	} else {
		b.kind = JAIL_BIND_RO;
		b.is_dir = S_ISDIR(st.st_mode);
		b.target = strdup(path);
	}
	b.dst = strdup(path);
	if (!b.dst || !b.target || !(v = realloc(ex->sys, (ex->nsys + 1) * sizeof(*v)))) {
		free(b.dst);
		free(b.target);
		return BRIG_E_NOMEM;
	}
	ex->sys = v;
	ex->sys[ex->nsys++] = b;
	return 0;
}

static int set_str(char **dst, const char *val, const char *def)
{
	*dst = strdup(val && *val ? val : def);
	return *dst ? 0 : BRIG_E_NOMEM;
}

static void resolve_defaults(brig_limits *l, const brig_limits *cfg)
{
	brig_limits_init(l);
	l->wall_timeout_ms = BRIG_DEFAULT_WALL_TIMEOUT_MS;
	l->memory_bytes = BRIG_DEFAULT_MEMORY_BYTES;
	l->max_pids = BRIG_DEFAULT_MAX_PIDS;
	l->max_output_bytes = BRIG_DEFAULT_MAX_OUTPUT_BYTES;
	l->tmp_bytes = BRIG_DEFAULT_TMP_BYTES;
	l->max_code_bytes = BRIG_DEFAULT_MAX_CODE_BYTES;
	l->max_frame_bytes = BRIG_DEFAULT_MAX_FRAME_BYTES;
	l->mount_write_bytes = BRIG_DEFAULT_MOUNT_WRITE_BYTES;
	l->tmp_inodes = BRIG_DEFAULT_TMP_INODES;
	l->max_open_files = BRIG_DEFAULT_MAX_OPEN_FILES;
	limits_resolve(l, cfg);
}

/* Cheap checks only: a failing clone at run time explains itself in full. */
static int check_available(bool root, char **why)
{
	char reason[512];

	if (jail_userns_disabled(root, reason, sizeof(reason))) {
		if (why)
			*why = strdup(reason);
		return BRIG_E_UNAVAILABLE;
	}
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
		if (why)
			*why = strdup("seccomp filtering is not available in this kernel "
				      "(CONFIG_SECCOMP_FILTER); brig cannot sandbox here");
		return BRIG_E_UNAVAILABLE;
	}
	return BRIG_OK;
}

static int open_guest_dir(brig_executor *ex, char **why)
{
	char probe[PATH_MAX];

	ex->guest_dir_fd = open(ex->guest_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(probe, sizeof(probe), "%s/python/agent.py", ex->guest_dir);
	if (ex->guest_dir_fd >= 0 && access(probe, R_OK) == 0)
		return BRIG_OK;
	if (why &&
	    asprintf(why, "guest agents not found in %s (set BRIG_GUEST_DIR)", ex->guest_dir) < 0)
		*why = NULL;
	return BRIG_E_UNAVAILABLE;
}

/*
 * The native files are optional (the node addon is built only where node's
 * headers are), and are bound only onto the guest directory's native/ mount
 * point: without either, nothing is bound and JS snapshots are unsupported.
 */
static void open_native_dir(brig_executor *ex)
{
	ex->native_dir_fd = open(ex->native_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ex->native_dir_fd >= 0 && faccessat(ex->guest_dir_fd, "native", R_OK, 0) < 0) {
		close(ex->native_dir_fd);
		ex->native_dir_fd = -1;
	}
}

static int setup(brig_executor *ex, const brig_config *cfg, char **why)
{
	int rc;

	if ((rc = set_str(&ex->python, cfg->python, "/usr/bin/python3")) ||
	    (rc = set_str(&ex->node, cfg->node, "/usr/bin/node")) ||
	    (rc = set_str(&ex->shell, cfg->shell, "/bin/sh")) ||
	    (rc = set_str(&ex->guest_dir, cfg->guest_dir, BRIG_GUEST_DIR)) ||
	    (rc = set_str(&ex->native_dir, cfg->native_dir, BRIG_NATIVE_DIR)))
		return rc;
	resolve_defaults(&ex->limits, &cfg->limits);
	ex->privileged = jail_privileged();
	ex->host_uid = ex->privileged ? cfg->host_uid : geteuid();
	ex->host_gid = ex->privileged ? cfg->host_gid : getegid();
	if ((rc = check_available(ex->privileged, why)) || (rc = open_guest_dir(ex, why)))
		return rc;
	open_native_dir(ex);
	for (size_t i = 0; i < host_files_count; i++) {
		if ((rc = add_sys_bind(ex, host_files[i].path)))
			return rc;
	}
	for (size_t i = 0; i < sizeof(pass_vars) / sizeof(pass_vars[0]); i++) {
		const char *v = getenv(pass_vars[i]);
		char *kv;

		if (!v || asprintf(&kv, "%s=%s", pass_vars[i], v) < 0)
			continue;
		rc = strv_push(&ex->passenv, kv);
		free(kv);
		if (rc)
			return BRIG_E_NOMEM;
	}
	cgroup_probe(&ex->cg);
	if (!ex->cg.memory)
		ex->sockdiag_err = usage_probe_sockets();
	return warm_init(&ex->warm, cfg->warm_start >= 0,
			 cfg->warm_pool ? (cfg->warm_pool > 8 ? 8 : cfg->warm_pool) : 2,
			 cfg->zygote_dir && *cfg->zygote_dir ? cfg->zygote_dir : BRIG_ZYGOTE_DIR,
			 ex->guest_dir, cfg->daemon_socket);
}

int brig_executor_new(const brig_config *cfg, brig_executor **out, char **why)
{
	brig_config defaults;
	brig_executor *ex;
	int rc;

	if (why)
		*why = NULL;
	if (!out)
		return BRIG_E_INVAL;
	*out = NULL;
	if (!cfg) {
		brig_config_init(&defaults);
		cfg = &defaults;
	}
	if (!(ex = calloc(1, sizeof(*ex))))
		return BRIG_E_NOMEM;
	ex->guest_dir_fd = ex->native_dir_fd = -1;
	pthread_mutex_init(&ex->lock, NULL);
	if ((rc = setup(ex, cfg, why))) {
		brig_executor_free(ex);
		return rc;
	}
	*out = ex;
	return BRIG_OK;
}

void brig_executor_free(brig_executor *ex)
{
	if (!ex)
		return;
	warm_destroy(&ex->warm);
	free(ex->python);
	free(ex->node);
	free(ex->shell);
	free(ex->guest_dir);
	if (ex->guest_dir_fd >= 0)
		close(ex->guest_dir_fd);
	free(ex->native_dir);
	if (ex->native_dir_fd >= 0)
		close(ex->native_dir_fd);
	for (size_t i = 0; i < ex->nsys; i++) {
		free(ex->sys[i].dst);
		free(ex->sys[i].target);
	}
	free(ex->sys);
	strv_free(&ex->passenv);
	fn_table_free(&ex->fns);
	pthread_mutex_destroy(&ex->lock);
	free(ex);
}

int brig_executor_prewarm(brig_executor *ex, brig_lang lang, int timeout_ms)
{
	if (!ex || timeout_ms < 0)
		return BRIG_E_INVAL;
	if (!ex->warm.enabled || (lang != BRIG_LANG_PYTHON && lang != BRIG_LANG_JS))
		return BRIG_E_UNSUPPORTED;
	return sandbox_prewarm(ex, lang, timeout_ms) == 0 ? BRIG_OK : BRIG_E_UNAVAILABLE;
}

int brig_executor_greet(brig_executor *ex, int conn)
{
	if (!ex || conn < 0)
		return BRIG_E_INVAL;
	return warm_greet(conn) == 0 ? BRIG_OK : BRIG_E_CONSUMED;
}

int brig_executor_relay(brig_executor *ex, int conn)
{
	int rc;

	if (!ex || conn < 0)
		return BRIG_E_INVAL;
	if (!ex->warm.enabled || ex->warm.daemon_socket)
		return BRIG_E_UNSUPPORTED;
	rc = warm_relay(&ex->warm, conn);
	return rc == 0 ? BRIG_OK : rc > 0 ? BRIG_E_CONSUMED : BRIG_E_PROTOCOL;
}

void brig_executor_reap(brig_executor *ex)
{
	if (ex)
		warm_reap(&ex->warm);
}

/* The system binds leave room in a plan for the guest's own and user mounts. */
#define MAX_SYS_BINDS (JAIL_MAX_BINDS / 2)

static bool sys_has(const brig_executor *ex, const char *path)
{
	for (size_t i = 0; i < ex->nsys; i++) {
		if (strcmp(ex->sys[i].dst, path) == 0)
			return true;
	}
	return false;
}

int brig_executor_add_host_path(brig_executor *ex, const char *path)
{
	int rc;

	if (!ex)
		return BRIG_E_INVAL;
	if ((rc = host_path_check(path)))
		return rc;
	pthread_mutex_lock(&ex->lock);
	if (ex->started)
		rc = BRIG_E_INVAL;
	else if (!sys_has(ex, path))
		rc = ex->nsys >= MAX_SYS_BINDS ? BRIG_E_LIMIT : add_sys_bind(ex, path);
	pthread_mutex_unlock(&ex->lock);
	return rc;
}

int brig_executor_register_function(brig_executor *ex, const char *name, brig_host_fn fn,
				    void *userdata)
{
	int rc;

	if (!ex)
		return BRIG_E_INVAL;
	pthread_mutex_lock(&ex->lock);
	rc = ex->started ? BRIG_E_INVAL : fn_table_add(&ex->fns, name, fn, userdata);
	pthread_mutex_unlock(&ex->lock);
	return rc;
}
