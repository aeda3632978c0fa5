'use strict';
// brig's Node SDK: hyperlight-js's host API (SandboxBuilder -> ProtoJSSandbox
// -> JSSandbox -> LoadedJSSandbox) and goru-style one-shot runs, over the
// brig_sdk.node addon.  Works with require() and import alike.

const path = require('path');
const { StringDecoder } = require('string_decoder');

/** The largest timeout callHandler accepts: one hour, as hyperlight-js. */
const MAX_TIMEOUT_MS = 3600 * 1000;
/*
 * A call without timeouts runs without a monitor, as in hyperlight-js: the
 * sandbox's own wall limit, unless setLimits sets one, is the longest brig's
 * monitor can wait (about 24.8 days).
 */
const NO_MONITOR_MS = 2 ** 31 - 1;
/** What node itself needs next to the guest's heap (setHeapSize). */
const RUNTIME_OVERHEAD_BYTES = 56 * 1024 * 1024;

function loadAddon() {
	const tried = [];
	const candidates = [
		process.env.BRIG_NODE_ADDON,
		path.join(__dirname, 'build', 'brig_sdk.node'),
		path.join(__dirname, '..', 'build', 'node', 'brig_sdk.node'),
	].filter(Boolean);
	for (const file of candidates) {
		try {
			return require(file);
		} catch (err) {
			if (err.code !== 'MODULE_NOT_FOUND')
				throw err;
			tried.push(file);
		}
	}
	throw new Error('brig_sdk.node not found (run `make` in the brig checkout, or set ' +
		'BRIG_NODE_ADDON); tried ' + tried.join(', '));
}

const addon = loadAddon();

function brigError(code, message) {
	const err = new Error(message);
	err.code = code;
	return err;
}

const invalid = (message) => brigError('ERR_INVALID_ARG', message);
const consumed = (what) => brigError('ERR_CONSUMED', what + ' was already consumed');

function needName(value, what) {
	if (typeof value !== 'string' || value === '')
		throw invalid(what + ' must be a non-empty string');
	return value;
}

function needSize(value, what) {
	if (!Number.isSafeInteger(value) || value <= 0)
		throw invalid(what + ' must be a positive integer (bytes)');
	return value;
}

function timeout(options, key) {
	const v = options[key];
	if (v === undefined)
		return undefined;
	if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > MAX_TIMEOUT_MS)
		throw invalid(key + ' must be an integer from 1 to ' + MAX_TIMEOUT_MS + ' ms');
	return v;
}

// An event as JSON text; undefined is null.
function eventJson(event) {
	let json;
	try {
		json = JSON.stringify(event === undefined ? null : event);
	} catch (err) {
		throw invalid('the event is not JSON-serializable: ' + err.message);
	}
	if (json === undefined)
		throw invalid('the event is not JSON-serializable: ' + typeof event);
	return json;
}

// Promise rejections from sync validation, for the async methods.
function rejecting(fn) {
	try {
		return fn();
	} catch (err) {
		return Promise.reject(err);
	}
}

/*
 * The host functions of one sandbox, as the addon's dispatcher sees them:
 * dispatch(name, argsJson, done).  Host-module functions get the guest's
 * arguments spread; run()'s functions get the keyword object.
 */
class HostFunctions {
	constructor() {
		this.fns = new Map();
	}

	add(name, callback, spread) {
		if (typeof callback !== 'function')
			throw invalid('the callback of ' + name + ' must be a function');
		this.fns.set(name, { callback, spread });
	}

	names() {
		return [...this.fns.keys()];
	}

	dispatcher() {
		return (name, argsJson, done) => {
			const fn = this.fns.get(name);
			let answered = false;
			const answer = (err, value) => {
				if (answered)
					return;
				answered = true;
				if (err) {
					done(err instanceof Error ? err : new Error(String(err)));
					return;
				}
				let json;
				try {
					json = JSON.stringify(value === undefined ? null : value);
				} catch (e) {
					done(e);
					return;
				}
				done(null, json);
			};
			try {
				const args = JSON.parse(argsJson);
				const value = fn.spread ? fn.callback(...(Array.isArray(args.args) ? args.args : []))
					: fn.callback(args);
				Promise.resolve(value).then((v) => answer(null, v), (e) => answer(e));
			} catch (err) {
				answer(err);
			}
		};
	}
}

class HostModule {
	#proto;
	#name;

	constructor(proto, name) {
		this.#proto = proto;
		this.#name = name;
	}

	get name() {
		return this.#name;
	}

