// The guest API as user code sees it: http, fs, kv, call, asyncCall,
// runAsync, time_now, console, timers and a few web globals.
//
// agent.js compiles this file inside the user's vm context and calls it with
// the bridge to the control channel, and the names to define (those user code
// has not taken for itself), so everything it creates belongs to the
// user's realm: `instanceof Error`, `instanceof Uint8Array` and
// `Array.isArray` hold for what it returns.  It copies the built-ins it uses
// into locals first: user code may replace the globals, and on node without
// DONT_CONTEXTIFY global lookups in a vm context are slow.
//
// It runs the first time user code touches one of its globals, so a run
// that uses none does not pay for compiling it.
//
// The types are in brig.d.ts.

(function guestApi(bridge, names) {
	'use strict';
	const {
		Object, Array, JSON, Error, TypeError, RangeError, EvalError, ReferenceError, SyntaxError,
		URIError, Promise, Uint8Array, ArrayBuffer, DataView, Symbol, String, Number, Boolean,
		BigInt, Map, Set, Date, RegExp,
	} = globalThis;
	const G = globalThis;

	const define = (obj, name, value) =>
		Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });

	// Node-style codes for the host's error types.
	const CODES = {
		PermissionError: 'EACCES', FileNotFoundError: 'ENOENT', IsADirectoryError: 'EISDIR',
		NotADirectoryError: 'ENOTDIR', FileExistsError: 'EEXIST', TimeoutError: 'ETIMEDOUT',
		ValueError: 'EINVAL', MemoryError: 'ENOMEM', OSError: 'EIO', KeyError: 'ENOENT',
	};

	// One Error subclass per host error type, so that errors print as
	// "PermissionError: ..." and still are `instanceof Error`.
	const errorClasses = new Map();
	function errorClass(name) {
		let C = errorClasses.get(name);
		if (!C) {
			C = { [name]: class extends Error {} }[name];
			define(C.prototype, 'name', name);
			errorClasses.set(name, C);
		}
		return C;
	}

	function hostError(err, type, message) {
		const name = typeof type === 'string' && /^[A-Za-z]\w*$/.test(type) ? type : 'Error';
		if (name !== 'Error')
			Object.setPrototypeOf(err, errorClass(name).prototype);
		define(err, 'message', typeof message === 'string' ? message : 'host call failed');
		err.code = CODES[name] || 'ERR_BRIG_HOST';
		return err;
	}

	// An error thrown by the agent (another realm) as one of this realm's.
	function adopt(e) {
		if (e !== null && typeof e === 'object' && typeof e.message === 'string') {
			const ctor = { TypeError, RangeError, SyntaxError }[e.name] || Error;
			const err = new ctor(e.message);
			if (e.code !== undefined)
				err.code = String(e.code);
			if (ctor === Error && typeof e.name === 'string')
				err.name = e.name;
			return err;
		}
		return e;
	}

	function guard(fn) {
		try {
			return fn();
		} catch (e) {
			throw adopt(e);
		}
	}

	function bytes(blob) {
		const u = new Uint8Array(blob.length);
		u.set(blob);
		return u;
	}

	function unpack(json, blob, err) {
		const msg = JSON.parse(json);
		if (msg.error !== undefined) {
			const e = msg.error || {};
			throw hostError(err || new Error(), e.type, e.message);
		}
		return [msg.ok === undefined ? null : msg.ok, blob];
	}

	function callSync(fn, args, blob) {
		let reply;
		try {
			reply = bridge.call(fn, bridge.json(args), blob);
		} catch (e) {
			throw adopt(e);
		}
		return unpack(reply[0], reply[1], null);
	}

	// The error is made here so that its stack shows the caller's line.
	function callAsync(fn, args, blob) {
		const err = new Error();
		return new Promise((resolve, reject) => {
			guard(() => bridge.post(fn, bridge.json(args), blob, (json, rblob) => {
				try {
					resolve(unpack(json, rblob, err));
				} catch (e) {
					reject(e);
				}
			}));
		});
	}

	function asyncOf(fn) {
		return function (...args) {
			try {
				return fn(...args);
			} catch (e) {
				return Promise.reject(e);
			}
		};
	}

	function needString(value, what) {
		if (typeof value !== 'string')
			throw new TypeError(what + ' must be a string');
		return value;
	}

	function toBlob(x, what) {
		const b = guard(() => bridge.toBlob(x));
		if (b === undefined)
			throw new TypeError(what + ' must be a string, Uint8Array, ArrayBuffer or DataView');
		return b;
	}

	// ---------------------------------------------------------------- call

	function callArgs(name, args) {
		needString(name, 'name');
		if (args === undefined || args === null)
			args = {};
		if (typeof args !== 'object' || Array.isArray(args))
			throw new TypeError('args must be an object');
		return { name, args };
	}

	function call(name, args) {
		return callSync('call', callArgs(name, args), null)[0];
	}

	const asyncCall = asyncOf((name, args) =>
		callAsync('call', callArgs(name, args), null).then((r) => r[0]));

	// ---------------------------------------------------------------- http

	const kBlob = Symbol('body');

	class Response {
		constructor(meta, blob) {
			this.statusCode = Number(meta.status) || 0;
			this.ok = this.statusCode >= 200 && this.statusCode < 300;
			this.headers = meta.headers && typeof meta.headers === 'object' ? meta.headers : {};
			this.url = typeof meta.url === 'string' ? meta.url : '';
			Object.defineProperty(this, kBlob, { value: blob });
		}

		get status() {
			return this.statusCode;
		}

		get bytes() {
			const b = bytes(this[kBlob]);
			Object.defineProperty(this, 'bytes', { value: b, enumerable: false, configurable: true });
			return b;
		}

		get text() {
			const ctype = String(this.headers['content-type'] || '');
			const m = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(ctype);
			const t = bridge.decode(this[kBlob], m ? m[1] : '');
			Object.defineProperty(this, 'text', { value: t, enumerable: false, configurable: true });
			return t;
		}

		json() {
			return JSON.parse(this.text);
		}

		get [Symbol.toStringTag]() {
			return 'Response';
		}
	}

	function httpPlan(method, url, opts) {
		needString(method, 'method');
		needString(url, 'url');
		if (opts === undefined || opts === null)
			opts = {};
		if (typeof opts !== 'object')
			throw new TypeError('options must be an object');
		const headers = {};
		if (opts.headers !== undefined && opts.headers !== null) {
			if (typeof opts.headers !== 'object')
				throw new TypeError('headers must be an object');
			for (const k of Object.keys(opts.headers))
				headers[k] = String(opts.headers[k]);
		}
		let body = opts.body;
		if (opts.json !== undefined) {
			body = JSON.stringify(opts.json);
			if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type'))
				headers['Content-Type'] = 'application/json';
		}
		return [{ method: method.toUpperCase(), url, headers }, toBlob(body, 'body')];
	}

	function request(method, url, opts) {
		const [args, blob] = httpPlan(method, url, opts);
		const [meta, rblob] = callSync('http.request', args, blob);
		return new Response(meta || {}, rblob);
	}

	const asyncRequest = asyncOf((method, url, opts) => {
		const [args, blob] = httpPlan(method, url, opts);
		return callAsync('http.request', args, blob).then((r) => new Response(r[0] || {}, r[1]));
	});

	const http = { request, asyncRequest, Response };
	for (const m of ['get', 'post', 'put', 'patch', 'delete', 'head', 'options']) {
		const M = m.toUpperCase();
		const cap = 'async' + m[0].toUpperCase() + m.slice(1);
		http[m] = { [m]: (url, opts) => request(M, url, opts) }[m];
		http[cap] = { [cap]: (url, opts) => asyncRequest(M, url, opts) }[cap];
	}

	// ------------------------------------------------------------------ fs

	const p = (path) => ({ path: needString(path, 'path') });
	const text = (data, what) => needString(data, what);
	const jsonText = (data, indent) => {
		const s = JSON.stringify(data, null, indent === undefined || indent === null ? undefined : indent);
		if (s === undefined)
			throw new TypeError('value is not JSON-serializable');
		return s;
	};

	const fs = {
		readBytes: (path) => bytes(callSync('fs.read', p(path), null)[1]),
		readText: (path) => bridge.utf8(callSync('fs.read', p(path), null)[1]),
		readJson: (path) => JSON.parse(bridge.utf8(callSync('fs.read', p(path), null)[1])),
		writeBytes(path, data) {
			if (typeof data === 'string')
				throw new TypeError('data must be a Uint8Array, ArrayBuffer or DataView');
			callSync('fs.write', p(path), toBlob(data, 'data'));
		},
		writeText(path, data) {
			callSync('fs.write', p(path), toBlob(text(data, 'text'), 'text'));
		},
		writeJson(path, data, indent) {
			callSync('fs.write', p(path), bridge.encode(jsonText(data, indent)));
		},
		listdir: (path) => callSync('fs.listdir', p(path), null)[0],
		exists: (path) => callSync('fs.exists', p(path), null)[0] === true,
		stat: (path) => callSync('fs.stat', p(path), null)[0],
		mkdir(path) {
			callSync('fs.mkdir', p(path), null);
		},
		remove(path) {
			callSync('fs.remove', p(path), null);
		},
		asyncReadBytes: asyncOf((path) => callAsync('fs.read', p(path), null).then((r) => bytes(r[1]))),
		asyncReadText: asyncOf((path) => callAsync('fs.read', p(path), null).then((r) => bridge.utf8(r[1]))),
		asyncReadJson: asyncOf((path) =>
			callAsync('fs.read', p(path), null).then((r) => JSON.parse(bridge.utf8(r[1])))),
		asyncWriteBytes: asyncOf((path, data) => {
			if (typeof data === 'string')
				throw new TypeError('data must be a Uint8Array, ArrayBuffer or DataView');
			return callAsync('fs.write', p(path), toBlob(data, 'data')).then(() => undefined);
		}),
		asyncWriteText: asyncOf((path, data) =>
			callAsync('fs.write', p(path), toBlob(text(data, 'text'), 'text')).then(() => undefined)),
		asyncWriteJson: asyncOf((path, data, indent) =>
			callAsync('fs.write', p(path), bridge.encode(jsonText(data, indent))).then(() => undefined)),
		asyncListdir: asyncOf((path) => callAsync('fs.listdir', p(path), null).then((r) => r[0])),
		asyncExists: asyncOf((path) => callAsync('fs.exists', p(path), null).then((r) => r[0] === true)),
		asyncStat: asyncOf((path) => callAsync('fs.stat', p(path), null).then((r) => r[0])),
		asyncMkdir: asyncOf((path) => callAsync('fs.mkdir', p(path), null).then(() => undefined)),
		asyncRemove: asyncOf((path) => callAsync('fs.remove', p(path), null).then(() => undefined)),
	};

	// ------------------------------------------------------------------ kv

	const key = (k) => ({ key: needString(k, 'key') });
	const kvSet = (k, value) => {
		if (typeof value === 'function' || typeof value === 'symbol')
			throw new TypeError('value is not JSON-serializable');
		return { key: needString(k, 'key'), value: value === undefined ? null : value };
	};
	const found = (r, dflt) => (r && r.found ? r.value : dflt === undefined ? null : dflt);

	const kv = {
		get: (k, dflt) => found(callSync('kv.get', key(k), null)[0], dflt),
		set(k, value) {
			callSync('kv.set', kvSet(k, value), null);
		},
		delete: (k) => callSync('kv.delete', key(k), null)[0] === true,
		keys: () => callSync('kv.keys', {}, null)[0],
		asyncGet: asyncOf((k, dflt) => callAsync('kv.get', key(k), null).then((r) => found(r[0], dflt))),
		asyncSet: asyncOf((k, value) => callAsync('kv.set', kvSet(k, value), null).then(() => undefined)),
		asyncDelete: asyncOf((k) => callAsync('kv.delete', key(k), null).then((r) => r[0] === true)),
		asyncKeys: asyncOf(() => callAsync('kv.keys', {}, null).then((r) => r[0])),
	};

	// ---------------------------------------------------------- the rest

	function runAsync(...promises) {
		if (promises.length === 1 && Array.isArray(promises[0]))
			return Promise.all(promises[0]);
		return Promise.all(promises);
	}

	const time_now = () => Date.now() / 1000;

	// console: node's Console behind context-realm functions.
	const console = {};
	for (const m of ['log', 'info', 'debug', 'warn', 'error', 'dir', 'dirxml', 'table', 'assert',
		'count', 'countReset', 'group', 'groupCollapsed', 'groupEnd', 'time', 'timeEnd',
		'timeLog', 'clear']) {
		console[m] = {
			[m](...args) {
				guard(() => bridge.console(m, args));
			},
		}[m];
	}
	console.trace = function trace(...args) {
		const e = { name: 'Trace', message: bridge.format(args) };
		Error.captureStackTrace(e, trace);
		bridge.write(2, e.stack + '\n');
	};

	// Timers, wrapped so that what user code holds is of its own realm.
	class Timeout {
		#t;

		constructor(t) {
			this.#t = t;
		}

		static unwrap(x) {
			return x !== null && typeof x === 'object' && #t in x ? x.#t : x;
		}

		ref() {
			this.#t.ref();
			return this;
		}

		unref() {
			this.#t.unref();
			return this;
		}

		hasRef() {
			return this.#t.hasRef();
		}

		refresh() {
			if (this.#t.refresh)
				this.#t.refresh();
			return this;
		}

		[Symbol.toPrimitive]() {
			return this.#t[Symbol.toPrimitive] ? this.#t[Symbol.toPrimitive]() : NaN;
		}
	}

	const needFn = (fn) => {
		if (typeof fn !== 'function')
			throw new TypeError('callback must be a function');
		return fn;
	};
	const timers = {
		setTimeout: (fn, ms, ...args) => new Timeout(bridge.setTimeout(needFn(fn), ms, args)),
		setInterval: (fn, ms, ...args) => new Timeout(bridge.setInterval(needFn(fn), ms, args)),
		setImmediate: (fn, ...args) => new Timeout(bridge.setImmediate(needFn(fn), args)),
		clearTimeout: (t) => bridge.clearTimeout(Timeout.unwrap(t)),
		clearInterval: (t) => bridge.clearTimeout(Timeout.unwrap(t)),
		clearImmediate: (t) => bridge.clearImmediate(Timeout.unwrap(t)),
		queueMicrotask: (fn) => bridge.queueMicrotask(needFn(fn)),
	};

	// TextEncoder / TextDecoder handing out this realm's Uint8Arrays.
	class TextEncoder {
		get encoding() {
			return 'utf-8';
		}

		encode(s = '') {
			return bytes(bridge.encode(String(s)));
		}

		encodeInto(s, u) {
			const r = guard(() => bridge.encodeInto(String(s), u));
			return { read: r[0], written: r[1] };
		}
	}

	class TextDecoder {
		#d;

		constructor(label = 'utf-8', options = {}) {
			const o = options || {};
			this.#d = guard(() => bridge.textDecoder(String(label), !!o.fatal, !!o.ignoreBOM));
		}

		get encoding() {
			return this.#d.encoding;
		}

		get fatal() {
			return this.#d.fatal;
		}

		get ignoreBOM() {
			return this.#d.ignoreBOM;
		}

		decode(input, options) {
			const stream = !!(options && options.stream);
			return guard(() => this.#d.decode(input, { stream }));
		}
	}

	// structuredClone that builds the copy in this realm.
	function structuredClone(value) {
		const types = bridge.types();
		const seen = new Map();
		const fail = (what) => {
			const e = new Error(what + ' could not be cloned.');
			e.name = 'DataCloneError';
			return e;
		};
		const TYPED = { Int8Array: 1, Uint8Array: 1, Uint8ClampedArray: 1, Int16Array: 1, Uint16Array: 1,
			Int32Array: 1, Uint32Array: 1, Float32Array: 1, Float64Array: 1, BigInt64Array: 1,
			BigUint64Array: 1 };
		const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
		const typedArrayTag = Object.getOwnPropertyDescriptor(
			Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
		const buffer = (b) => {
			if (seen.has(b))
				return seen.get(b);
			const c = new ArrayBuffer(b.byteLength);
			new Uint8Array(c).set(new Uint8Array(b));
			seen.set(b, c);
			return c;
		};
		const special = (v) => {
			if (types.isTypedArray(v)) {
				const name = typedArrayTag.call(v);
				return new G[TYPED[name] ? name : 'Uint8Array'](buffer(v.buffer), v.byteOffset, v.length);
			}
			if (types.isDataView(v))
				return new DataView(buffer(v.buffer), v.byteOffset, v.byteLength);
			if (types.isDate(v))
				return new Date(Date.prototype.getTime.call(v));
			if (types.isRegExp(v))
				return new RegExp(v.source, v.flags);
			if (types.isSymbolObject(v))
				throw fail('Symbol');
			if (types.isNumberObject(v))
				return Object(Number.prototype.valueOf.call(v));
			if (types.isStringObject(v))
				return Object(String.prototype.valueOf.call(v));
			if (types.isBooleanObject(v))
				return Object(Boolean.prototype.valueOf.call(v));
			if (types.isBigIntObject(v))
				return Object(BigInt.prototype.valueOf.call(v));
			if (types.isPromise(v) || types.isWeakMap(v) || types.isWeakSet(v) || types.isProxy(v))
				throw fail('#<Object>');
			return null;
		};
		// Containers are registered before their contents, for cycles.
		const clone = (v) => {
			if (typeof v === 'function' || typeof v === 'symbol')
				throw fail(typeof v === 'symbol' ? 'Symbol()' : String(v.name || 'function'));
			if (typeof v !== 'object' || v === null)
				return v;
			if (seen.has(v))
				return seen.get(v);
			if (types.isArrayBuffer(v))
				return buffer(v);
			if (types.isSharedArrayBuffer(v))
				return v;
			let out = special(v);
			if (out !== null) {
				seen.set(v, out);
				return out;
			}
			if (types.isMap(v)) {
				seen.set(v, out = new Map());
				for (const [k, x] of Map.prototype.entries.call(v))
					out.set(clone(k), clone(x));
			} else if (types.isSet(v)) {
				seen.set(v, out = new Set());
				for (const x of Set.prototype.values.call(v))
					out.add(clone(x));
			} else if (types.isNativeError(v)) {
				seen.set(v, out = new (ERRORS[v.name] || Error)(String(v.message)));
				if (typeof v.stack === 'string')
					define(out, 'stack', v.stack);
				if ('cause' in v)
					define(out, 'cause', clone(v.cause));
			} else {
				seen.set(v, out = Array.isArray(v) ? new Array(v.length) : {});
				for (const k of Object.keys(v))
					out[k] = clone(v[k]);
			}
			return out;
		};
		return clone(value);
	}

	const crypto = {
		getRandomValues(a) {
			guard(() => bridge.getRandomValues(a));
			return a;
		},
		randomUUID: () => bridge.randomUUID(),
		get subtle() {
			return bridge.webcrypto().subtle;
		},
	};

	// agent.js lists these names too (API_NAMES), to install them lazily.
	const api = {
		http, fs, kv, call, asyncCall, runAsync, time_now, console, structuredClone,
		TextEncoder, TextDecoder, crypto, ...timers,
		atob: (s) => guard(() => bridge.atob(s)),
		btoa: (s) => guard(() => bridge.btoa(s)),
	};
	for (const name of names)
		define(G, name, api[name]);
})
