// The JavaScript half of tests/capi/test_warm.c; the same protocol as
// warm_probe.py (read its header).  User code runs in a vm context, so the
// probe climbs out to node's own realm (process, require, the main
// globalThis) and leaves traces in both: the jail is the boundary, not the
// context, and nothing of either may reach the next run.
const P = performance.constructor.constructor('return process')();
const G = performance.constructor.constructor('return globalThis')();
const req = P.mainModule.require;
const Module = P.mainModule.constructor;
const fs = req('fs');
const cp = req('child_process');
const net = req('net');
const dgram = req('dgram');
const os = req('os');
const ncrypto = req('crypto');
const vm = req('vm');

const ARGS = JSON.parse(fs.readFileSync(0, 'utf8'));
const TOK = ARGS.token;
const MODE = ARGS.mode;
const ROUND = ARGS.round;
const TOKRE = /tk[0-9a-f]{10}/g;
const NUM = parseInt(TOK.slice(2), 16);
const PORT = 20000 + NUM % 40000;
const KEEP = [];

const out = (...words) => fs.writeSync(1, words.join(' ') + '\n');
const tokens = (text) => new Set(String(text).match(TOKRE) || []);
const union = (...sets) => new Set(sets.flatMap((s) => [...s]));
const sleep = (ms) => new Promise((r) => G.setTimeout(r, ms));

function read(path) {
	try {
		return fs.readFileSync(path, 'utf8');
	} catch (e) {
		return '';
	}
}

function marked(obj) {
	const v = obj == null ? undefined : obj.__carry__;
	return typeof v === 'string' ? new Set([v]) : new Set();
}

function mark(fn) {
	const wrapper = function (...a) {
		return fn.apply(this, a);
	};
	wrapper.__carry__ = TOK;
	return wrapper;
}

// ------------------------------------------------------------------ files

const CANDIDATES = ['/tmp', '/home/user', '/dev/shm', '/', '/home', '/dev', '/var/tmp', '/run',
	'/opt', '/etc', '/usr/local'];

function writableDirs() {
	const found = [];
	for (const d of CANDIDATES.concat([P.cwd()])) {
		try {
			fs.accessSync(d, fs.constants.W_OK);
			if (fs.statSync(d).isDirectory() && !found.includes(d))
				found.push(d);
		} catch (e) { /* not writable */ }
	}
	return found;
}

function plantFiles() {
	for (const d of writableDirs()) {
		fs.writeFileSync(d + '/carry-f-' + TOK, TOK);
		fs.writeFileSync(d + '/.carry-h-' + TOK, TOK);
		fs.mkdirSync(d + '/carry-d-' + TOK);
		fs.writeFileSync(d + '/carry-d-' + TOK + '/inner-' + TOK, TOK);
		fs.symlinkSync('/tmp', d + '/carry-l-' + TOK);
	}
	fs.writeFileSync('carry-cwd-' + TOK, TOK);
}

function findFiles() {
	let found = new Set();
	const walk = (dir, deep) => {
		let names = [];
		try {
			names = fs.readdirSync(dir, { withFileTypes: true });
		} catch (e) {
			return;
		}
		for (const e of names) {
			const path = (dir === '/' ? '' : dir) + '/' + e.name;
			if (e.name.includes('carry') || tokens(e.name).size)
				found = union(found, tokens(e.name).size ? tokens(e.name) : new Set(['?' + path]));
			if (e.isDirectory() && (deep || /^\/(tmp|home\/user|dev\/shm|var\/tmp)/.test(path)))
				walk(path, deep);
		}
	};
	for (const d of writableDirs())
		walk(d, d !== '/');
	return found;
}

function listing() {
	const names = [];
	const walk = (dir) => {
		for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
			names.push(dir + '/' + e.name);
			if (e.isDirectory())
				walk(dir + '/' + e.name);
		}
	};
	['/tmp', '/home/user', '/dev/shm'].forEach(walk);
	return names.sort().join(',') || '-';
}

// ------------------------------------------------------------ environment

function plantEnv() {
	P.env.CARRY_ENV = TOK; // node's setenv: children see it too
}

function findEnv() {
	const env = cp.execFileSync('/usr/bin/env', { encoding: 'utf8' });
	return union(tokens(JSON.stringify(P.env)), tokens(env), tokens(read('/proc/self/environ')));
}

// ------------------------------------------------------------ module state

function plantContextGlobal() {
	globalThis.__carry__ = TOK;
	globalThis['carry_' + TOK] = TOK;
}

