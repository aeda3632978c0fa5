'use strict';
// Session mode (docs/PROTOCOL.md, "Sessions"): agent.js hands over when the
// first frame is a REQ, and this serves requests one at a time until the
// host kills the sandbox.
//
// Cells (exec) run as scripts in one vm context that lives as long as the
// session, with the same globals as a run (agent.js, api.js).  So var and
// function declarations, globalThis properties and also top-level let, const
// and class persist from one cell to the next: a script's lexical
// declarations live in its context's global scope.  As in node's REPL, a
// let or const whose cell threw before initialising it stays declared but
// unusable, and declaring a name again is an error.
//
// A cell with top-level await, or a single-file ES module, runs as the body
// of an async function (agent.js, compileUser), so its own declarations stay
// local to the cell: assign to globalThis to keep a value.  The cell ends
// when that function's promise settles, or fails when nothing is left that
// could settle it (the event loop ran dry); timers it leaves behind run
// whenever the agent next turns the event loop (see below).
//
// In "single" (REPL) mode the value of a cell that is one expression, awaited
// or not, is printed with util.inspect and kept in the global `_`; undefined
// prints nothing and leaves `_` alone.  Code that starts with `{` is tried as
// an object literal first, as node's REPL does.  There is no exit: the
// session ends when the host ends it.
//
// Handlers (load) are compiled in the same context, each as the body of a
// function of its own: like a module, a handler's code has its own top-level
// scope and shares only globalThis with the cells and other handlers.  It may
// use top-level await or `export function handler`.  A call with gc runs a
// full collection afterwards if the heap grew by 4 MiB since the last one:
// gc() comes from a context made, on first use, while --expose-gc is set, so
// that user code never sees it.
//
// Snapshots fork this process (snapshot.js).  Every copy a restore revives
// must draw its own random numbers, and V8 offers no way to reseed
// Math.random: the context's Math.random is therefore replaced with one
// that draws on the system's generator (crypto.randomFillSync, which
// OpenSSL reseeds in a forked child), through a buffer a revived copy drops.
//
// A break (SIGINT) stops a running cell's script (vm's breakOnSigint) or its
// await, and the cell fails with ERR_SCRIPT_EXECUTION_INTERRUPTED; the
// session carries on.  Synchronous code that a handler or an awaited
// continuation runs cannot be stopped that way: only the host's kill ends it.
//
// Between requests the agent blocks reading the channel, exactly as a
// blocking host call does, so the event loop never reads it at that time.
// Before each answer it turns the event loop once, so that rejections nobody
// handled and a break that came late are dealt with inside the call.

const vm = require('vm');

const REQ = 5;
const DONE = 6;
// How much a call may grow the heap before the collection after it is a full one.
const GC_GROWTH = 4 << 20;

let v8Module = null;

function heapUsed() {
	return (v8Module || (v8Module = require('v8'))).getHeapStatistics().used_heap_size;
}

class Session {
	constructor(kit) {
		this.kit = kit;
		this.ch = kit.ch;
		this.ch.requests = [];
		this.context = kit.makeContext();
		kit.installLazyGlobals(this.context, this.ch);
		this.ctx = this.context.ctx;
		// The context's JSON, taken before user code can replace it: events
		// are this realm's values, as everything else user code sees.
		this.json = vm.runInContext('JSON', this.ctx);
		this.parse = this.json.parse;
		this.cells = 0;
		this.handlers = new Map();
		this.collect = undefined; // the gc function, made on first use
		this.pending = null; // rejects the promise a call is waiting for
		this.inspect = null;
		this.snapshots = 0;
		this.reseed = kit.installRandom(this.ctx);
	}

	// ---------------------------------------------------------- helpers

	// Print err as an uncaught error and describe it for the answer.
	failed(err, filename) {
		if (isInterrupt(err)) {
			this.kit.writeAll(2, 'Error [' + err.code + ']: ' + err.message + '\n');
			return { error: { type: 'Interrupted', message: err.message } };
		}
		if (OWN.has(err))
			this.kit.writeAll(2, 'Error: ' + err.message + '\n');
		else
			this.report(err, filename);
		return { error: errorFields(err, this.format.bind(this)) };
	}

	report(err, filename) {
		this.kit.flagLimit(this.ch, err);
		this.kit.writeAll(2, this.kit.describe(err, filename) + '\n');
	}

	format(value) {
		if (!this.inspect)
			this.inspect = require('util').inspect;
		return this.inspect(value);
	}

	// Wait for a promise of user code; a break or a dead end rejects it.
	wait(value) {
		return new Promise((resolve, reject) => {
			this.pending = reject;
			Promise.resolve(value).then(resolve, reject);
		}).finally(() => {
			this.pending = null;
		});
	}

	// SIGINT: what a break sends.
	interrupt() {
		if (this.pending)
			this.pending(interrupted());
	}

