'use strict';
// The JavaScript guest agent: the first thing node runs inside the jail.
//
// It reads one RUN frame from the control channel (fd 3, docs/PROTOCOL.md),
// runs the code in a fresh vm context whose globals are the ECMAScript
// built-ins plus the guest API (http, fs, kv, call, asyncCall, runAsync,
// time_now, console, timers and a few web globals; api.js), and exits 1
// after an uncaught error.  Code with top-level await, and single-file ES
// modules (esm.js), run as the body of an async function.  When the first
// frame is a REQ instead, it serves a session (session.js).
//
// The context keeps node's require, process and Buffer out of sight; it is
// not a wall.  Code that climbs out of it reaches this node process, which
// the jail confines exactly as it confines the user's code: the jail is the
// security boundary (SECURITY.md).
//
// Every run pays for what is loaded here, so api.js, esm.js, session.js,
// net, util and console are loaded on first use only.

const fsys = require('fs');
const vm = require('vm');

const FD = 3;
const RUN = 1;
const CALL = 2;
const REPLY = 3;
const EVENT = 4;
const REQ = 5;
const DONE = 6;
const API_FILE = 'brig:api';
const GUEST_DIR = __dirname + '/';
const CHUNK = 1 << 16;
// Pipelined calls beyond this wait in the agent: the host bounds the calls in
// flight too, and a guest blocked writing a CALL while the host waits for it
// to read REPLYs would stall until the timeout.
const MAX_IN_FLIGHT = 64;

// The globals api.js defines, and node's own web globals lent to user code.
const API_NAMES = ['http', 'fs', 'kv', 'call', 'asyncCall', 'runAsync', 'time_now', 'console',
	'structuredClone', 'TextEncoder', 'TextDecoder', 'crypto', 'setTimeout', 'setInterval',
	'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'queueMicrotask', 'atob',
	'btoa'];
const NODE_GLOBALS = ['URL', 'URLSearchParams', 'AbortController', 'AbortSignal', 'Event',
	'EventTarget', 'DOMException', 'performance', 'CustomEvent', 'Blob', 'ReadableStream',
	'WritableStream', 'TransformStream', 'TextEncoderStream', 'TextDecoderStream',
	'CompressionStream', 'DecompressionStream'];

// ------------------------------------------------------------------ output

let sleeper = null;

function pause(ms) {
	sleeper = sleeper || new Int32Array(new SharedArrayBuffer(4));
	Atomics.wait(sleeper, 0, 0, ms);
}

// Blocking writes: stdout and stderr are pipes to the host, which drains
// them; a closed pipe means the host stopped listening, so output is dropped.
function writeAll(fd, data) {
	let buf = data;
	let off = 0;

	if (typeof data === 'string') {
		if (data.length === 0)
			return;
		buf = Buffer.from(data, 'utf8');
	}
	while (off < buf.length) {
		try {
			off += fsys.writeSync(fd, buf, off, buf.length - off);
		} catch (err) {
			if (err.code === 'EAGAIN' || err.code === 'EINTR') {
				pause(1);
				continue;
			}
			if (err.code === 'EPIPE' || err.code === 'EBADF')
				return;
			throw err;
		}
	}
}

// ------------------------------------------------------------------- values

/*
 * JSON for the host, exactly as it will read it back (docs/PROTOCOL.md,
 * "Values"), or a clean error.  JSON.stringify alone would turn NaN and
 * Infinity into null, -0 into 0, a Map or a typed array into {}, and would
 * write integers beyond 2**63 in a form the host refuses, and lone
 * surrogates as escapes the host refuses: a refused frame kills the run.
 * Otherwise it follows JSON.stringify: toJSON, boxed primitives, undefined
 * and functions left out of objects and null in arrays.
 */
const MAX_DEPTH = 512;
const INT_LIMIT = 2 ** 63;
const LONE_SURROGATE = /\p{Cs}/u;
const quote = JSON.stringify;
let utilTypes = null;

function jsonString(s) {
	if (LONE_SURROGATE.test(s))
		throw new TypeError('a string with a lone surrogate cannot be sent to the host (it has no UTF-8 form)');
	return quote(s);
}