function findContextGlobal() {
	return union(marked(globalThis), tokens(Object.getOwnPropertyNames(globalThis).join(' ')));
}

function plantOuterGlobal() {
	G.__carry__ = TOK;
	G['carry_' + TOK] = TOK;
}

function findOuterGlobal() {
	return union(marked(G), tokens(Object.getOwnPropertyNames(G).join(' ')));
}

// Enumerable, as a real pollution would be.
function plantProto() {
	Object.prototype.carryProto = TOK;
	Array.prototype.carryProto = TOK;
}

function findProto() {
	return union(tokens(({}).carryProto), tokens([].carryProto));
}

function plantOuterProto() {
	G.Object.prototype.carryProto = TOK;
	G.Array.prototype.carryProto = TOK;
	G.String.prototype.carryProto = TOK;
}

function findOuterProto() {
	return union(tokens(new G.Object().carryProto), tokens(new G.Array().carryProto),
		tokens(G.String.prototype.carryProto));
}

function plantBuiltinPatch() {
	JSON.parse = mark(JSON.parse);
	Math.max = mark(Math.max);
}

function findBuiltinPatch() {
	return union(marked(JSON.parse), marked(Math.max));
}

function plantOuterBuiltinPatch() {
	G.JSON.stringify = mark(G.JSON.stringify);
	G.Math.random = mark(G.Math.random);
	G.Date.now = mark(G.Date.now);
	G.Promise.prototype.then = mark(G.Promise.prototype.then);
}

function findOuterBuiltinPatch() {
	return union(marked(G.JSON.stringify), marked(G.Math.random), marked(G.Date.now),
		marked(G.Promise.prototype.then));
}

function plantRequireCache() {
	const path = '/carry/' + TOK + '.js';
	const m = new Module(path);
	m.filename = path;
	m.loaded = true;
	Module._cache[path] = m;
	Module._extensions['.carry' + TOK] = Module._extensions['.js'];
}

function findRequireCache() {
	return union(tokens(Object.keys(Module._cache).join(' ')),
		tokens(Object.keys(Module._extensions).join(' ')));
}

function plantModulePatch() {
	req('os').__carry__ = TOK;
	req('util').__carry__ = TOK;
	fs.readFileSync = mark(fs.readFileSync);
	req('path').join = mark(req('path').join);
}

function findModulePatch() {
	return union(marked(req('os')), marked(req('util')), marked(req('fs').readFileSync),
		marked(req('path').join));
}

function plantListeners() {
	for (const ev of ['SIGUSR1', 'SIGUSR2', 'SIGTERM', 'warning', 'beforeExit'])
		P.on(ev, mark(() => {}));
	P.on('exit', () => out('carry-exit', TOK));
}

function findListeners() {
	let found = new Set();
	for (const ev of P.eventNames())
		for (const fn of P.listeners(ev))
			found = union(found, marked(fn));
	return found;
}

// Timers and a promise left pending, unref'd so that the run can end: each
// records the token on node's global when it fires.
function plantTimers() {
	G.__carryTimers = G.__carryTimers || [];
	G.setInterval(() => G.__carryTimers.push(TOK), 1).unref();
	G.setTimeout(() => G.__carryTimers.push(TOK), 2).unref();
	new G.Promise((r) => G.setTimeout(r, 3).unref()).then(() => G.__carryTimers.push(TOK));
	G.setTimeout(() => out('carry-late-timer', TOK), 60000).unref();
}

function findTimers() {
	return new Set(G.__carryTimers || []);
}

// --------------------------------------------------------------- processes

function cmdlines(prefix) {
	let found = new Set();
	for (const pid of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(pid))
			continue;
		const cmd = read('/proc/' + pid + '/cmdline');
		if (cmd.includes(prefix))
			found = union(found, tokens(cmd));
	}
	return found;
}

function sleeper(name, detached) {
	cp.spawn('/bin/sleep', ['3600'], { argv0: name + TOK, detached, stdio: 'ignore' }).unref();
}

// A daemon: the shell backgrounds a subshell (a fork, named by $0) and
// exits; the subshell keeps the run's stdout.
function plantDaemon() {
	cp.spawn('/bin/sh', ['-c', '(while :; do sleep 1; done) & exit 0', 'carry-dfork-' + TOK],
		{ detached: true, stdio: ['ignore', 'inherit', 'ignore'] }).unref();
}

function plantTitle() {
	P.title = 'carry-title-' + TOK;
}

