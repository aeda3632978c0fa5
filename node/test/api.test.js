'use strict';
// The object lifecycle: argument checks and single use, as hyperlight-js.
const test = require('node:test');
const assert = require('node:assert/strict');
const { brig, loadedWith, rejectsWith, throwsWith } = require('./helpers.js');

const SETTERS = ['setHeapSize', 'setStackSize', 'setScratchSize', 'setInputBufferSize',
	'setOutputBufferSize'];

test('builder setters chain and reject zero, negative and non-integer sizes', () => {
	const b = new brig.SandboxBuilder();
	for (const s of SETTERS) {
		assert.equal(b[s](1 << 20), b);
		for (const bad of [0, -1, 1.5, NaN, '1024', undefined])
			throwsWith(() => b[s](bad), 'ERR_INVALID_ARG');
	}
});

test('build() twice and setters after build() are ERR_CONSUMED', async () => {
	const b = new brig.SandboxBuilder();
	const proto = await b.build();
	assert.ok(proto instanceof brig.ProtoJSSandbox);
	await rejectsWith(() => b.build(), 'ERR_CONSUMED');
	for (const s of SETTERS)
		throwsWith(() => b[s](1 << 20), 'ERR_CONSUMED');
	throwsWith(() => b.allowHost('example.com'), 'ERR_CONSUMED');
});

test('host function names must be non-empty; callbacks functions', async () => {
	const proto = await new brig.SandboxBuilder().build();
	throwsWith(() => proto.hostModule(''), 'ERR_INVALID_ARG');
	throwsWith(() => proto.hostModule(42), 'ERR_INVALID_ARG');
	throwsWith(() => proto.hostModule('m').register('', () => 1), 'ERR_INVALID_ARG');
	throwsWith(() => proto.register('', 'f', () => 1), 'ERR_INVALID_ARG');
	throwsWith(() => proto.register('m', '', () => 1), 'ERR_INVALID_ARG');
	throwsWith(() => proto.register('m', 'f', 'not a function'), 'ERR_INVALID_ARG');
	assert.equal(proto.hostModule('m').register('f', () => 1).name, 'm');
});

test('loadRuntime() twice and registering afterwards are ERR_CONSUMED', async () => {
	const proto = await new brig.SandboxBuilder().build();
	const sandbox = await proto.loadRuntime();
	assert.ok(sandbox instanceof brig.JSSandbox);
	await rejectsWith(() => proto.loadRuntime(), 'ERR_CONSUMED');
	throwsWith(() => proto.register('m', 'f', () => 1), 'ERR_CONSUMED');
	throwsWith(() => proto.hostModule('m'), 'ERR_CONSUMED');
	await sandbox.close();
});

test('loadRuntime rejects an unknown language', async () => {
	const proto = await new brig.SandboxBuilder().build();
	await rejectsWith(() => proto.loadRuntime({ lang: 'cobol' }), 'ERR_INVALID_ARG');
});

test('handler names and code are checked; the JSSandbox is consumed by getLoadedSandbox', async () => {
	const sandbox = await (await new brig.SandboxBuilder().build()).loadRuntime();
	throwsWith(() => sandbox.addHandler('', 'function handler() {}'), 'ERR_INVALID_ARG');
	throwsWith(() => sandbox.addHandler('h', ''), 'ERR_INVALID_ARG');
	throwsWith(() => sandbox.removeHandler(''), 'ERR_INVALID_ARG');
	sandbox.addHandler('h', 'function handler(e) { return e; }');
	const loaded = await sandbox.getLoadedSandbox();
	assert.ok(loaded instanceof brig.LoadedJSSandbox);
	throwsWith(() => sandbox.addHandler('g', 'function handler() {}'), 'ERR_CONSUMED');
	throwsWith(() => sandbox.removeHandler('h'), 'ERR_CONSUMED');
	throwsWith(() => sandbox.clearHandlers(), 'ERR_CONSUMED');
	await rejectsWith(() => sandbox.getLoadedSandbox(), 'ERR_CONSUMED');
	await loaded.close();
});

test('removeHandler and clearHandlers drop handlers before loading', async () => {
	const sandbox = await (await new brig.SandboxBuilder().build()).loadRuntime();
	sandbox.addHandler('a', 'function handler() { return "a"; }');
	sandbox.addHandler('b', 'function handler() { return "b"; }');
	sandbox.removeHandler('a');
	let loaded = await sandbox.getLoadedSandbox();
	assert.equal(await loaded.callHandler('b', {}), 'b');
	await rejectsWith(() => loaded.callHandler('a', {}), 'ERR_NOT_FOUND');
	const again = await loaded.unload();
	again.clearHandlers();
	loaded = await again.getLoadedSandbox();
	await rejectsWith(() => loaded.callHandler('b', {}), 'ERR_NOT_FOUND');
	await loaded.close();
});

