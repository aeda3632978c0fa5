/* Reading the operator's files for `brig serve` and `brig mcp`. */
#ifndef BRIG_CLI_SERVE_LOAD_H
#define BRIG_CLI_SERVE_LOAD_H

#include <stddef.h>

#include "cli/serve_policy.h"

/* Read and parse; 0, or -1 with a message in err. */
int serve_load_tokens(const char *path, struct serve_tokens *t, char *err, size_t errlen);
int serve_load_policy(const char *path, struct serve_policy *p, char *err, size_t errlen);
/*
 * The executor of a long-lived service: the BRIG_GUEST_DIR, BRIG_ZYGOTE_DIR
 * and BRIG_NATIVE_DIR of the environment, and warm start on (the warm pool
 * pays for itself over many runs).
 */
void serve_config(brig_config *cfg);
/* Open every grant's kv stores (SQLite files); 0, or -1 with a message. */
int serve_open_stores(struct serve_policy *p, char *err, size_t errlen);

#endif