	// The event loop ran dry while a call was waiting: nothing can settle it.
	stranded() {
		if (this.pending)
			this.pending(own(new Error('the code awaits a promise that nothing is left to settle')));
	}

	/*
	 * After a call: a full collection, when the heap grew by GC_GROWTH since
	 * the last one (or always, with force).  One costs milliseconds, and in a
	 * snapshot's copy it would copy every page it marks; V8 collects
	 * short-lived garbage on its own.
	 */
	gc(force) {
		this.makeGc();
		if (typeof this.collect !== 'function')
			return;
		if (!force && heapUsed() < this.gcBase + GC_GROWTH)
			return;
		this.collect();
		this.gcBase = heapUsed();
	}

	// A snapshot's spare (snapshot.js), before it stops: its own random
	// numbers, and a dry run of what it does once woken.
	ready(files) {
		this.reseed();
		this.rehearse(files);
	}

	/*
	 * Read a restore request, check the files, answer, serve a call: without
	 * their effects.  In a fork every first write to a page copies it, and
	 * code run for the first time compiles: both happen now rather than
	 * while the restore waits.
	 */
	rehearse(files) {
		const text = Buffer.from(JSON.stringify({ op: 'restore', max_frame: 1 << 20 }));
		const head = Buffer.alloc(8);
		head.writeUInt32LE(1, 0);
		head.writeUInt32LE(text.length, 4);
		parseRequest({ type: REQ, body: Buffer.concat([head, text]) });
		this.ch.buf.subarray(this.ch.start, this.ch.end).indexOf(Buffer.alloc(32, 0x30));
		files();
		this.ch.frame(DONE, this.ch.answerParts(1, { ok: true, pid: process.pid, loaded: true }));
		const event = Reflect.apply(this.parse, this.json, ['{"a": [1, "b"]}']);
		const out = this.kit.toJson(event);
		this.ch.frame(DONE, this.ch.answerParts(2, { ok: true }, Buffer.from(out, 'utf8')));
		heapUsed();
	}

	makeGc() {
		if (this.collect === undefined) {
			this.gcBase = heapUsed();
			// Only a context made while the flag is set has gc(); the session's
			// own context is made without it, so user code does not see it.
			const v8 = require('v8');
			try {
				v8.setFlagsFromString('--expose-gc');
				this.collect = vm.runInNewContext('gc');
			} catch {
				this.collect = null;
			} finally {
				v8.setFlagsFromString('--no-expose-gc');
			}
		}
	}

	// ------------------------------------------------------ exec, complete

