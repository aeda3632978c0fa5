/* Library internals shared by the files of src/lib. */
#ifndef BRIG_INTERNAL_H
#define BRIG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "brig.h"
#include "jail/cgroup.h"
#include "jail/jail.h"
#include "jail/seccomp.h"
#include "lib/warm.h"
#include "util/buf.h"
#include "util/strv.h"

#define BRIG_ERRLEN 512

struct host_fn {
	char *name;
	brig_host_fn fn;
	void *userdata;
};

struct fn_table {
	struct host_fn *v;
	size_t n;
};

struct mount_spec {
	char *vpath;
	char *host_path;
	brig_mount_mode mode;
};

struct brig_caps {
	struct strv hosts;
	struct mount_spec *mounts;
	size_t nmounts;
	brig_kv *kv;
	struct fn_table fns;
	brig_http_limits http;
	brig_fs_limits fs;
	brig_proxy_limits proxy;
	struct pkg_caps *pkg; /* packages.c; NULL: none granted */
	/* brig_caps_set_outputs: NULL with outputs_set means none. */
	char *outputs;
	bool outputs_set;
	uint32_t max_artifacts;
	uint64_t artifact_bytes;
};

/* A system path bound into every jail, computed once per executor. */
struct sys_bind {
	char *dst;
	char *target; /* link target for symlinks */
	enum jail_bind_kind kind;
	bool is_dir;
};

/* host_files.c: the reviewed host paths every jail sees read-only. */
struct host_file {
	const char *path;
	const char *why;
};
extern const struct host_file host_files[];
extern const size_t host_files_count;
/* Why an embedder may not expose path (NULL: it may). */
const char *host_path_refusal(const char *path);
/* brig_executor_add_host_path's checks: BRIG_OK, BRIG_E_INVAL or BRIG_E_NOTFOUND. */
int host_path_check(const char *path);

struct brig_executor {
	char *python, *node, *shell, *guest_dir, *native_dir;
	int guest_dir_fd;
	int native_dir_fd;  /* -1: no native files, and no bind for them */
	brig_limits limits; /* with every default resolved */
	uid_t host_uid;
	gid_t host_gid;
	bool privileged;
	struct sys_bind *sys;
	size_t nsys;
	struct strv passenv; /* host variables handed through, as "K=V" */
	struct cgroup_env cg;
	int sockdiag_err; /* without a memory cgroup: why socket buffers cannot be measured */
	atomic_uint_fast64_t seq; /* names cgroups of concurrent runs */
	pthread_mutex_t lock;	  /* guards fns and started */
	struct fn_table fns;
	bool started;
	struct warm warm; /* the zygotes; their own locks */
};

struct brig_result {
	int error;
	char *message;
	int exit_code;
	int signal;
	brig_limit_kind limit;
	struct buf out, err;
	bool out_trunc, err_trunc;
	uint64_t wall_us, cpu_us;
	bool warm;
	uint64_t proxy_connections, proxy_refused;
	struct artifact *arts;
	size_t narts;
	bool arts_trunc;
};

/* A file of the outputs directory, as the result holds it. */
struct artifact {
	char *name;
	const char *mime; /* static */
	struct buf data;
};

/* options.c */
void limits_resolve(brig_limits *dst, const brig_limits *over);
int fn_table_add(struct fn_table *t, const char *name, brig_host_fn fn, void *ud);
int fn_table_copy(struct fn_table *dst, const struct fn_table *src);
const struct host_fn *fn_table_find(const struct fn_table *t, const char *name);
void fn_table_free(struct fn_table *t);

/* packages.c: the package capabilities, copied and freed with their brig_caps. */
int pkg_caps_copy(struct pkg_caps **dst, const struct pkg_caps *src);
void pkg_caps_free(struct pkg_caps *p);

/* cancel.c: a token that fires when fd becomes readable (fd is duplicated). */
int cancel_wrap_fd(int fd, brig_cancel **out);

/* caps.c: the frozen copy a run works with. */
int caps_freeze(const brig_caps *src, const struct fn_table *exec_fns, brig_caps **out);

/* cancel.c: the fd a monitor polls (readable once triggered), or -1. */
int cancel_fd(const brig_cancel *c);

/* artifacts.c: the outputs directory's bounds, and collecting it. */
#define ARTIFACTS_DEFAULT_FILES 64u
#define ARTIFACTS_DEFAULT_BYTES (32ull << 20)
#define ARTIFACTS_MAX_FILES 4096u
#define ARTIFACTS_MAX_BYTES (1ull << 30)
/* Read the regular files below dirfd (O_PATH is fine) into r, at most max_files. */
int artifacts_collect(brig_result *r, int dirfd, uint32_t max_files);
void artifacts_free(brig_result *r);
const char *artifact_mime(const char *name);

/* result.c */
brig_result *result_new(void);
int result_fail(brig_result *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
