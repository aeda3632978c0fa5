/*
 * One-shot runs from JavaScript (run(code, options)): a worker thread of
 * its own waits for brig_run; output chunks reach onOutput(stream, bytes)
 * on the main thread, in order and before the result.
 */
#include <stdlib.h>
#include <string.h>

#include "sdk.h"

struct run {
	struct sdk_box box;
	napi_ref on_output;
	char *code;
	size_t code_len;
	char *result_json;
};

struct chunk {
	struct sdk_msg msg;
	struct run *run;
	int stream;
	size_t len;
	char data[];
};

static void chunk_deliver(napi_env env, struct sdk_msg *msg)
{
	struct chunk *ch = (struct chunk *)msg;
	napi_value fn, argv[2], global;
	void *copy;

	if (env && napi_get_reference_value(env, ch->run->on_output, &fn) == napi_ok &&
	    napi_create_int32(env, ch->stream, &argv[0]) == napi_ok &&
	    napi_create_buffer_copy(env, ch->len, ch->data, &copy, &argv[1]) == napi_ok &&
	    napi_get_global(env, &global) == napi_ok)
		napi_call_function(env, global, fn, 2, argv, NULL);
	free(ch);
}

static void on_output(void *userdata, brig_stream stream, const char *data, size_t len)
{
	struct run *r = userdata;
	struct chunk *ch = malloc(sizeof(*ch) + len);

	if (!ch)
		return;
	*ch = (struct chunk){.msg = {chunk_deliver}, .run = r, .stream = stream, .len = len};
	memcpy(ch->data, data, len);
	sdk_worker_post(r->box.worker, &ch->msg);
}

static int exec_run(struct sdk_job *job)
{
	struct run *r = job->data;
	brig_executor *ex;
	brig_result *res = NULL;
	char *why = NULL;
	int rc = sdk_state_executor(r->box.state, &ex, &why);

	if (rc) {
		job->message = why;
		return rc;
	}
	brig_run(ex, r->box.opts.lang, r->code, r->code_len, &r->box.opts.run, &res);
	if (!res)
		return BRIG_E_NOMEM;
	r->result_json = brig_result_to_json(res);
	brig_result_free(res);
	return r->result_json ? BRIG_OK : BRIG_E_NOMEM;
}

static void run_free(napi_env env, struct run *r)
{
	if (r->on_output)
		napi_delete_reference(env, r->on_output);
	sdk_box_free(env, &r->box);
	free(r->code), free(r->result_json), free(r);
}

static void done_run(napi_env env, struct sdk_job *job)
{
	struct run *r = job->data;

	sdk_job_settle_string(env, job, r->result_json);
	run_free(env, r);
}

/* run(options, code, dispatch, onOutput) -> Promise<result JSON> */
static napi_value run(napi_env env, napi_callback_info info)
{
	napi_value argv[4], p;
	size_t argc = 4;
	napi_valuetype t;
	struct run *r;

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
		return NULL;
	if (argc < 4)
		return sdk_throw(env, BRIG_E_INVAL, "missing arguments");
	if (!(r = calloc(1, sizeof(*r))))
		return sdk_throw(env, BRIG_E_NOMEM, NULL);
	if (!sdk_box_init(env, &r->box, "brig run", argv[0], argv[2])) {
		free(r);
		return NULL;
	}
	if (!sdk_get_string(env, argv[1], "code", &r->code))
		goto fail;
	r->code_len = strlen(r->code);
	napi_typeof(env, argv[3], &t);
	if (t == napi_function) {
		if (napi_create_reference(env, argv[3], 1, &r->on_output) != napi_ok)
			goto fail;
		r->box.opts.run.on_output = on_output;
		r->box.opts.run.output_userdata = r;
	}
	p = sdk_worker_submit(env, r->box.worker, sdk_job_new(exec_run, done_run, r));
	sdk_worker_close(r->box.worker);
	return p;
fail:
	sdk_worker_close(r->box.worker);
	run_free(env, r);
	return NULL;
}

void sdk_run_init(napi_env env, napi_value exports)
{
	napi_value f;

	if (napi_create_function(env, "run", NAPI_AUTO_LENGTH, run, NULL, &f) == napi_ok)
		napi_set_named_property(env, exports, "run", f);
}
