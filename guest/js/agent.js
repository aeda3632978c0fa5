'use strict';
// The JavaScript guest agent: the first thing node runs inside the jail.
//
// It reads one RUN frame from the control channel (fd 3, docs/PROTOCOL.md),
// runs the code in a fresh vm context whose globals are the JS built-ins plus
// the guest API (http, fs, kv, call, asyncCall, runAsync, time_now, console,
// timers and a few web globals), and exits 1 after an uncaught error.
//
// The context is a convenience, not a wall: code that climbs out of it
// reaches this process, which is as confined as the context.  The jail is the
// security boundary (SECURITY.md).
//
// Every run pays for what is loaded here, so net, util and console are
// required on first use only.

const fsys = require('fs');
const vm = require('vm');

const FD = 3;
const RUN = 1;
const CALL = 2;
const REPLY = 3;
const EVENT = 4;
const API_FILE = 'brig:api';
const AGENT_FILE = __filename;
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
	'EventTarget', 'DOMException', 'performance'];

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
		if (this.start === this.end)
			this.start = this.end = 0;
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

	send(type, parts) {
		if (this.dead)
			this.fail();
		let size = 1;
		for (const p of parts)
			size += p.length;
		const frame = Buffer.allocUnsafe(4 + size);
		frame.writeUInt32LE(size, 0);
		frame[4] = type;
		let off = 5;
		for (const p of parts)
			off += p.copy(frame, off);
		this.blocking();
		try {
			writeAll(FD, frame);
		} finally {
			this.settle();
		}
	}

	sendCall(fn, argsJson, blob) {
		const id = this.nextId;
		this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
		const text = Buffer.from('{"fn":' + JSON.stringify(fn) + ',"args":' + argsJson + '}');
		const parts = [u32(id), u32(text.length), text];
		if (blob && blob.length)
			parts.push(blob);
		this.send(CALL, parts);
		return id;
	}

	dispatch(frame) {
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
			const [fn, args, data, next] = this.backlog.shift();
			this.waiting.set(this.sendCall(fn, args, data), next);
		}
		if (this.waiting.size === 0)
			this.stopReading();
		cb(json, blob);
	}

	// A blocking call: returns [replyJson, blob].
	call(fn, argsJson, blob) {
		this.inSync = true;
		try {
			this.syncId = this.sendCall(fn, argsJson, blob);
			this.blocking();
			while (this.syncReply === null)
				this.dispatch(this.readFrame());
			return this.syncReply;
		} finally {
			this.inSync = false;
			this.syncId = 0;
			this.syncReply = null;
			this.settle();
		}
	}

	// A pipelined call: cb(replyJson, blob) runs when the reply arrives.
	post(fn, argsJson, blob, cb) {
		if (this.waiting.size >= MAX_IN_FLIGHT) {
			this.backlog.push([fn, argsJson, blob, cb]);
			return;
		}
		const id = this.sendCall(fn, argsJson, blob);
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
		const cbs = [...this.waiting.values(), ...this.backlog.map((b) => b[3])];
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
			this.send(EVENT, [Buffer.from(JSON.stringify(obj))]);
		} catch {
			// Reporting is best effort: the run is failing anyway.
		}
	}

	readRun() {
		const f = this.readFrame();
		if (f.type !== RUN)
			this.fail('brig agent: expected a RUN frame');
		const mlen = f.body.readUInt32LE(0);
		const meta = f.body.toString('utf8', 4, 4 + mlen);
		let filename = '<string>';
		for (const line of meta.split('\n')) {
			const eq = line.indexOf('=');
			if (eq > 0 && line.slice(0, eq) === 'filename')
				filename = line.slice(eq + 1);
		}
		return { filename, code: f.body.toString('utf8', 4 + mlen) };
	}
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
		post: (fn, args, blob, cb) => ch.post(fn, args, blob, cb),
		// A request body or file contents as bytes; undefined if not bytes-like.
		toBlob(x) {
			if (x === undefined || x === null)
				return null;
			if (typeof x === 'string')
				return Buffer.from(x, 'utf8');
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
		run: (fn, args) => Reflect.apply(fn, undefined, args),
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
		randomUUID: () => require('crypto').randomUUID(),
		getRandomValues: (a) => require('crypto').getRandomValues(a),
		webcrypto: () => require('crypto').webcrypto,
	};
}

function runTimer(fn, args) {
	Reflect.apply(fn, undefined, args);
}

// ---------------------------------------------------------- compiling code

/*
 * The user's code becomes the body of a function, on the lines it had:
 * the wrapper's head is a line of its own and the script starts at line -1.
 * Built-ins are bound in an outer function so that user declarations may
 * shadow them (`const URL = ...`).
 */
function compileBody(code, filename, names, { isAsync, strict }) {
	const head = '(function () { let {' + names.join(', ') + '} = this; return ' +
		(isAsync ? 'async ' : '') + 'function () {' + (strict ? ' "use strict";' : '') + '\n';
	return new vm.Script(head + code + '\n}; })', { filename, lineOffset: -1 });
}