function jsonNumber(n) {
	if (!Number.isFinite(n))
		throw new RangeError(n + ' cannot be sent to the host: JSON has no NaN or Infinity');
	if (n === 0)
		return Object.is(n, -0) ? '-0.0' : '0';
	// The host refuses a plain integer beyond 64 bits, but reads a real.  At
	// -2**63 too: its shortest digits, -9223372036854776000, are beyond.
	if (Number.isInteger(n) && Math.abs(n) >= INT_LIMIT)
		return n.toExponential();
	return String(n);
}

// The kinds that JSON.stringify would silently empty.
function refuseOpaque(v, types) {
	let what = null;
	if (types.isMap(v) || types.isWeakMap(v))
		what = 'a Map';
	else if (types.isSet(v) || types.isWeakSet(v))
		what = 'a Set';
	else if (types.isArrayBufferView(v) || types.isAnyArrayBuffer(v))
		what = 'binary data (send bytes as a body or file instead)';
	else if (types.isPromise(v))
		what = 'a Promise (await it first)';
	else if (types.isBigIntObject(v))
		what = 'a BigInt';
	if (what)
		throw new TypeError(what + ' cannot be sent to the host as JSON');
}

function unbox(v, types) {
	if (types.isNumberObject(v))
		return Number(v);
	if (types.isStringObject(v))
		return String(v);
	if (types.isBooleanObject(v))
		return Boolean.prototype.valueOf.call(v);
	return v;
}

// The JSON text of value; undefined when JSON has no text for it (undefined,
// a function, a symbol).  limit bounds the nesting, value itself being 1:
// MAX_DEPTH for a value as the user sees it, one more around call arguments.
function toJson(value, limit = MAX_DEPTH) {
	const types = utilTypes || (utilTypes = require('util').types);
	const open = new Set();

	function container(v, depth) {
		if (depth > limit)
			throw new RangeError('value nested more than ' + MAX_DEPTH + ' levels deep');
		if (open.has(v))
			throw new TypeError('a value that contains itself cannot be sent to the host');
		open.add(v);
		const parts = [];
		let text;
		if (Array.isArray(v)) {
			const n = v.length;
			for (let i = 0; i < n; i++) {
				const x = encode(String(i), v[i], depth + 1);
				parts.push(x === undefined ? 'null' : x);
			}
			text = '[' + parts.join(',') + ']';
		} else {
			for (const k of Object.keys(v)) {
				const x = encode(k, v[k], depth + 1);
				if (x === undefined)
					continue;
				if (k.includes('\0'))
					throw new TypeError('object keys sent to the host must not contain NUL');
				parts.push(jsonString(k) + ':' + x);
			}
			text = '{' + parts.join(',') + '}';
		}
		open.delete(v);
		return text;
	}

	function encode(key, v, depth) {
		if (v !== null && (typeof v === 'object' || typeof v === 'bigint') &&
			typeof v.toJSON === 'function')
			v = v.toJSON(key);
		if (v !== null && typeof v === 'object') {
			refuseOpaque(v, types);
			v = unbox(v, types);
		}
		switch (typeof v) {
		case 'string':
			return jsonString(v);
		case 'number':
			return jsonNumber(v);
		case 'boolean':
			return v ? 'true' : 'false';
		case 'bigint':
			throw new TypeError('a BigInt cannot be sent to the host as JSON (convert it to a Number or a string)');
		case 'object':
			return v === null ? 'null' : container(v, depth);
		default:
			return undefined;
		}
	}

	return encode('', value, 1);
}

// What the agent itself sends (answers, events) is never refused: lone
// surrogates become U+FFFD, and NUL, which the host's C strings cannot hold,
// becomes the two characters \0.
function plainJson(obj) {
	return JSON.stringify(obj, (k, v) =>
		(typeof v === 'string' ? v.replace(/\p{Cs}/gu, '\ufffd').replace(/\0/g, '\\0') : v));
}

// ------------------------------------------------------------------ channel

function u32(n) {
	const b = Buffer.allocUnsafe(4);
	b.writeUInt32LE(n >>> 0, 0);
	return b;
}

/*
 * The guest end of the control channel.  Blocking calls write a CALL and read
 * frames with readSync until their REPLY arrives.  Pipelined calls write a
 * CALL and return; while any is outstanding a net.Socket on fd 3 lets the
 * event loop notice replies.  Only one reader ever runs: JS is single
 * threaded, and libuv reads only when the JS stack is empty.  The socket
 * makes fd 3 non-blocking, so blocking operations switch it back first, and
 * it goes back to non-blocking only once no blocking call is under way.
 */
