/*
 * A host call end to end, as the monitor hands it over: a CALL frame cut by
 * the frame reader, its message parsed, routed by src/lib/dispatch.c to
 * http, fs, kv or an embedder's function, run on the worker pool, and the
 * REPLY frame read back from the protocol socket.
 *
 * Capabilities: http to public.test and private.test (fake_net.c resolves
 * them and refuses every socket), a read-only mount /m of a small temporary
 * directory, an in-memory kv emptied before each input, and five embedder
 * functions: echo (returns its arguments), fail (fails with its arguments
 * as the message), bad (returns text that is not JSON), none (returns
 * NULL) and bytes (fails with a message that is not UTF-8, as a host-fn
 * command's stderr may be).
 *
 * Input: the call's JSON text, a NUL, then the blob.
 *
 * Invariants: every call that decodes gets exactly one REPLY with its id,
 * within a generous deadline; the reply is {"ok": V} or {"error": {"type",
 * "message"}} with strings; the host never falls back to "could not encode
 * the reply".
 */
#include "fuzz.h"
#include "lib/dispatch.h"
#include "lib/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define REPLY_DEADLINE_MS 30000

static struct dispatch disp;
static brig_caps *caps;
static brig_kv *kv;
static int sv[2] = {-1, -1};
static char dir[PATH_MAX];
static uint32_t next_id;

static char *dup_text(const char *s)
{
	return strdup(s ? s : "");
}

static int fn_echo(void *ud, const char *name, const char *args, char **result, char **msg)
{
	(void)ud, (void)name, (void)msg;
	*result = dup_text(args);
	return 0;
}

static int fn_fail(void *ud, const char *name, const char *args, char **result, char **msg)
{
	(void)ud, (void)name, (void)result;
	*msg = dup_text(args);
	return 1;
}

static int fn_bad(void *ud, const char *name, const char *args, char **result, char **msg)
{
	(void)ud, (void)name, (void)args, (void)msg;
	*result = dup_text("{\"unterminated\": [");
	return 0;
}

static int fn_none(void *ud, const char *name, const char *args, char **result, char **msg)
{
	(void)ud, (void)name, (void)args, (void)result, (void)msg;
	return 0;
}

static int fn_bytes(void *ud, const char *name, const char *args, char **result, char **msg)
{
	(void)ud, (void)name, (void)args, (void)result;
	*msg = dup_text("bad \xff\xfe bytes \xc3");
	return 1;
}

