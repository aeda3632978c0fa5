'use strict';
// Handler calls: values, guest errors, monitors, kill, poisoning, snapshots.
const test = require('node:test');
const assert = require('node:assert/strict');
const { loadedWith, rejectsWith } = require('./helpers.js');

const SPIN = 'function handler(e) { const end = Date.now() + e.ms; while (Date.now() < end) {} ' +
	'return "done"; }';
const LOOP = 'function handler() { for (;;) {} }';

test('events and results are JSON values, async handlers awaited', async () => {
	const loaded = await loadedWith({
		echo: 'function handler(e) { return e; }',
		later: 'async function handler(e) { await null; return { twice: e * 2 }; }',
	});
	for (const v of [null, 0, -1.5, 'π', [1, [2, { a: 'b' }]], { nested: { deep: [true, false] } }])
		assert.deepEqual(await loaded.callHandler('echo', v), v);
	assert.deepEqual(await loaded.callHandler('later', 21), { twice: 42 });
	await loaded.close();
});

test('a throwing handler is ERR_GUEST_ABORT with its message; the sandbox stays usable', async () => {
	const loaded = await loadedWith({ h: 'function handler(e) { if (e.fail) throw new Error("nope " + e.fail); return "ok"; }' });
	await assert.rejects(loaded.callHandler('h', { fail: 7 }), (err) => {
		assert.equal(err.code, 'ERR_GUEST_ABORT');
		assert.match(err.message, /nope 7/);
		return true;
	});
	assert.equal(loaded.poisoned, false);
	assert.equal(await loaded.callHandler('h', {}), 'ok');
	await loaded.close();
});

test('unbounded recursion is ERR_STACK_OVERFLOW', async () => {
	const loaded = await loadedWith({ h: 'function handler() { const f = (n) => f(n + 1) + 1; return f(0); }' });
	await rejectsWith(() => loaded.callHandler('h', {}), 'ERR_STACK_OVERFLOW');
	await loaded.close();
});

test('the event loop runs while a 500 ms handler does', async () => {
	const loaded = await loadedWith({ spin: SPIN });
	let ticks = 0;
	const timer = setInterval(() => ticks++, 20);
	try {
		assert.equal(await loaded.callHandler('spin', { ms: 500 }), 'done');
	} finally {
		clearInterval(timer);
	}
	assert.ok(ticks >= 5, 'the timer ticked ' + ticks + ' times');
	await loaded.close();
});

for (const [what, options] of [
	['a wall-clock timeout', { wallClockTimeoutMs: 300 }],
	['a CPU timeout', { cpuTimeoutMs: 300 }],
	['either of two monitors', { wallClockTimeoutMs: 10000, cpuTimeoutMs: 300 }],
]) {
	test(`${what} cancels the call and poisons until restore()`, async () => {
		const loaded = await loadedWith({ loop: LOOP, ok: 'function handler() { return "ok"; }' });
		const snap = await loaded.snapshot();
		await rejectsWith(() => loaded.callHandler('loop', {}, options), 'ERR_CANCELLED');
		assert.equal(loaded.poisoned, true);
		await rejectsWith(() => loaded.callHandler('ok', {}), 'ERR_POISONED');
		await loaded.restore(snap);
		assert.equal(loaded.poisoned, false);
		assert.equal(await loaded.callHandler('ok', {}), 'ok');
		await loaded.close();
	});
}

test('a wall-clock timeout catches a handler that waits without burning CPU', async () => {
	const loaded = await loadedWith({ wait: 'async function handler() { await new Promise((r) => setTimeout(r, 60000)); }' });
	await rejectsWith(() => loaded.callHandler('wait', {}, { wallClockTimeoutMs: 200, cpuTimeoutMs: 60000 }),
		'ERR_CANCELLED');
	await loaded.close();
});

test('interruptHandle.kill() from a timer cancels the call', async () => {
	const loaded = await loadedWith({ loop: LOOP });
	const handle = loaded.interruptHandle;
	assert.equal(loaded.interruptHandle, handle);
	handle.kill(); // nothing runs: no effect
	const timer = setTimeout(() => handle.kill(), 200);
	await rejectsWith(() => loaded.callHandler('loop', {}), 'ERR_CANCELLED');
	clearTimeout(timer);
	assert.equal(loaded.poisoned, true);
	await loaded.close();
});