class Channel {
	constructor() {
		this.buf = Buffer.allocUnsafe(CHUNK);
		this.start = 0;
		this.end = 0;
		this.nextId = 1;
		this.waiting = new Map(); // id -> callback(json, blob)
		this.backlog = []; // pipelined calls not sent yet
		this.inSync = false;
		this.syncId = 0;
		this.syncReply = null;
		this.sock = null;
		this.reading = false;
		this.nonblocking = false;
		this.dead = null;
		this.requests = null; // a session's requests read early; null in a run
		this.maxFrame = 0; // the host's bound on a frame, once it said; 0: unknown
	}

	// A frame the host would refuse as a protocol violation throws here instead.
	checkFrame(size) {
		if (this.maxFrame && size > this.maxFrame) {
			throw new RangeError('host call of ' + size + ' bytes exceeds the frame limit of ' +
				this.maxFrame + ' bytes');
		}
	}

	// The CALL's JSON, checked to fit in a frame with its blob.
	callText(fn, argsJson, blob) {
		const text = Buffer.from('{"fn":' + JSON.stringify(fn) + ',"args":' + argsJson + '}');
		this.checkFrame(9 + text.length + (blob ? blob.length : 0));
		return text;
	}

	room(n) {
		if (this.buf.length - this.end >= n)
			return;
		const used = this.end - this.start;
		if (this.start > 0 && this.buf.length - used >= n) {
			this.buf.copy(this.buf, 0, this.start, this.end);
		} else {
			const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, used + n));
			this.buf.copy(bigger, 0, this.start, this.end);
			this.buf = bigger;
		}
		this.start = 0;
		this.end = used;
	}

	take() {
		const have = this.end - this.start;
		if (have < 5)
			return null;
		const len = this.buf.readUInt32LE(this.start);
		if (have < 4 + len) {
			this.room(4 + len - have);
			return null;
		}
		const type = this.buf[this.start + 4];
		const body = Buffer.from(this.buf.subarray(this.start + 5, this.start + 4 + len));
		this.start += 4 + len;
		if (this.start === this.end) {
			this.start = this.end = 0;
			// Let a buffer grown for one big frame go.
			if (this.buf.length > 16 * CHUNK)
				this.buf = Buffer.allocUnsafe(CHUNK);
		}
		return { type, body };
	}

	fail(why) {
		if (!this.dead)
			this.dead = why;
		const err = new Error(this.dead);
		throw err;
	}

	blocking() {
		if (this.nonblocking) {
			this.sock._handle.setBlocking(true);
			this.nonblocking = false;
		}
	}

	// Back to non-blocking if the event loop is to read replies.
	settle() {
		if (this.reading && !this.nonblocking && !this.inSync) {
			this.sock._handle.setBlocking(false);
			this.nonblocking = true;
		}
	}

	fill() {
		this.room(CHUNK);
		let n;
		for (;;) {
			try {
				n = fsys.readSync(FD, this.buf, this.end, this.buf.length - this.end, null);
				break;
			} catch (err) {
				if (err.code === 'EINTR')
					continue;
				if (err.code === 'EAGAIN') {
					pause(1);
					continue;
				}
				this.fail('brig control channel: ' + err.message);
			}
		}
		if (n === 0)
			this.fail('brig host closed the control channel');
		this.end += n;
	}

	readFrame() {
		for (;;) {
			const f = this.take();
			if (f)
				return f;
			this.fill();
		}
	}

	frame(type, parts) {
		let size = 1;
		for (const p of parts)
			size += p.length;
		const frame = Buffer.allocUnsafe(4 + size);
		frame.writeUInt32LE(size, 0);
		frame[4] = type;
		let off = 5;
		for (const p of parts)
			off += p.copy(frame, off);
		return frame;
	}

	send(type, parts) {
		if (this.dead)
			this.fail();
		const frame = this.frame(type, parts);
		this.blocking();
		try {
			writeAll(FD, frame);
		} finally {
			this.settle();
		}
	}

	sendCall(text, blob) {
		const id = this.nextId;
		this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
		const parts = [u32(id), u32(text.length), text];
		if (blob && blob.length)
			parts.push(blob);
		this.send(CALL, parts);
		return id;
	}

	dispatch(frame) {
		if (frame.type === REQ && this.requests !== null) {
			this.requests.push(frame);
			return;
		}
		if (frame.type !== REPLY)
			this.fail('unexpected frame type ' + frame.type + ' from brig host');
		const body = frame.body;
		const id = body.readUInt32LE(0);
		const jlen = body.readUInt32LE(4);
		const json = body.toString('utf8', 8, 8 + jlen);
		const blob = body.subarray(8 + jlen);
		if (id === this.syncId) {
			this.syncReply = [json, blob];
			return;
		}
		const cb = this.waiting.get(id);
		if (!cb)
			return;
		this.waiting.delete(id);
		while (this.backlog.length && this.waiting.size < MAX_IN_FLIGHT) {
			const [text, data, next] = this.backlog.shift();
			this.waiting.set(this.sendCall(text, data), next);
		}
		if (this.waiting.size === 0)
			this.stopReading();
		cb(json, blob);
	}

	// A blocking call: returns [replyJson, blob].
	call(fn, argsJson, blob) {
		const text = this.callText(fn, argsJson, blob);
		this.inSync = true;
		try {
			this.syncId = this.sendCall(text, blob);
			this.blocking();
			while (this.syncReply === null)
				this.dispatch(this.readFrame());
			return this.syncReply;
		} finally {
			this.inSync = false;
			this.syncId = 0;
			this.syncReply = null;
			this.settle();
			this.drainLater();
		}
	}

	/*
	 * A blocking read may have taken pipelined replies along with the frame
	 * it waited for.  They sit in the buffer, and the socket will not say
	 * so again: dispatch them from the event loop, as onData would.
	 */
	drainLater() {
		if (!this.reading || this.end === this.start)
			return;
		setImmediate(() => {
			let f;
			while (this.reading && (f = this.take()) !== null)
				this.dispatch(f);
		});
	}

	// A pipelined call: cb(replyJson, blob) runs when the reply arrives.
	post(fn, argsJson, blob, cb) {
		const text = this.callText(fn, argsJson, blob);
		if (this.waiting.size >= MAX_IN_FLIGHT) {
			this.backlog.push([text, blob, cb]);
			return;
		}
		const id = this.sendCall(text, blob);
		this.waiting.set(id, cb);
		this.startReading();
	}

	startReading() {
		if (this.reading)
			return;
		if (!this.sock) {
			const net = require('net');
			this.sock = new net.Socket({
				fd: FD,
				onread: { buffer: Buffer.allocUnsafe(CHUNK), callback: (n, b) => this.onData(n, b) },
			});
			this.sock.on('error', (err) => this.abandon('brig control channel: ' + err.message));
			this.sock.on('close', () => this.abandon('brig host closed the control channel'));
			this.nonblocking = true;
		} else {
			this.sock.resume();
		}
		this.reading = true;
		this.sock.ref();
		this.settle();
	}

	stopReading() {
		if (!this.reading)
			return;
		this.reading = false;
		this.sock.pause();
		this.sock.unref();
		this.blocking();
	}

	onData(n, chunk) {
		this.room(n);
		chunk.copy(this.buf, this.end, 0, n);
		this.end += n;
		let f;
		while (this.reading && (f = this.take()) !== null)
			this.dispatch(f);
	}

	// The channel is gone: every outstanding call fails.
	abandon(why) {
		if (!this.dead)
			this.dead = why;
		const cbs = [...this.waiting.values(), ...this.backlog.map((b) => b[2])];
		this.waiting.clear();
		this.backlog = [];
		if (this.reading) {
			this.reading = false;
			this.sock.unref();
		}
		const json = JSON.stringify({ error: { type: 'OSError', message: this.dead } });
		for (const cb of cbs)
			cb(json, Buffer.alloc(0));
	}

	event(obj) {
		try {
			this.send(EVENT, [Buffer.from(plainJson(obj))]);
		} catch {
			// Reporting is best effort: the run is failing anyway.
		}
	}

	/*
	 * A session's next request.  Reading blocks, as a blocking call's does,
	 * and replies to pipelined calls still in flight are dispatched on the
	 * way, so the event loop never reads the channel at the same time.
	 */
	nextRequest() {
		this.inSync = true;
		try {
			this.blocking();
			while (this.requests.length === 0)
				this.dispatch(this.readFrame());
			return this.requests.shift();
		} finally {
			this.inSync = false;
			this.settle();
			this.drainLater();
		}
	}

	/*
	 * A copy of a session guest that a restore revived (snapshot.js): the
	 * replies to the original's pipelined calls will never come, so those
	 * calls fail; reading blocks again, whatever the shared fd was left as.
	 */
	revived(setBlocking, fd) {
		const cbs = [...this.waiting.values(), ...this.backlog.map((b) => b[2])];
		this.waiting.clear();
		this.backlog = [];
		if (this.reading) {
			this.reading = false;
			this.sock.pause();
			this.sock.unref();
		}
		setBlocking(fd);
		this.nonblocking = false;
		this.requests = [];
		const json = JSON.stringify({ error: { type: 'OSError',
			message: 'the host call was lost: the session was restored from a snapshot' } });
		for (const cb of cbs)
			cb(json, Buffer.alloc(0));
	}

	// Skip everything up to token: what a killed guest left unread.
	resync(token) {
		for (;;) {
			const at = this.buf.subarray(this.start, this.end).indexOf(token);
			if (at >= 0) {
				this.start += at + token.length;
				return;
			}
			// Keep a tail in case the token straddles two reads.
			this.start = Math.max(this.start, this.end - token.length + 1);
			this.fill();
		}
	}

	// A session's answer to request id: a JSON object and an optional blob.
	answer(id, obj, blob) {
		this.send(DONE, this.answerParts(id, obj, blob));
	}

	answerParts(id, obj, blob) {
		const text = Buffer.from(plainJson(obj));
		const parts = [u32(id), u32(text.length), text];
		if (blob && blob.length)
			parts.push(blob);
		return parts;
	}
}

