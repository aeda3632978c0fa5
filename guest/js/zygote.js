'use strict';
// The JavaScript zygote: a warm node that never runs guest code.  It runs on
// the host (started by the executor, src/lib/warm.c), loads the agent as the
// jail will see it, and hands control to brig_zygote.node, which forks a
// jail's init per run (src/jail/zygote.c).  In each run's guest serve()
// returns, and this node goes on as the guest, as agent.js would.

const JAIL = '/opt/brig/js'; // the agent's directory inside the jail

// Load the host's copies of the agent's files under their jail paths, so
// that what the guest sees (filenames, stacks, require's cache) is what a
// cold guest sees.
function preload(host) {
	const Module = require('module');
	const fs = require('fs');
	const path = require('path');
	const resolve = Module._resolveFilename;
	const compile = Module._extensions['.js'];
	const inJail = (f) => f.startsWith(JAIL + '/');

	Module._resolveFilename = function (request, parent, ...rest) {
		if (inJail(request))
			return request;
		if (parent && parent.filename && inJail(parent.filename) && request.startsWith('.'))
			return path.resolve(path.dirname(parent.filename), request);
		return resolve.call(this, request, parent, ...rest);
	};
	Module._extensions['.js'] = function (module, filename) {
		if (!inJail(filename))
			return compile(module, filename);
		module.paths = Module._nodeModulePaths(path.dirname(filename));
		module._compile(fs.readFileSync(host + filename.slice(JAIL.length), 'utf8'), filename);
	};
	try {
		for (const name of ['api.js', 'esm.js', 'session.js'])
			if (fs.existsSync(path.join(host, name)))
				require(JAIL + '/' + name);
		return require(JAIL + '/agent.js');
	} finally {
		Module._resolveFilename = resolve;
		Module._extensions['.js'] = compile;
	}
}

function becomeGuest(pid, addon) {
	const Module = require('module');
	// Leave once every 'exit' listener ran: the platform's threads, which
	// node's own teardown would stop and join, were the zygote's.
	const emit = process.emit;
	process.emit = function (event, ...args) {
		const result = emit.call(this, event, ...args);
		if (event === 'exit')
			addon.exit(process.exitCode !== undefined ? process.exitCode : args[0] || 0);
		return result;
	};
	Object.defineProperty(process, 'pid', { value: pid, writable: false, enumerable: true,
		configurable: true });
	process.argv.splice(1, process.argv.length - 1, JAIL + '/agent.js');
	// Contexts made from now on seed Math.random from this run's own seed:
	// V8's generator, which would seed them, is the zygote's.
	const fs = require('fs');
	const bytes = Buffer.alloc(4);
	const fd = fs.openSync('/dev/urandom', 'r');
	fs.readSync(fd, bytes, 0, 4, null);
	fs.closeSync(fd);
	const seed = bytes.readInt32LE(0) || 1;
	require('v8').setFlagsFromString('--random-seed=' + seed);
	// Node's own realm draws its own random numbers too (see installRandom).
	Module._cache[JAIL + '/agent.js'].exports.installRandom();
	// Nothing that names this file's place on the host stays reachable.
	process.mainModule = Module._cache[JAIL + '/agent.js'];
	delete Module._cache[__filename];
}

function main() {
	const [host, addonPath, pool] = [__dirname, process.argv[2], Number(process.argv[3])];
	const agent = preload(host);
	const addon = { exports: {} };
	process.dlopen(addon, addonPath);
	const pid = addon.exports.serve(3, pool); // returns only in a guest
	becomeGuest(pid, addon.exports);
	// From the event loop, as if loaded first: no frame of this file on the stack.
	setImmediate(agent.main);
	setImmediate(leaveWhenIdle);
}

// At the end of its event loop node waits for the tasks it gave its platform's
// worker threads, and those threads were the zygote's: they never existed
// here.  So leave a moment before the loop would end on its own: once
// nothing but this watch keeps it alive, 'beforeExit' is emitted as node
// would, and if that added nothing, the process exits.
function leaveWhenIdle() {
	// As libuv counts: referenced handles and requests, timers and
	// immediates; the standard streams (synchronous writes) keep nothing alive.
	const refd = (h) => {
		const w = h._handle || h;
		return typeof w.hasRef === 'function' ? w.hasRef() : true;
	};
	const idle = () => {
		const info = process.getActiveResourcesInfo();
		const timers = info.filter((r) => r === 'Timeout').length;
		const immediates = info.filter((r) => r === 'Immediate').length;
		const handles = process._getActiveHandles().filter((h) => !h._isStdio && refd(h));
		return timers === 1 && immediates === 0 && handles.length === 0 &&
			process._getActiveRequests().length === 0;
	};
	const watch = setInterval(() => {
		if (!idle())
			return;
		process.emit('beforeExit', process.exitCode || 0);
		if (idle()) {
			clearInterval(watch);
			process.exit();
		}
	}, 1);
}

main();