	/** Register fnName(...args) of this module; returns this module. */
	register(fnName, callback) {
		this.#proto.register(this.#name, fnName, callback);
		return this;
	}
}

class SandboxBuilder {
	#consumed = false;
	#heap;
	#stack;
	#inputBuffer;
	#outputBuffer;
	#options = { allowHosts: [], mounts: [], limits: {} };

	#set(fn) {
		if (this.#consumed)
			throw consumed('SandboxBuilder');
		fn();
		return this;
	}

	/** Guest heap: the sandbox's memory is this plus what node itself needs. */
	setHeapSize(bytes) {
		return this.#set(() => { this.#heap = needSize(bytes, 'heap size'); });
	}

	/** V8's stack (brig_limits.stack_bytes): 64 KiB to 7 MiB; Python ignores it. */
	setStackSize(bytes) {
		return this.#set(() => { this.#stack = needSize(bytes, 'stack size'); });
	}

	setScratchSize(bytes) {
		return this.#set(() => { this.#stack = needSize(bytes, 'scratch size'); });
	}

	/** The largest event callHandler sends (its JSON, bytes). */
	setInputBufferSize(bytes) {
		return this.#set(() => { this.#inputBuffer = needSize(bytes, 'input buffer size'); });
	}

	/** The largest result callHandler returns (its JSON, bytes). */
	setOutputBufferSize(bytes) {
		return this.#set(() => { this.#outputBuffer = needSize(bytes, 'output buffer size'); });
	}

	/** Let guest code reach host[:port] over HTTP(S) through `http`. */
	allowHost(hostPort) {
		return this.#set(() => { this.#options.allowHosts.push(needName(hostPort, 'host')); });
	}