	compileCell(code, filename, single) {
		if (single && /^\s*\{/.test(code) && !/;\s*$/.test(code)) {
			try {
				return { script: new vm.Script('(' + code + '\n)', { filename }), wrapped: false };
			} catch {
				// A block after all.
			}
		}
		if (single && /\bawait\b/.test(code) && !filename.endsWith('.mjs') && !compiles(code)) {
			try {
				const expr = code.replace(/;\s*$/, '');
				const script = this.kit.compileBody(expr, filename, null,
					{ isAsync: true, strict: false, expr: true });
				return { script, wrapped: true, strict: false };
			} catch {
				// Statements: compileUser makes them the body.
			}
		}
		return this.kit.compileUser(code, filename, null);
	}

	async exec(req, blob) {
		this.cells++;
		const filename = typeof req.filename === 'string' && req.filename ? req.filename
			: '<cell ' + this.cells + '>';
		const single = req.mode === 'single';
		let value;
		try {
			const cell = this.compileCell(blob.toString('utf8'), filename, single);
			if (cell.wrapped) {
				const [global, body] = cell.script.runInContext(this.ctx)();
				value = await this.wait(cell.strict ? body() : body.call(global));
			} else {
				value = cell.script.runInContext(this.ctx, { breakOnSigint: true });
			}
		} catch (err) {
			return [this.failed(err, filename)];
		}
		if (single && value !== undefined) {
			try {
				this.kit.writeAll(1, this.format(value) + '\n');
			} catch (err) {
				return [this.failed(err, filename)]; // a Proxy's trap, a getter
			}
			try {
				Reflect.set(this.context.holder, '_', value);
			} catch {
				// User code made `_` its own.
			}
		}
		return [{ ok: true }];
	}

	complete(req, blob) {
		return [{ complete: isComplete(blob.toString('utf8')) }];
	}

	// ------------------------------------------------------------ handlers

	// Run a handler's code in a function scope of its own; returns its handler.
	async define(code, filename) {
		const unit = this.compileHandler(code, filename);
		const [global, body] = unit.script.runInContext(this.ctx)();
		return this.wait(unit.strict ? body() : body.call(global));
	}

	/*
	 * The body ends with a statement that returns the handler.  When the code
	 * does not compile, the error reported is the one without that statement,
	 * which an unclosed block would otherwise swallow.
	 */
	compileHandler(code, filename) {
		const tail = '\n;return typeof handler === "function" ? handler : undefined;';
		const compile = (body, opts) => {
			try {
				return this.kit.compileBody(body + tail, filename, null, opts);
			} catch (err) {
				if (!isSyntaxError(err))
					throw err;
				const plain = syntaxError(code, filename);
				if (!opts.isAsync || (plain && AT_END.has(plain.message)))
					throw plain || err;
				this.kit.compileBody(body, filename, null, opts);
				throw err;
			}
		};
		try {
			return { script: compile(code, { isAsync: false, strict: false }), strict: false };
		} catch (err) {
			const esm = require('./esm.js');
			const hits = isSyntaxError(err) ? esm.topLevelModuleSyntax(code) : [];
			if (hits.length) {
				const decls = [];
				const body = esm.stripExports(code, hits, filename, decls);
				const prelude = esm.metaDeclaration(filename) + esm.hostDeclarations(decls);
				return { script: compile(body, { isAsync: true, strict: true, prelude }), strict: true };
			}
			if (isSyntaxError(err) && /\bawait\b/.test(code))
				return { script: compile(code, { isAsync: true, strict: false }), strict: false };
			throw err;
		}
	}

	async load(req) {
		const loaded = new Map();
		for (const item of Array.isArray(req.handlers) ? req.handlers : []) {
			const name = String(item.name);
			const filename = '<handler ' + name + '>';
			let fn;
			try {
				fn = await this.define(String(item.code), filename);
			} catch (err) {
				return [this.failed(err, filename)];
			}
			if (typeof fn !== 'function') {
				return [{ error: { type: 'TypeError',
					message: name + ' does not define function handler(event)' } }];
			}
			loaded.set(name, fn);
		}
		this.handlers = loaded;
		return [{ ok: true }];
	}

	unload() {
		this.handlers = new Map();
		this.gc(true);
		return [{ ok: true }];
	}

	async call(req, blob) {
		const name = req.name;
		const fn = typeof name === 'string' ? this.handlers.get(name) : undefined;
		if (!fn)
			return [{ error: { type: 'NotFound', message: 'no handler ' + JSON.stringify(name) } }];
		let out;
		try {
			let result = fn(Reflect.apply(this.parse, this.json, [blob.toString('utf8')]));
			if (isThenable(result))
				result = await this.wait(result);
			out = this.kit.toJson(result);
			if (out !== undefined)
				this.ch.checkFrame(9 + 64 + Buffer.byteLength(out));
		} catch (err) {
			const answer = this.failed(err, '<handler ' + name + '>');
			if (isStackOverflow(err))
				answer.error.type = 'StackOverflow';
			return [answer];
		} finally {
			if (req.gc !== false)
				this.gc();
		}
		return [{ ok: true }, Buffer.from(out === undefined ? 'null' : out, 'utf8')];
	}

	// -------------------------------------------------------- dispatching

	handle(req, blob) {
		switch (req.op) {
		case 'exec':
			return this.exec(req, blob);
		case 'complete':
			return this.complete(req, blob);
		case 'load':
			return this.load(req);
		case 'unload':
			return this.unload();
		case 'call':
			return this.call(req, blob);
		case 'snapshot':
			return snapshots().take(this, req);
		default:
			return [{ error: { type: 'ValueError', message: 'unknown op ' + JSON.stringify(req.op) } }];
		}
	}
}

// ------------------------------------------------------------------ errors

// Errors of the agent's own making: they have no frames of user code.
const OWN = new WeakSet();
const INTERRUPTED = 'ERR_SCRIPT_EXECUTION_INTERRUPTED';

function own(err) {
	OWN.add(err);
	return err;
}

// As vm's breakOnSigint reports a break.
function interrupted() {
	const err = new Error('Script execution was interrupted by `SIGINT`');
	err.code = INTERRUPTED;
	return own(err);
}

// vm makes its error in the context's realm.
function isInterrupt(err) {
	try {
		return isObject(err) && err.code === INTERRUPTED && typeof err.message === 'string';
	} catch {
		return false;
	}
}

function isObject(x) {
	return x !== null && (typeof x === 'object' || typeof x === 'function');
}

function isThenable(x) {
	return isObject(x) && typeof x.then === 'function';
}

function isStackOverflow(err) {
	try {
		return isObject(err) && err.name === 'RangeError' &&
			String(err.message) === 'Maximum call stack size exceeded';
	} catch {
		return false;
	}
}

// The answer's {type, message} for anything thrown.
function errorFields(err, format) {
	let type;
	let message;
	try {
		if (isObject(err)) {
			type = err.name;
			message = err.message;
		}
		if (typeof message !== 'string')
			message = format(err);
	} catch {
		message = 'uncaught exception';
	}
	return { type: typeof type === 'string' && /^\S+$/.test(type) ? type : 'Error', message };
}

// ------------------------------------------------------------ completeness

function isSyntaxError(err) {
	return err !== null && typeof err === 'object' && err.name === 'SyntaxError';
}

function syntaxError(code, filename) {
	try {
		new vm.Script(code, { filename });
		return null;
	} catch (err) {
		return err;
	}
}

function compiles(code) {
	return syntaxError(code) === null;
}

// Errors at the end of the input, which more lines may cure.
const AT_END = new Set(['Unexpected end of input', 'Unterminated template literal']);

/*
 * Errors that may or may not be at the end, with what would finish the input
 * if they are: a comment, a string continued by a backslash (on a new line,
 * so that a string merely left open stays an error), an argument list, a
 * template's substitution.  The error is at the end when adding that changes
 * the error; one further along the input stays as it is.
 */
const CLOSERS = new Map([
	['Invalid or unexpected token', ['*/', '"', "'"]],
	['missing ) after argument list', [')']],
	['Missing } in template expression', ['}']],
]);

function recoverable(code) {
	const err = syntaxError(code);
	if (err === null || err.name !== 'SyntaxError')
		return false;
	if (AT_END.has(err.message))
		return true;
	const newline = /[\n\r\u2028\u2029]$/.test(code) ? '' : '\n';
	for (const closer of CLOSERS.get(err.message) || []) {
		const nested = closer === ')' || closer === '}';
		let more = nested ? code : code + newline;
		// Nested calls need a parenthesis each.
		for (let i = 0; i < (nested ? 8 : 1); i++) {
			more += closer;
			const again = syntaxError(more);
			if (again === null || again.message !== err.message)
				return true;
		}
	}
	return false;
}

/*
 * Whether code is ready to run, as node's REPL decides: it is not while the
 * only syntax error is that the input ends too soon.  Code with await is
 * judged as an async function's body, and code that starts with `{` also as
 * an object literal.
 */
function isComplete(code) {
	if (compiles(code))
		return true;
	if (recoverable(code))
		return false;
	if (/\bawait\b/.test(code)) {
		const head = '(async function () {\n';
		if (compiles(head + code + '\n})'))
			return true;
		if (recoverable(head + code))
			return false;
	}
	if (/^\s*\{/.test(code)) {
		if (compiles('(' + code + '\n)'))
			return true;
		if (recoverable('(' + code))
			return false;
	}
	return true;
}

// ----------------------------------------------------------------- serving

function parseRequest(frame) {
	if (frame.type !== REQ)
		throw new Error('brig agent: expected a request, not frame type ' + frame.type);
	const body = frame.body;
	const id = body.readUInt32LE(0);
	const jlen = body.readUInt32LE(4);
	const req = JSON.parse(body.toString('utf8', 8, 8 + jlen));
	return { id, req: isObject(req) ? req : {}, blob: body.subarray(8 + jlen) };
}

// snapshot.js, loaded by the first snapshot.
let snapshotModule = null;

function snapshots() {
	return snapshotModule || (snapshotModule = require('./snapshot.js'));
}

// One turn of the event loop.
function turn() {
	return new Promise((resolve) => setImmediate(resolve));
}

async function loop(kit, first) {
	const session = new Session(kit);
	const { ch } = kit;
	const uncaught = (err) => session.report(err, '');
	process.on('uncaughtException', uncaught);
	process.on('unhandledRejection', uncaught);
	process.on('SIGINT', () => session.interrupt());
	process.on('beforeExit', () => session.stranded());
	let frame = first;
	for (;;) {
		const { id, req, blob } = parseRequest(frame);
		if (Number.isSafeInteger(req.max_frame))
			ch.maxFrame = req.max_frame;
		let answer;
		let out;
		let answerId = id;
		try {
			[answer, out] = await session.handle(req, blob);
		} catch (err) {
			// Only a fault of the agent's gets here; the session may still work.
			session.report(err, '');
			answer = { error: { type: 'InternalError', message: String(err && err.message) } };
		}
		if (snapshotModule !== null && answer === snapshotModule.RESTORED) {
			// A copy that a restore revived answers the restore, at once: no
			// code of the user's ran in it yet.
			({ id: answerId, answer } = snapshotModule.revive(session, out, parseRequest));
			out = undefined;
		} else {
			await turn();
		}
		ch.answer(answerId, answer, out);
		frame = ch.nextRequest();
	}
}

function serve(kit, first) {
	loop(kit, first).catch((err) => {
		kit.writeAll(2, 'brig agent: ' + (isObject(err) ? err.stack || err.message : String(err)) + '\n');
		process.exit(70);
	});
}

module.exports = { serve };