function parseRun(f) {
	const mlen = f.body.readUInt32LE(0);
	const meta = f.body.toString('utf8', 4, 4 + mlen);
	let filename = '<string>';
	let maxFrame = 0;
	for (const line of meta.split('\n')) {
		const eq = line.indexOf('=');
		const key = eq > 0 ? line.slice(0, eq) : '';
		if (key === 'filename')
			filename = line.slice(eq + 1);
		else if (key === 'max_frame' && /^\d+$/.test(line.slice(eq + 1)))
			maxFrame = Number(line.slice(eq + 1));
	}
	return { filename, maxFrame, code: f.body.toString('utf8', 4 + mlen) };
}

// --------------------------------------------------------------- the bridge

// What the API in the context may use.  Only the closure in the context
// holds it, so user code sees context-realm functions and values only.
function makeBridge(ch) {
	let util = null;
	let con = null;
	const lazyUtil = () => util || (util = require('util'));

	return {
		call: (fn, args, blob) => ch.call(fn, args, blob),
		// JSON of a value for the host; args of a call sit one level down.
		json: (value) => toJson(value, MAX_DEPTH + 1),
		post: (fn, args, blob, cb) => ch.post(fn, args, blob, cb),
		// A request body or file contents as bytes; undefined if not bytes-like.
		// A string must have a UTF-8 form: no silent U+FFFD for a lone surrogate.
		toBlob(x) {
			if (x === undefined || x === null)
				return null;
			if (typeof x === 'string') {
				if (LONE_SURROGATE.test(x))
					throw new TypeError('a string with a lone surrogate has no UTF-8 form');
				return Buffer.from(x, 'utf8');
			}
			if (ArrayBuffer.isView(x))
				return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
			if (lazyUtil().types.isAnyArrayBuffer(x))
				return Buffer.from(x);
			return undefined;
		},
		utf8: (b) => b.toString('utf8'),
		decode(b, label) {
			if (!label || /^utf-?8$/i.test(label))
				return b.toString('utf8');
			try {
				return new TextDecoder(label).decode(b);
			} catch {
				return b.toString('utf8');
			}
		},
		encode: (s) => Buffer.from(s, 'utf8'),
		types: () => lazyUtil().types,
		format: (args) => lazyUtil().formatWithOptions({ colors: false }, ...args),
		console(method, args) {
			if (!con) {
				const { Console } = require('console');
				con = new Console({
					stdout: { write: (s) => writeAll(1, s) },
					stderr: { write: (s) => writeAll(2, s) },
					ignoreErrors: false,
					colorMode: false,
				});
			}
			return Reflect.apply(con[method], con, args);
		},
		write: (fd, s) => writeAll(fd, s),
		setTimeout: (fn, ms, args) => setTimeout(runTimer, ms, fn, args),
		setInterval: (fn, ms, args) => setInterval(runTimer, ms, fn, args),
		setImmediate: (fn, args) => setImmediate(runTimer, fn, args),
		clearTimeout: (t) => clearTimeout(t),
		clearImmediate: (t) => clearImmediate(t),
		queueMicrotask: (fn) => queueMicrotask(fn),
		textDecoder: (label, fatal, ignoreBOM) => new TextDecoder(label, { fatal, ignoreBOM }),
		encodeInto(s, u) {
			const r = new TextEncoder().encodeInto(s, u);
			return [r.read, r.written];
		},
		atob: (s) => atob(s),
		btoa: (s) => btoa(s),
		// No entropy cache: a session's copies would share what it holds.
		randomUUID: () => require('crypto').randomUUID({ disableEntropyCache: true }),
		getRandomValues: (a) => require('crypto').getRandomValues(a),
		webcrypto: () => require('crypto').webcrypto,
	};
}