// -------------------------------------------------------------------- fds

function plantFds() {
	KEEP.push(fs.openSync('/tmp/carry-fd-' + TOK, 'w'));
	fs.unlinkSync('/tmp/carry-fd-' + TOK);
	KEEP.push(fs.openSync('/home/user', 'r'));
}

function findFds() {
	let found = new Set();
	for (const fd of fs.readdirSync('/proc/self/fd')) {
		try {
			found = union(found, tokens(fs.readlinkSync('/proc/self/fd/' + fd)));
		} catch (e) { /* the listing's own fd */ }
	}
	return found;
}

function fdTable() {
	const entries = [];
	for (const fd of fs.readdirSync('/proc/self/fd').sort((a, b) => a - b)) {
		try {
			entries.push(fd + '=' + fs.readlinkSync('/proc/self/fd/' + fd).replace(/\[\d+\]/, ''));
		} catch (e) { /* the listing's own fd */ }
	}
	return entries.join(',');
}

// ---------------------------------------------------------------- network

function ports(table, state) {
	const found = new Set();
	for (const line of read(table).split('\n').slice(1)) {
		const f = line.trim().split(/\s+/);
		if (f.length > 3 && (state === null || f[3] === state))
			found.add(parseInt(f[1].split(':').pop(), 16));
	}
	return found;
}

const listenOn = (what) => new Promise((resolve, reject) => {
	const s = net.createServer().on('error', reject);
	s.listen(what, () => resolve(s));
	s.unref();
	KEEP.push(s);
});

async function plantTcp() {
	await listenOn({ port: PORT, host: '127.0.0.1' });
}

function findTcp() {
	const p = union(ports('/proc/net/tcp', '0A'), ports('/proc/net/tcp6', '0A'));
	return new Set([...p].map((n) => 'tcp:' + n));
}

async function plantUdp() {
	const s = dgram.createSocket('udp4');
	await new Promise((resolve, reject) => {
		s.on('error', reject);
		s.bind(PORT, '127.0.0.1', resolve);
	});
	s.unref();
	KEEP.push(s);
}

function findUdp() {
	return new Set([...ports('/proc/net/udp', null)].map((n) => 'udp:' + n));
}

async function plantAbstract() {
	await listenOn('\0carry-u-' + TOK);
}

function findAbstract() {
	return tokens(read('/proc/net/unix').split('\n').filter((l) => l.includes('@carry')).join(' '));
}

// ---------------------------------------------------- process-wide settings

function fingerprint() {
	const status = {};
	for (const line of read('/proc/self/status').split('\n')) {
		const i = line.indexOf(':\t');
		if (i > 0)
			status[line.slice(0, i)] = line.slice(i + 2);
	}
	const fp = {
		umask: status.Umask,
		sigblk: status.SigBlk,
		sigign: status.SigIgn,
		sigcgt: status.SigCgt,
		nonewprivs: status.NoNewPrivs,
		seccomp: status.Seccomp + '/' + status.Seccomp_filters,
		capeff: status.CapEff,
		uid: status.Uid,
		cwd: P.cwd(),
		limits: read('/proc/self/limits').replace(/\n/g, '|'),
		nice: os.getPriority(),
		hostname: os.hostname(),
		fds: fdTable(),
		files: listing(),
		procs: fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))
			.map((p) => read('/proc/' + p + '/comm').trim()).sort().join(','),
		env: Object.keys(P.env).sort().join(','),
		exec_argv: P.execArgv.join(' '),
		argv: P.argv.join(' '),
		title: P.title,
		context_globals: Object.getOwnPropertyNames(globalThis).sort().join(','),
		outer_globals: Object.getOwnPropertyNames(G).sort().join(','),
		require_cache: Object.keys(Module._cache).sort().join(','),
		stack_limit: Error.stackTraceLimit + '/' + G.Error.stackTraceLimit,
		listeners: P.eventNames().map((e) => String(e) + ':' + P.listenerCount(e)).sort().join(','),
		resources: P.getActiveResourcesInfo().sort().join(','),
	};
	for (const k of Object.keys(fp).sort())
		out('FP', k, fp[k]);
}

function plantSettings() {
	P.umask(0o077);
	os.setPriority(3);
	Error.stackTraceLimit = 3;
	G.Error.stackTraceLimit = 3;
	P.chdir('/tmp/carry-d-' + TOK);
}