test('unload() of a poisoned sandbox gives a fresh one with the same handlers', async () => {
	const loaded = await loadedWith({ loop: LOOP, n: 'let n = 0; function handler() { return ++n; }' });
	assert.equal(await loaded.callHandler('n', {}), 1);
	await rejectsWith(() => loaded.callHandler('loop', {}, { cpuTimeoutMs: 100 }), 'ERR_CANCELLED');
	const sandbox = await loaded.unload();
	const again = await sandbox.getLoadedSandbox();
	assert.equal(again.poisoned, false);
	assert.equal(await again.callHandler('n', {}), 1);
	await again.close();
});

test('unload() of a healthy sandbox keeps its globals but re-evaluates handlers', async () => {
	const loaded = await loadedWith({ n: 'globalThis.total = (globalThis.total || 0) + 10; let n = 0; function handler() { return [++n, total]; }' });
	assert.deepEqual(await loaded.callHandler('n', {}), [1, 10]);
	const sandbox = await loaded.unload();
	const again = await sandbox.getLoadedSandbox();
	assert.deepEqual(await again.callHandler('n', {}), [1, 20]);
	await again.close();
});

test('restore() brings back the state of the snapshot, any number of times', async () => {
	const loaded = await loadedWith({ n: 'let n = 0; function handler() { return ++n; }' });
	assert.equal(await loaded.callHandler('n', {}), 1);
	const snap = await loaded.snapshot();
	assert.equal(await loaded.callHandler('n', {}), 2);
	assert.equal(await loaded.callHandler('n', {}), 3);
	await loaded.restore(snap);
	assert.equal(await loaded.callHandler('n', {}), 2);
	await loaded.restore(snap);
	assert.equal(await loaded.callHandler('n', {}), 2);
	await loaded.close();
});

test('setHeapSize bounds what a handler may allocate', async () => {
	const loaded = await loadedWith({
		grow: 'function handler(e) { const a = []; for (let i = 0; i < e.n; i++) a.push(new Array(1024).fill(i)); return a.length; }',
	}, { builder: (b) => b.setHeapSize(16 << 20) });
	assert.equal(await loaded.callHandler('grow', { n: 10 }), 10);
	await assert.rejects(loaded.callHandler('grow', { n: 200000 }), (err) => {
		assert.ok(['ERR_LIMIT', 'ERR_GUEST_ABORT'].includes(err.code), err.code + ': ' + err.message);
		return true;
	});
	await loaded.close();
});

test('Python handlers: loadRuntime({lang: "python"})', async () => {
	const loaded = await loadedWith({
		h: 'count = 0\ndef handler(event):\n    global count\n    count += 1\n    return {"sum": sum(event["xs"]), "count": count}\n',
		bad: 'def handler(event):\n    raise ValueError("bad " + str(event))\n',
	}, { lang: 'python' });
	assert.deepEqual(await loaded.callHandler('h', { xs: [1, 2, 3] }), { sum: 6, count: 1 });
	assert.deepEqual(await loaded.callHandler('h', { xs: [] }), { sum: 0, count: 2 });
	await assert.rejects(loaded.callHandler('bad', 5), (err) => err.code === 'ERR_GUEST_ABORT' &&
		/bad 5/.test(err.message));
	await loaded.close();
});

test('setStackSize bounds recursion; sizes brig cannot give are ERR_INVALID_ARG', async () => {
	const depth = 'function handler() { let d = 0; const f = () => { d++; f(); }; try { f(); } catch (e) {} return d; }';
	const small = await loadedWith({ depth }, { builder: (b) => b.setStackSize(128 << 10) });
	const large = await loadedWith({ depth }, { builder: (b) => b.setScratchSize(4 << 20) });
	const [a, b] = [await small.callHandler('depth', {}), await large.callHandler('depth', {})];
	assert.ok(a > 100 && b > a * 4, `depths ${a} and ${b}`);
	await small.close();
	await large.close();
	const proto = await new (require('..').SandboxBuilder)().setStackSize(16 << 20).build();
	await rejectsWith(() => proto.loadRuntime(), 'ERR_INVALID_ARG');
});