function runTimer(fn, args) {
	Reflect.apply(fn, undefined, args);
}

// ---------------------------------------------------------- compiling code

/*
 * Code with top-level await, or a single-file module, becomes the body of an
 * async function on the lines it had: the wrapper's head is a line of its own
 * and the script starts at line -1.  In a contextified global (older node)
 * all code is wrapped so that the outer function can bind the built-ins
 * (see ES_GLOBALS); user declarations in the body may shadow them.  Running
 * the script gives the outer function, which returns [global, body].  With
 * expr, the code is an expression that the body returns (a session's REPL).
 */
function compileBody(code, filename, names, { isAsync, strict, prelude = '', expr = false }) {
	const bind = names && names.length ? 'const {' + names.join(', ') + '} = this; ' : '';
	const head = '(function () { ' + bind + prelude + 'return [this, ' + (isAsync ? 'async ' : '') +
		'function () {' + (strict ? ' "use strict";' : '') + (expr ? ' return (' : '') + '\n';
	const tail = expr ? '\n); }]; })' : '\n}]; })';
	return new vm.Script(head + code + tail, { filename, lineOffset: -1 });
}

// Returns {script, wrapped, strict}: a wrapped script is run for its body.
function compileUser(code, filename, names) {
	if (code.startsWith('#!'))
		code = '//' + code.slice(2);
	const wrapped = (opts) => ({ script: compileBody(code, filename, names, opts), wrapped: true,
		strict: opts.strict });
	const asModule = () => {
		const esm = require('./esm.js');
		const decls = [];
		const body = esm.stripExports(code, esm.topLevelModuleSyntax(code), filename, decls);
		const prelude = esm.metaDeclaration(filename) + esm.hostDeclarations(decls);
		return { script: compileBody(body, filename, names, { isAsync: true, strict: true, prelude }),
			wrapped: true, strict: true };
	};
	if (filename.endsWith('.mjs'))
		return asModule();
	try {
		if (names === null)
			return { script: new vm.Script(code, { filename }), wrapped: false, strict: false };
		return wrapped({ isAsync: false, strict: false });
	} catch (err) {
		if (err === null || typeof err !== 'object' || err.name !== 'SyntaxError')
			throw err;
		if (require('./esm.js').topLevelModuleSyntax(code).length)
			return asModule();
		if (/\bawait\b/.test(code)) {
			try {
				return wrapped({ isAsync: true, strict: false });
			} catch {
				// Report the error of the plain compile below.
			}
		}
		throw err;
	}
}