	/** Expose hostPath at guestPath to `fs` (mode 'ro', 'rw' or 'rwc'). */
	mount(hostPath, guestPath, mode = 'ro') {
		return this.#set(() => {
			this.#options.mounts.push({ hostPath: needName(hostPath, 'hostPath'),
				guestPath: needName(guestPath, 'guestPath'), mode });
		});
	}

	/** A durable `kv` store in this SQLite file (':memory:' for one in memory). */
	setKv(file) {
		return this.#set(() => { this.#options.kv = needName(file, 'kv'); });
	}

	/** brig limits: wallTimeoutMs, cpuTimeoutMs, memoryBytes, maxPids, maxOutputBytes... */
	setLimits(limits) {
		return this.#set(() => {
			if (limits === null || typeof limits !== 'object')
				throw invalid('limits must be an object');
			Object.assign(this.#options.limits, limits);
		});
	}

	build() {
		return rejecting(() => {
			if (this.#consumed)
				throw consumed('SandboxBuilder');
			this.#consumed = true;
			const options = { ...this.#options, limits: { ...this.#options.limits } };
			if (options.limits.wallTimeoutMs === undefined)
				options.limits.wallTimeoutMs = NO_MONITOR_MS;
			if (this.#heap !== undefined)
				options.limits.memoryBytes = this.#heap + RUNTIME_OVERHEAD_BYTES;
			if (this.#stack !== undefined)
				options.limits.stackBytes = this.#stack;
			const config = { options, inputBufferSize: this.#inputBuffer,
				outputBufferSize: this.#outputBuffer };
			return Promise.resolve(new ProtoJSSandbox(config));
		});
	}
}

class ProtoJSSandbox {
	#consumed = false;
	#config;
	#host = new HostFunctions();

	constructor(config) {
		this.#config = config;
	}

	/** The host module `name`, which guest code imports as "host:name". */
	hostModule(name) {
		if (this.#consumed)
			throw consumed('ProtoJSSandbox');
		needName(name, 'module name');
		if (!/^[\w$-]+$/.test(name))
			throw invalid('module name may hold letters, digits, _, $ and - only');
		return new HostModule(this, name);
	}

	/** register(module, fnName, callback): callback(...args) may be async. */
	register(module, fnName, callback) {
		this.hostModule(module);
		needName(fnName, 'function name');
		if (!/^[\w$]+$/.test(fnName))
			throw invalid('function name may hold letters, digits, _ and $ only');
		this.#host.add(module + '.' + fnName, callback, true);
		return this;
	}

	/** Start the sandbox's runtime: JavaScript, or {lang: 'python'}. */
	loadRuntime(options = {}) {
		return rejecting(() => {
			if (this.#consumed)
				throw consumed('ProtoJSSandbox');
			const lang = options && options.lang !== undefined ? options.lang : 'js';
			if (lang !== 'js' && lang !== 'python')
				throw invalid('lang must be js or python');
			this.#consumed = true;
			const runtime = new Runtime(this.#config,
				{ ...this.#config.options, lang, functions: this.#host.names() },
				this.#host.dispatcher());
			return runtime.start().then((handle) => new JSSandbox(handle, runtime));
		});
	}
}

/*
 * What a sandbox's objects share: its options and host functions, and the
 * handlers added so far, from which unload() rebuilds a poisoned sandbox.
 */
class Runtime {
	constructor(config, options, dispatch) {
		this.config = config;
		this.options = options;
		this.dispatch = dispatch;
		this.handlers = new Map();
	}

	start() {
		return addon.sessionNew(this.options, this.dispatch);
	}

	/* A fresh sandbox in place of a killed one, with the same handlers. */
	async restart(old) {
		await addon.close(old).catch(() => {});
		const handle = await this.start();
		for (const [name, code] of this.handlers)
			addon.addHandler(handle, name, code);
		return handle;
	}
}

class JSSandbox {
	#consumed = false;
	#handle;
	#runtime;

	constructor(handle, runtime) {
		this.#handle = handle;
		this.#runtime = runtime;
	}

	#live() {
		if (this.#consumed)
			throw consumed('JSSandbox');
		return this.#handle;
	}

	/** Add (or replace) the handler `name`: code defining function handler(event). */
	addHandler(name, code) {
		const h = this.#live();
		needName(name, 'handler name');
		if (typeof code !== 'string' || code === '')
			throw invalid('handler code must be a non-empty string');
		addon.addHandler(h, name, code);
		this.#runtime.handlers.set(name, code);
	}

	removeHandler(name) {
		addon.removeHandler(this.#live(), needName(name, 'handler name'));
		this.#runtime.handlers.delete(name);
	}

	clearHandlers() {
		addon.clearHandlers(this.#live());
		this.#runtime.handlers.clear();
	}

	/** Evaluate the handlers; the JSSandbox is consumed. */
	getLoadedSandbox() {
		return rejecting(() => {
			const h = this.#live();
			this.#consumed = true;
			return addon.load(h).then(() => new LoadedJSSandbox(h, this.#runtime), (err) => {
				this.#consumed = false;
				throw err;
			});
		});
	}

	/** End the sandbox now rather than when it is garbage collected. */
	close() {
		return rejecting(() => {
			const h = this.#live();
			this.#consumed = true;
			return addon.close(h);
		});
	}
}

class InterruptHandle {
	#handle;

	constructor(handle) {
		this.#handle = handle;
	}

	/** Kill the handler running now (the sandbox becomes poisoned); else nothing. */
	kill() {
		try {
			addon.interrupt(this.#handle);
		} catch (err) {
			if (err.code !== 'ERR_CONSUMED')
				throw err;
		}
	}
}

class Snapshot {
	constructor(handle) {
		Object.defineProperty(this, 'handle', { value: handle });
	}
}

class LoadedJSSandbox {
	#consumed = false;
	#handle;
	#runtime;
	#config;
	#interrupt;

	constructor(handle, runtime) {
		this.#handle = handle;
		this.#runtime = runtime;
		this.#config = runtime.config;
		this.#interrupt = new InterruptHandle(handle);
	}

	#live() {
		if (this.#consumed)
			throw consumed('LoadedJSSandbox');
		return this.#handle;
	}

	/**
	 * Call handler `name` with a JSON-able event.  options: wallClockTimeoutMs
	 * and cpuTimeoutMs (whichever fires first ends the call; at most
	 * MAX_TIMEOUT_MS), gc (default true).
	 */
	callHandler(name, event, options) {
		return rejecting(() => {
			const h = this.#live();
			needName(name, 'handler name');
			const opts = {};
			if (options !== undefined && options !== null) {
				if (typeof options !== 'object')
					throw invalid('options must be an object');
				opts.wallClockTimeoutMs = timeout(options, 'wallClockTimeoutMs');
				opts.cpuTimeoutMs = timeout(options, 'cpuTimeoutMs');
				if (options.gc !== undefined && typeof options.gc !== 'boolean')
					throw invalid('gc must be a boolean');
				opts.gc = options.gc;
			}
			const json = eventJson(event);
			const limit = this.#config.inputBufferSize;
			if (limit !== undefined && Buffer.byteLength(json) > limit)
				throw invalid('the event exceeds the input buffer size (' + limit + ' bytes)');
			return addon.callHandler(h, name, json, opts).then((result) => {
				const max = this.#config.outputBufferSize;
				if (max !== undefined && Buffer.byteLength(result) > max) {
					throw brigError('ERR_GUEST_ABORT',
						'the result exceeds the output buffer size (' + max + ' bytes)');
				}
				return JSON.parse(result);
			});
		});
	}

	/**
	 * Drop the loaded handlers; resolves to a JSSandbox to change them.  A
	 * poisoned sandbox is replaced by a fresh one with the same handlers
	 * (its state and snapshots are gone).
	 */
	unload() {
		return rejecting(() => {
			const h = this.#live();
			this.#consumed = true;
			const fresh = addon.poisoned(h) ? this.#runtime.restart(h)
				: addon.unload(h).then(() => h);
			return fresh.then((handle) => new JSSandbox(handle, this.#runtime), (err) => {
				this.#consumed = false;
				throw err;
			});
		});
	}

	snapshot() {
		return rejecting(() => addon.snapshot(this.#live()).then((s) => new Snapshot(s)));
	}

	restore(snapshot) {
		return rejecting(() => {
			const h = this.#live();
			if (!(snapshot instanceof Snapshot))
				throw invalid('restore needs a Snapshot of this sandbox');
			return addon.restore(h, snapshot.handle);
		});
	}

	get poisoned() {
		return addon.poisoned(this.#live());
	}

	get interruptHandle() {
		return this.#interrupt;
	}

	/** End the sandbox now rather than when it is garbage collected. */
	close() {
		return rejecting(() => {
			const h = this.#live();
			this.#consumed = true;
			return addon.close(h);
		});
	}
}

// ---------------------------------------------------------------- run()

function runOptions(options) {
	const o = options || {};
	const opts = { lang: o.lang === undefined ? 'python' : o.lang, limits: {} };
	if (typeof opts.lang !== 'string')
		throw invalid('lang must be python, js or sh');
	const limit = (key, to) => {
		if (o[key] !== undefined) {
			if (!Number.isSafeInteger(o[key]) || o[key] <= 0)
				throw invalid(key + ' must be a positive integer');
			opts.limits[to] = o[key];
		}
	};
	limit('timeoutMs', 'wallTimeoutMs');
	limit('cpuTimeoutMs', 'cpuTimeoutMs');
	limit('memory', 'memoryBytes');
	limit('maxPids', 'maxPids');
	limit('maxOutputBytes', 'maxOutputBytes');
	if (o.allowHosts !== undefined)
		opts.allowHosts = [...o.allowHosts];
	if (o.mounts !== undefined)
		opts.mounts = o.mounts.map((m) => ({ hostPath: m.hostPath, guestPath: m.guestPath, mode: m.mode }));
	if (o.kv !== undefined)
		opts.kv = o.kv;
	if (o.stdin !== undefined) {
		if (typeof o.stdin !== 'string')
			throw invalid('stdin must be a string');
		opts.stdin = o.stdin;
	}
	return opts;
}

/**
 * Run code once in a fresh sandbox.  Resolves to the C API's result
 * (ok, error, message, exit_code, stdout, stderr, limit, wall_ms...).
 */
function run(code, options) {
	return rejecting(() => {
		if (typeof code !== 'string')
			throw invalid('code must be a string');
		const opts = runOptions(options);
		const o = options || {};
		const host = new HostFunctions();
		for (const [name, fn] of Object.entries(o.functions || {}))
			host.add(needName(name, 'function name'), fn, false);
		opts.functions = host.names();
		const sinks = [null, o.onStdout, o.onStderr];
		for (const s of [1, 2]) {
			if (sinks[s] !== undefined && typeof sinks[s] !== 'function')
				throw invalid((s === 1 ? 'onStdout' : 'onStderr') + ' must be a function');
		}
		const decoders = [null, new StringDecoder('utf8'), new StringDecoder('utf8')];
		const onOutput = sinks[1] || sinks[2] ? (stream, bytes) => {
			if (sinks[stream])
				sinks[stream](decoders[stream].write(bytes));
		} : null;
		return addon.run(opts, code, host.names().length ? host.dispatcher() : null, onOutput)
			.then((json) => {
				for (const s of [1, 2]) {
					const rest = decoders[s].end();
					if (rest && sinks[s])
						sinks[s](rest);
				}
				return JSON.parse(json);
			});
	});
}

module.exports = {
	SandboxBuilder,
	ProtoJSSandbox,
	HostModule,
	JSSandbox,
	LoadedJSSandbox,
	InterruptHandle,
	Snapshot,
	run,
	MAX_TIMEOUT_MS,
	version: addon.version,
};