static void cleanup(void)
{
	char path[PATH_MAX + 16];

	dispatch_destroy(&disp);
	brig_caps_free(caps);
	brig_kv_free(kv);
	close(sv[0]);
	close(sv[1]);
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[PATH_MAX + 16], err[256];
	int fd;

	snprintf(dir, sizeof(dir), "%s/brig-fuzz-dispatch.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	FUZZ_ASSERT(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_ASSERT(fd >= 0 && write(fd, "contents", 8) == 8);
	close(fd);
	FUZZ_ASSERT(brig_kv_new(NULL, &kv) == BRIG_OK);
	FUZZ_ASSERT(brig_caps_new(&caps) == BRIG_OK);
	FUZZ_ASSERT(brig_caps_allow_host(caps, "public.test") == BRIG_OK);
	FUZZ_ASSERT(brig_caps_allow_host(caps, "private.test") == BRIG_OK);
	FUZZ_ASSERT(brig_caps_mount(caps, "/m", dir, BRIG_MOUNT_RO) == BRIG_OK);
	FUZZ_ASSERT(brig_caps_set_kv(caps, kv) == BRIG_OK);
	FUZZ_ASSERT(brig_caps_add_function(caps, "echo", fn_echo, NULL) == BRIG_OK);
	FUZZ_ASSERT(brig_caps_add_function(caps, "fail", fn_fail, NULL) == BRIG_OK);
	FUZZ_ASSERT(brig_caps_add_function(caps, "bad", fn_bad, NULL) == BRIG_OK);
	FUZZ_ASSERT(brig_caps_add_function(caps, "none", fn_none, NULL) == BRIG_OK);
	FUZZ_ASSERT(brig_caps_add_function(caps, "bytes", fn_bytes, NULL) == BRIG_OK);
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_ASSERT(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	FUZZ_ASSERT(dispatch_init(&disp, caps, 1u << 20, err, sizeof(err)) == BRIG_OK);
	disp.out_fd = sv[0];
	atexit(cleanup);
}

static void empty_kv(void)
{
	char *text = NULL;
	json_t *keys, *k;
	size_t i;

	FUZZ_ASSERT(brig_kv_keys(kv, &text) == BRIG_OK);
	keys = json_loads(text, 0, NULL);
	json_array_foreach(keys, i, k)
	{
		brig_kv_delete(kv, json_string_value(k));
	}
	json_decref(keys);
	free(text);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* What the guest agent would write: one CALL frame. */
static void encode_call(struct buf *out, uint32_t id, const char *json, size_t jlen,
			const uint8_t *blob, size_t blen)
{
	uint8_t hdr[13];

	put_u32(hdr, (uint32_t)(1 + 8 + jlen + blen));
	hdr[4] = PROTO_CALL;
	put_u32(hdr + 5, id);
	put_u32(hdr + 9, (uint32_t)jlen);
	FUZZ_ASSERT(buf_append(out, hdr, sizeof(hdr)) == 0 && buf_append(out, json, jlen) == 0 &&
		    buf_append(out, blob, blen) == 0);
}

static void check_reply_json(const json_t *j)
{
	json_t *err = json_object_get(j, "error");

	FUZZ_ASSERT(json_is_object(j) && json_object_size(j) == 1);
	if (!err) {
		FUZZ_ASSERT(json_object_get(j, "ok") != NULL);
		return;
	}
	FUZZ_ASSERT(json_is_object(err));
	FUZZ_ASSERT(json_is_string(json_object_get(err, "type")));
	FUZZ_ASSERT(json_is_string(json_object_get(err, "message")));
	/* The fallback of a reply that could not be encoded. */
	FUZZ_ASSERT(strcmp(json_string_value(json_object_get(err, "type")), "MemoryError") != 0);
}

/* Read the one REPLY for id, flushing what the dispatcher queued. */
static void await_reply(uint32_t id)
{
	struct proto_reader r;
	struct proto_frame f;
	struct proto_msg m;
	char err[160], chunk[65536];
	int waited = 0, rc;

	proto_reader_init(&r, (1u << 20) + 4096);
	while ((rc = proto_next(&r, &f, err, sizeof(err))) == 0) {
		struct pollfd p[2] = {{sv[1], POLLIN, 0}, {disp.event_fd, POLLIN, 0}};
		ssize_t n;

		FUZZ_ASSERT(waited < REPLY_DEADLINE_MS);
		if (poll(p, 2, 100) == 0) {
			waited += 100;
			continue;
		}
		if (p[1].revents & POLLIN)
			dispatch_flush(&disp);
		if (!(p[0].revents & POLLIN))
			continue;
		n = read(sv[1], chunk, sizeof(chunk));
		FUZZ_ASSERT(n > 0);
		FUZZ_ASSERT(proto_feed(&r, chunk, (size_t)n) == 0);
	}
	FUZZ_ASSERT(rc == 1 && f.type == PROTO_REPLY);
	FUZZ_ASSERT(proto_parse_msg(&f, &m, err, sizeof(err)) == 0);
	FUZZ_ASSERT(m.id == id);
	check_reply_json(m.json);
	json_decref(m.json);
	/* Exactly one reply: nothing else is in flight. */
	FUZZ_ASSERT(proto_next(&r, &f, err, sizeof(err)) == 0 && r.in.len == r.off);
	proto_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	char *text = fuzz_take_str(&in);
	struct buf frame = BUF_INIT;
	struct proto_reader r;
	struct proto_frame f;
	struct proto_raw raw;
	struct proto_msg m;
	size_t cost;
	char err[160];
	uint32_t id = next_id++;

	if (!kv)
		setup();
	if (!text)
		return 0;
	empty_kv();
	encode_call(&frame, id, text, strlen(text), in.p, in.n);
	free(text);
	proto_reader_init(&r, 1u << 20);
	FUZZ_ASSERT(proto_feed(&r, frame.data, frame.len) == 0);
	FUZZ_ASSERT(proto_next(&r, &f, err, sizeof(err)) == 1 && f.type == PROTO_CALL);
	FUZZ_ASSERT(get_u32(f.body) == id);
	/* As the monitor admits a call: charged before it is parsed. */
	FUZZ_ASSERT(proto_split_msg(&f, &raw, err, sizeof(err)) == 0);
	cost = dispatch_cost(raw.json, raw.json_len, raw.blob_len);
	if (cost > disp.budget) {
		FUZZ_ASSERT(dispatch_refuse(&disp, raw.id, cost) == BRIG_OK);
		await_reply(id);
	} else if (proto_parse_raw(&raw, &m, err, sizeof(err)) == 0) {
		FUZZ_ASSERT(dispatch_room(&disp, cost));
		FUZZ_ASSERT(dispatch_submit(&disp, m.id, m.json, m.blob, m.blob_len, cost) ==
			    BRIG_OK);
		await_reply(id);
	}
	proto_reader_free(&r);
	buf_free(&frame);
	return 0;
}