// ------------------------------------------------------------------- errors

function isAgentFile(file) {
	return typeof file === 'string' &&
		(file === API_FILE || file.startsWith(GUEST_DIR) || file.startsWith('node:'));
}

// Hide the agent's and node's own frames from every stack trace, and from
// the user's realm too (node consults the main realm's hook for it).
function installStackFilter() {
	const hidden = (f) => isAgentFile(f.getFileName() || f.getScriptNameOrSourceURL());
	Error.prepareStackTrace = (err, frames) => {
		let head;
		try {
			head = Error.prototype.toString.call(err);
		} catch {
			head = 'Error';
		}
		let out = head;
		for (const f of frames) {
			if (!hidden(f))
				out += '\n    at ' + f;
		}
		return out;
	};
}

function hiddenLine(line) {
	const m = /^\s+at (?:.* \()?(.*?)(?::\d+:\d+)?\)?$/.exec(line);
	return m !== null && isAgentFile(m[1]);
}

const OOM = /^Array buffer allocation failed/;

// An uncaught error as node would print it: the line it was thrown at (when
// that is the user's), then its stack and own properties.
function describe(err, filename) {
	const { inspect } = require('util');
	if (err === null || (typeof err !== 'object' && typeof err !== 'function'))
		return 'Uncaught ' + inspect(err);
	let text;
	try {
		let where = '';
		const stack = err.stack;
		if (typeof stack === 'string' && !stack.startsWith(String(err.name)) && stack.includes('\n\n')) {
			// vm led the stack with "file:line", the source line and a caret.
			const cut = stack.indexOf('\n\n');
			where = stack.slice(0, cut);
			err.stack = stack.slice(cut + 2);
		}
		if (typeof err.stack !== 'string' || !err.stack)
			text = 'Uncaught ' + inspect(err);
		else if (err.name === 'SyntaxError' && !err.stack.includes('\n    at '))
			text = err.stack; // inspect would bracket a stack without frames
		else
			text = inspect(err);
		if (where.startsWith(filename + ':'))
			text = where + '\n\n' + text;
	} catch {
		text = 'Uncaught exception';
	}
	return text.split('\n').filter((l) => !hiddenLine(l)).join('\n');
}

