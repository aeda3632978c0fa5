/* The kv.* host functions over a brig_kv (memory or SQLite). */
#ifndef BRIG_KV_H
#define BRIG_KV_H

#include "brig.h"
#include "hostcall.h"

/*
 * Run one kv call; op is the part after "kv." ("get", "set", "delete",
 * "keys"), args the call's JSON object.  Thread-safe.  Always fills rep:
 *   get    {"key"}          -> {"found": bool, "value": V or null}
 *   set    {"key", "value"} -> null
 *   delete {"key"}          -> true if the key existed, else false
 *   keys   {}               -> sorted array of keys
 * Bad arguments and exceeded limits give ValueError (the message names the
 * limit); failures of the store itself give RuntimeError.
 */
void kv_call(brig_kv *kv, const char *op, json_t *args, struct hc_reply *rep);

#endif