function compileUser(code, filename, names) {
	if (code.startsWith('#!'))
		code = '//' + code.slice(2);
	const asModule = () => {
		const esm = require('./esm.js');
		const hits = esm.topLevelModuleSyntax(code);
		return compileBody(esm.stripExports(code, hits, filename), filename, names,
			{ isAsync: true, strict: true });
	};
	if (filename.endsWith('.mjs'))
		return { script: asModule(), strict: true };
	try {
		return { script: compileBody(code, filename, names, { isAsync: false, strict: false }), strict: false };
	} catch (err) {
		if (err === null || typeof err !== 'object' || err.name !== 'SyntaxError')
			throw err;
		if (require('./esm.js').topLevelModuleSyntax(code).length)
			return { script: asModule(), strict: true };
		if (/\bawait\b/.test(code)) {
			try {
				return { script: compileBody(code, filename, names, { isAsync: true, strict: false }),
					strict: false };
			} catch {
				// Report the error of the plain compile below.
			}
		}
		throw err;
	}
}

// ------------------------------------------------------------------- errors

// Hide the agent's and node's own frames from every stack trace, and from
// the user's realm too (node consults the main realm's hook for it).
function installStackFilter() {
	const hidden = (f) => {
		const file = f.getFileName() || f.getScriptNameOrSourceURL();
		return file === AGENT_FILE || file === API_FILE || (typeof file === 'string' && file.startsWith('node:'));
	};
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
	return m !== null && (m[1] === AGENT_FILE || m[1] === API_FILE || m[1].startsWith('node:'));
}

const OOM = /^Array buffer allocation failed/;

function describe(err) {
	const { inspect } = require('util');
	if (err === null || (typeof err !== 'object' && typeof err !== 'function'))
		return 'Uncaught ' + inspect(err);
	let text;
	try {
		const stack = err.stack;
		if (typeof stack !== 'string' || !stack)
			text = 'Uncaught ' + inspect(err);
		else if (!stack.startsWith(String(err.name)))
			text = stack; // a SyntaxError, led by the line it is about
		else
			text = inspect(err);
	} catch {
		text = 'Uncaught exception';
	}
	return text.split('\n').filter((l) => !hiddenLine(l)).join('\n');
}

function fatal(ch, err) {
	if (err && typeof err === 'object') {
		if (err.name === 'RangeError' && OOM.test(String(err.message)))
			ch.event({ limit: 'memory' });
		else if (err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 'EFBIG')
			ch.event({ limit: 'disk' });
	}
	writeAll(2, describe(err) + '\n');
	process.exit(1);
}

// ----------------------------------------------------------------- globals

// The context's own built-ins, which the wrapper around user code binds
// lexically: each use of a global in a vm context goes through node's
// interceptor, which makes e.g. `Math.max` in a loop a hundred times slower.
// Returns them with the context's global object.
function builtins(ctx) {
	const skip = new Set([...API_NAMES, ...NODE_GLOBALS, 'eval', 'arguments']);
	const [names, global] = vm.runInContext('[Object.getOwnPropertyNames(globalThis).join(), globalThis]', ctx);
	return [names.split(',').filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && !skip.has(k)), global];
}

function lazy(sandbox, name, make) {
	Object.defineProperty(sandbox, name, {
		get() {
			make();
			const d = Object.getOwnPropertyDescriptor(sandbox, name);
			return d && 'value' in d ? d.value : undefined;
		},
		set(value) {
			make();
			Object.defineProperty(sandbox, name, { value, writable: true, configurable: true });
		},
		configurable: true,
		enumerable: false,
	});
}

// The guest API is compiled the first time user code touches any of it.
function installLazyGlobals(sandbox, ctx, ch) {
	let done = false;
	const install = () => {
		if (done)
			return;
		done = true;
		for (const name of API_NAMES)
			delete sandbox[name];
		const api = fsys.readFileSync(__dirname + '/api.js', 'utf8');
		vm.runInContext(api, ctx, { filename: API_FILE })(makeBridge(ch));
	};
	for (const name of API_NAMES)
		lazy(sandbox, name, install);
	for (const name of NODE_GLOBALS) {
		lazy(sandbox, name, () => {
			Object.defineProperty(sandbox, name,
				{ value: globalThis[name], writable: true, configurable: true });
		});
	}
}

// --------------------------------------------------------------------- main

function main() {
	const ch = new Channel();
	const { filename, code } = ch.readRun();
	installStackFilter();
	process.on('uncaughtException', (err) => fatal(ch, err));
	process.on('unhandledRejection', (err) => fatal(ch, err));

	const sandbox = Object.create(null);
	const ctx = vm.createContext(sandbox);
	const [names, global] = builtins(ctx);
	installLazyGlobals(sandbox, ctx, ch);

	let compiled;
	try {
		compiled = compileUser(code, filename, names);
	} catch (err) {
		fatal(ch, err);
		return;
	}
	const body = compiled.script.runInContext(ctx).call(global);
	const result = compiled.strict ? body() : body.call(global);
	if (result !== null && typeof result === 'object' && typeof result.then === 'function')
		result.then(undefined, (err) => fatal(ch, err));
}

main();