// Tell the host when an error means that the memory or disk limit was hit.
function flagLimit(ch, err) {
	if (err && typeof err === 'object') {
		if (err.name === 'RangeError' && OOM.test(String(err.message)))
			ch.event({ limit: 'memory' });
		else if (err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 'EFBIG')
			ch.event({ limit: 'disk' });
	}
}

function fatal(ch, err, filename) {
	flagLimit(ch, err);
	writeAll(2, describe(err, filename) + '\n');
	process.exit(1);
}

// ----------------------------------------------------------------- globals

/*
 * The context.  Node 20.18+ can make one whose global is an ordinary global
 * object (DONT_CONTEXTIFY); older node puts its interceptor in front of the
 * global, through which every global lookup of user code would go: `Math.max`
 * in a loop becomes a hundred times slower.  There the wrapper binds the
 * ECMAScript globals lexically instead.  A name missing from this list only
 * stays a slower global; those this node lacks are dropped, as the agent's
 * realm has the same built-ins as the context.
 */
const ES_GLOBALS = ['Object', 'Function', 'Array', 'Number', 'parseFloat', 'parseInt', 'Infinity',
	'NaN', 'undefined', 'Boolean', 'String', 'Symbol', 'Date', 'Promise', 'RegExp', 'Error',
	'AggregateError', 'EvalError', 'RangeError', 'ReferenceError', 'SyntaxError', 'TypeError',
	'URIError', 'globalThis', 'JSON', 'Math', 'Intl', 'ArrayBuffer', 'Uint8Array', 'Int8Array',
	'Uint16Array', 'Int16Array', 'Uint32Array', 'Int32Array', 'Float16Array', 'Float32Array',
	'Float64Array', 'Uint8ClampedArray', 'BigUint64Array', 'BigInt64Array', 'DataView', 'Map',
	'BigInt', 'Set', 'WeakMap', 'WeakSet', 'Proxy', 'Reflect', 'FinalizationRegistry', 'WeakRef',
	'decodeURI', 'decodeURIComponent', 'encodeURI', 'encodeURIComponent', 'escape', 'unescape',
	'isFinite', 'isNaN', 'SharedArrayBuffer', 'Atomics', 'WebAssembly', 'Iterator',
	'AsyncDisposableStack', 'DisposableStack', 'SuppressedError'];

