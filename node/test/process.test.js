'use strict';
// The package as programs use it: exiting by itself, ESM import, examples.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const PKG = path.join(__dirname, '..');

function node(args, opts = {}) {
	const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60000, ...opts });
	assert.equal(r.signal, null, 'killed: ' + r.stderr);
	return r;
}

test('a script that never closes its sandboxes exits by itself', () => {
	const r = node(['-e', `
		const { SandboxBuilder, run } = require(${JSON.stringify(PKG)});
		(async () => {
			const proto = await new SandboxBuilder().build();
			proto.register('m', 'f', () => 1);
			const sb = await proto.loadRuntime();
			sb.addHandler('h', 'import * as m from "host:m"; function handler(e) { return m.f() + e; }');
			const loaded = await sb.getLoadedSandbox();
			await loaded.snapshot();
			console.log(await loaded.callHandler('h', 41));
			console.log((await run('print(1)')).stdout.trim());
		})();
	`]);
	assert.equal(r.status, 0, r.stderr);
	assert.equal(r.stdout, '42\n1\n');
});

test('a call in flight keeps the process alive until it settles', () => {
	const r = node(['-e', `
		const { SandboxBuilder } = require(${JSON.stringify(PKG)});
		new SandboxBuilder().build().then((p) => p.loadRuntime()).then((sb) => {
			sb.addHandler('h', 'async function handler() { await new Promise((r) => setTimeout(r, 300)); return "late"; }');
			return sb.getLoadedSandbox();
		}).then((l) => { l.callHandler('h', {}).then((v) => console.log(v)); });
	`]);
	assert.equal(r.status, 0, r.stderr);
	assert.equal(r.stdout, 'late\n');
});

test('import works as require() does', () => {
	const r = node(['--input-type=module', '-e', `
		import { SandboxBuilder, run, MAX_TIMEOUT_MS } from ${JSON.stringify(PKG + '/index.js')};
		import brig from ${JSON.stringify(PKG + '/index.js')};
		const proto = await new SandboxBuilder().build();
		const sb = await proto.loadRuntime();
		sb.addHandler('h', 'function handler(e) { return e * 2; }');
		const l = await sb.getLoadedSandbox();
		console.log(await l.callHandler('h', 21), MAX_TIMEOUT_MS, typeof brig.run, typeof run);
	`]);
	assert.equal(r.status, 0, r.stderr);
	assert.equal(r.stdout, '42 3600000 function function\n');
});

const EXAMPLES = {
	'simple.js': /message: 'Hello, World!'/,
	'calculator.js': /6 mul 7 = 42[\s\S]*div by zero: ERR_GUEST_ABORT/,
	'unload.js': /version: 1, count: 2[\s\S]*version: 2, count: 101/,
	'interrupt.js': /killed after \d+ ms: ERR_CANCELLED\npoisoned: true\npoisoned after restore: false/,
	'cpu-timeout.js': /CPU monitor fired after \d+ ms: ERR_CANCELLED\nrestored, poisoned: false/,
	'host-functions.js': /sum: 13, product: 42, user: \{ id: 42, name: 'user42' \}/,
};

for (const [file, expected] of Object.entries(EXAMPLES)) {
	test(`examples/${file} runs`, () => {
		const r = node([path.join(PKG, 'examples', file)]);
		assert.equal(r.status, 0, r.stderr);
		assert.match(r.stdout, expected);
	});
}