function settingsTook() {
	const ok = P.umask(0o077) === 0o077 && os.getPriority() === 3 &&
		G.Error.stackTraceLimit === 3 && P.cwd().includes(TOK);
	out(ok ? 'SEEN settings' : 'MISSED settings not all changed');
}

// -------------------------------------------------------------- randomness

function randomness() {
	out('RAND math_random', Math.random());
	out('RAND outer_math_random', G.Math.random());
	out('RAND new_context_random', vm.runInNewContext('Math.random()'));
	out('RAND web_uuid', crypto.randomUUID());
	out('RAND web_random_values', Array.from(crypto.getRandomValues(new Uint32Array(4))).join('.'));
	out('RAND node_uuid', ncrypto.randomUUID());
	out('RAND node_random_bytes', ncrypto.randomBytes(16).toString('hex'));
}

// ------------------------------------------------------------------- main

const KINDS = [
	['files', plantFiles, findFiles],
	['env', plantEnv, findEnv],
	['context_global', plantContextGlobal, findContextGlobal],
	['outer_global', plantOuterGlobal, findOuterGlobal],
	['proto_pollution', plantProto, findProto],
	['outer_proto_pollution', plantOuterProto, findOuterProto],
	['builtin_patch', plantBuiltinPatch, findBuiltinPatch],
	['outer_builtin_patch', plantOuterBuiltinPatch, findOuterBuiltinPatch],
	['require_cache', plantRequireCache, findRequireCache],
	['module_patch', plantModulePatch, findModulePatch],
	['process_listeners', plantListeners, findListeners],
	['timers', plantTimers, findTimers],
	['proc_bg', () => sleeper('carry-bg-', false), () => cmdlines('carry-bg-')],
	['proc_setsid', () => sleeper('carry-setsid-', true), () => cmdlines('carry-setsid-')],
	['proc_dfork', plantDaemon, () => cmdlines('carry-dfork-')],
	['proc_title', plantTitle, () => cmdlines('carry-title-')],
	['fds', plantFds, findFds],
	['tcp_listen', plantTcp, findTcp, () => 'tcp:' + PORT],
	['udp_bound', plantUdp, findUdp, () => 'udp:' + PORT],
	['abstract_socket', plantAbstract, findAbstract],
];

function barrier(step) {
	if (ROUND !== null && ROUND !== undefined)
		call('barrier', { round: ROUND, step });
}

function search(find) {
	try {
		return find();
	} catch (e) {
		return new Set(['?error:' + e.message]);
	}
}

const diff = (a, b) => [...a].filter((x) => x !== b).sort();

async function main() {
	if (P.pid !== Number(fs.readlinkSync('/proc/self')))
		out('BAD process.pid', P.pid, '!= /proc/self', fs.readlinkSync('/proc/self'));
	fingerprint();
	randomness();
	for (const ns of ['pid', 'mnt', 'net', 'ipc', 'uts', 'cgroup', 'user'])
		out('NS', ns, fs.readlinkSync('/proc/self/ns/' + ns));
	for (const [name, , find] of KINDS) {
		const left = search(find);
		if (left.size)
			out('LEAK', name, 'before planting:', [...left].sort().join(' '));
	}
	barrier(1);
	const failed = new Set();
	for (const [name, plant] of KINDS) {
		try {
			await plant();
		} catch (e) {
			out('MISSED', name, 'plant failed:', e.message);
			failed.add(name);
		}
	}
	plantSettings();
	barrier(2);
	await sleep(20); // the timers and the promise fire
	const deadline = Date.now() + 5000;
	for (const [name, , find, ownMarker] of KINDS) {
		const mine = ownMarker ? ownMarker() : TOK;
		let found = search(find);
		while (!found.has(mine) && name.startsWith('proc_') && Date.now() < deadline) {
			await sleep(10);
			found = search(find);
		}
		const foreign = diff(found, mine);
		if (foreign.length)
			out('LEAK', name, foreign.join(' '));
		if (failed.has(name))
			continue;
		out(found.has(mine) ? 'SEEN ' + name : 'MISSED ' + name + ' own trace not found');
	}
	settingsTook();
	out('KINDS', KINDS.length + 1);
	out('DONE');
	finish();
}

function finish() {
	if (MODE === 'exit')
		P.exit(3);
	if (MODE === 'throw')
		throw new Error('carry-throw ' + TOK);
	if (MODE === 'kill')
		P.kill(P.pid, 'SIGKILL');
	if (MODE === 'timeout' || MODE === 'cancel')
		G.setInterval(() => {}, 1000); // until the host ends the run
}

await main();