// Returns {ctx, holder, names}: the context, the object its globals live on,
// and the names to bind lexically (null when lookups are fast anyway).
// Math.random for a context: V8 seeds it once per process, so every run
// forked from one zygote, and every copy a session's restore revives, would
// draw the same numbers.  This one draws on the system's generator
// (crypto.randomFillSync, which OpenSSL reseeds in a new process):  53 random bits from a buffer of 32-bit words
// that fill() refills.  Returns the function that empties the buffer.
const RANDOM = `(function (fill) {
	const words = new Uint32Array(2048);
	let at = words.length;
	const random = { random() {
		if (at >= words.length) {
			fill(words);
			at = 0;
		}
		const hi = words[at++] >>> 5;
		const lo = words[at++] >>> 6;
		return (hi * 67108864 + lo) / 9007199254740992;
	} }.random;
	Object.defineProperty(Math, 'random',
		{ value: random, writable: true, enumerable: false, configurable: true });
	return () => { at = words.length; };
})`;

// Install it in ctx (default: node's own realm); returns the function that
// drops what it buffered.
function installRandom(ctx) {
	let randomFill = null;
	const install = ctx ? vm.runInContext(RANDOM, ctx) : vm.runInThisContext(RANDOM);
	return install((words) =>
		(randomFill || (randomFill = require('crypto').randomFillSync))(words));
}

function makeContext() {
	const plain = vm.constants && vm.constants.DONT_CONTEXTIFY;
	if (plain) {
		const ctx = vm.createContext(plain);
		return { ctx, holder: ctx, names: null };
	}
	const holder = Object.create(null);
	const names = ES_GLOBALS.filter((k) => Object.prototype.hasOwnProperty.call(globalThis, k));
	return { ctx: vm.createContext(holder), holder, names };
}

// A global made on first use.  Returns its getter, by which install() can
// tell the names user code has not redefined meanwhile.
function lazy(holder, name, make) {
	const get = () => {
		make();
		const d = Object.getOwnPropertyDescriptor(holder, name);
		return d && 'value' in d ? d.value : undefined;
	};
	Object.defineProperty(holder, name, {
		get,
		set(value) {
			make();
			Object.defineProperty(holder, name, { value, writable: true, configurable: true });
		},
		configurable: true,
		enumerable: false,
	});
	return get;
}

// The guest API is compiled the first time user code touches any of it.
function installLazyGlobals({ ctx, holder }, ch) {
	const getters = new Set();
	let done = false;
	const install = () => {
		if (done)
			return;
		done = true;
		const free = API_NAMES.filter((name) => {
			const d = Object.getOwnPropertyDescriptor(holder, name);
			return d !== undefined && getters.has(d.get);
		});
		for (const name of free)
			delete holder[name];
		const api = fsys.readFileSync(__dirname + '/api.js', 'utf8');
		vm.runInContext(api, ctx, { filename: API_FILE })(makeBridge(ch), free);
	};
	for (const name of API_NAMES)
		getters.add(lazy(holder, name, install));
	for (const name of NODE_GLOBALS) {
		lazy(holder, name, () => {
			Object.defineProperty(holder, name,
				{ value: globalThis[name], writable: true, configurable: true });
		});
	}
}

// --------------------------------------------------------------------- main

// What session.js builds a session from.
function sessionKit(ch) {
	return { ch, writeAll, makeContext, installRandom, installLazyGlobals, compileBody,
		compileUser, describe, flagLimit, toJson };
}

function main() {
	const ch = new Channel();
	const first = ch.readFrame();
	installStackFilter();
	if (first.type === REQ) {
		require('./session.js').serve(sessionKit(ch), first);
		return;
	}
	if (first.type !== RUN)
		ch.fail('brig agent: expected a RUN frame');
	const { filename, maxFrame, code } = parseRun(first);
	ch.maxFrame = maxFrame;
	process.on('uncaughtException', (err) => fatal(ch, err, filename));
	process.on('unhandledRejection', (err) => fatal(ch, err, filename));

	const context = makeContext();
	installRandom(context.ctx);
	installLazyGlobals(context, ch);
	let compiled;
	try {
		compiled = compileUser(code, filename, context.names);
	} catch (err) {
		fatal(ch, err, filename);
		return;
	}
	if (!compiled.wrapped) {
		compiled.script.runInContext(context.ctx);
		return;
	}
	const [global, body] = compiled.script.runInContext(context.ctx)();
	const result = compiled.strict ? body() : body.call(global);
	if (result !== null && typeof result === 'object' && typeof result.then === 'function')
		result.then(undefined, (err) => fatal(ch, err, filename));
}

// A zygote (zygote.js) loads the agent ahead and calls main in each guest.
if (require.main === module)
	main();
else
	module.exports = { main, installRandom, Channel };