test('a handler that does not compile fails getLoadedSandbox, which can be retried', async () => {
	const sandbox = await (await new brig.SandboxBuilder().build()).loadRuntime();
	sandbox.addHandler('h', 'function handler( {');
	await assert.rejects(sandbox.getLoadedSandbox(), /SyntaxError/);
	sandbox.addHandler('h', 'function handler() { return 7; }');
	const loaded = await sandbox.getLoadedSandbox();
	assert.equal(await loaded.callHandler('h', null), 7);
	await loaded.close();
});

test('callHandler checks its name and options', async () => {
	const loaded = await loadedWith({ h: 'function handler(e) { return e; }' });
	await rejectsWith(() => loaded.callHandler('', {}), 'ERR_INVALID_ARG');
	for (const key of ['wallClockTimeoutMs', 'cpuTimeoutMs']) {
		for (const bad of [0, -5, 1.5, brig.MAX_TIMEOUT_MS + 1, '100'])
			await rejectsWith(() => loaded.callHandler('h', {}, { [key]: bad }), 'ERR_INVALID_ARG');
	}
	await rejectsWith(() => loaded.callHandler('h', {}, { gc: 'yes' }), 'ERR_INVALID_ARG');
	await rejectsWith(() => loaded.callHandler('h', {}, 5), 'ERR_INVALID_ARG');
	const cycle = {};
	cycle.self = cycle;
	for (const bad of [cycle, 10n, () => 1, Symbol('s')])
		await rejectsWith(() => loaded.callHandler('h', bad), 'ERR_INVALID_ARG');
	assert.equal(await loaded.callHandler('h'), null);
	assert.deepEqual(await loaded.callHandler('h', { x: 1 }, { wallClockTimeoutMs: brig.MAX_TIMEOUT_MS,
		cpuTimeoutMs: 60000, gc: false }), { x: 1 });
	await loaded.close();
});

test('after unload(), the LoadedJSSandbox is ERR_CONSUMED everywhere', async () => {
	const loaded = await loadedWith({ h: 'function handler(e) { return e; }' });
	const sandbox = await loaded.unload();
	assert.ok(sandbox instanceof brig.JSSandbox);
	await rejectsWith(() => loaded.callHandler('h', {}), 'ERR_CONSUMED');
	await rejectsWith(() => loaded.unload(), 'ERR_CONSUMED');
	await rejectsWith(() => loaded.snapshot(), 'ERR_CONSUMED');
	throwsWith(() => loaded.poisoned, 'ERR_CONSUMED');
	await sandbox.close();
	await rejectsWith(() => sandbox.getLoadedSandbox(), 'ERR_CONSUMED');
	loaded.interruptHandle.kill(); // the handle of a closed sandbox does nothing
});

test('input and output buffer sizes bound events and results', async () => {
	const loaded = await loadedWith({ h: 'function handler(e) { return "y".repeat(e.n); }' }, {
		builder: (b) => b.setInputBufferSize(64).setOutputBufferSize(64),
	});
	assert.equal(await loaded.callHandler('h', { n: 3 }), 'yyy');
	await rejectsWith(() => loaded.callHandler('h', { n: 1, pad: 'x'.repeat(100) }), 'ERR_INVALID_ARG');
	await rejectsWith(() => loaded.callHandler('h', { n: 100 }), 'ERR_GUEST_ABORT');
	await loaded.close();
});

test('restore() takes only a Snapshot of this sandbox', async () => {
	const a = await loadedWith({ h: 'function handler() { return 1; }' });
	const b = await loadedWith({ h: 'function handler() { return 2; }' });
	const snap = await a.snapshot();
	await rejectsWith(() => b.restore(snap), 'ERR_INVALID_ARG');
	await rejectsWith(() => b.restore({}), 'ERR_INVALID_ARG');
	await a.close();
	await b.close();
});

test('setLimits gives every call the sandbox limits; bad limits are ERR_INVALID_ARG', async () => {
	throwsWith(() => new brig.SandboxBuilder().setLimits(null), 'ERR_INVALID_ARG');
	const bad = await new brig.SandboxBuilder().setLimits({ memoryBytes: -1 }).build();
	await rejectsWith(() => bad.loadRuntime(), 'ERR_INVALID_ARG');
	const loaded = await loadedWith({ loop: 'function handler() { for (;;) {} }' },
		{ builder: (b) => b.setLimits({ cpuTimeoutMs: 200 }) });
	await rejectsWith(() => loaded.callHandler('loop', {}), 'ERR_CANCELLED');
	assert.equal(loaded.poisoned, true);
	await loaded.close();
});
