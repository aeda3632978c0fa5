'use strict';
// goru-style one-shot runs.
const test = require('node:test');
const assert = require('node:assert/strict');
const { brig, rejectsWith } = require('./helpers.js');

test('run() in each language resolves to the C API result', async () => {
	const py = await brig.run('print(sum(x * x for x in range(10)))');
	assert.equal(py.ok, true);
	assert.equal(py.exit_code, 0);
	assert.equal(py.stdout, '285\n');
	assert.equal(py.error, null);
	for (const key of ['message', 'signal', 'limit', 'stderr', 'stdout_truncated', 'wall_ms', 'cpu_ms', 'warm'])
		assert.ok(key in py, key);
	const js = await brig.run('console.log(6 * 7); throw new Error("late")', { lang: 'js' });
	assert.equal(js.stdout, '42\n');
	assert.equal(js.exit_code, 1);
	assert.match(js.stderr, /Error: late/);
	const sh = await brig.run('echo "$((2 + 3))" >&2', { lang: 'sh' });
	assert.equal(sh.stderr, '5\n');
});

test('stdin, streaming output and limits', async () => {
	const out = [];
	const err = [];
	const r = await brig.run('import sys\ndata = sys.stdin.read()\nprint(data.upper())\nprint("é" * 3, file=sys.stderr)', {
		stdin: 'hello', onStdout: (s) => out.push(s), onStderr: (s) => err.push(s),
	});
	assert.equal(r.stdout, 'HELLO\n');
	assert.equal(out.join(''), 'HELLO\n');
	assert.equal(err.join(''), 'ééé\n');
	const slow = await brig.run('while True: pass', { timeoutMs: 300 });
	assert.equal(slow.ok, false);
	assert.equal(slow.error, 'ERR_CANCELLED');
	assert.equal(slow.limit, 'wall');
	const cpu = await brig.run('while (true) {}', { lang: 'js', cpuTimeoutMs: 300 });
	assert.equal(cpu.error, 'ERR_CANCELLED');
	assert.equal(cpu.limit, 'cpu');
	const mem = await brig.run('x = bytearray(400 << 20)', { memory: 128 << 20 });
	assert.equal(mem.ok, false);
});

test('functions: sync and async, keyword arguments, errors', async () => {
	const r = await brig.run([
		'print(call("add", a=2, b=3))',
		'print(call("slow", x=4))',
		'try:',
		'    call("fail")',
		'except Exception as e:',
		'    print("caught", e)',
	].join('\n'), {
		functions: {
			add: ({ a, b }) => a + b,
			slow: async ({ x }) => { await new Promise((res) => setTimeout(res, 10)); return x * 10; },
			fail: () => { throw new Error('no way'); },
		},
	});
	assert.equal(r.stdout, '5\n40\ncaught no way\n', r.stderr);
	const js = await brig.run('import * as m from "host:m"; console.log(m.twice(21))', {
		lang: 'js', functions: { 'm.twice': ({ args }) => args[0] * 2 },
	});
	assert.equal(js.stdout, '42\n', js.stderr);
});

test('run() rejects bad arguments with ERR_INVALID_ARG', async () => {
	await rejectsWith(() => brig.run(42), 'ERR_INVALID_ARG');
	await rejectsWith(() => brig.run('1', { lang: 'cobol' }), 'ERR_INVALID_ARG');
	await rejectsWith(() => brig.run('1', { timeoutMs: 0 }), 'ERR_INVALID_ARG');
	await rejectsWith(() => brig.run('1', { memory: -1 }), 'ERR_INVALID_ARG');
	await rejectsWith(() => brig.run('1', { stdin: 5 }), 'ERR_INVALID_ARG');
	await rejectsWith(() => brig.run('1', { onStdout: 'x' }), 'ERR_INVALID_ARG');
	await rejectsWith(() => brig.run('1', { functions: { f: 1 } }), 'ERR_INVALID_ARG');
	await rejectsWith(() => brig.run('1', { allowHosts: [''] }), 'ERR_INVALID_ARG');
});
