'use strict';
// Host functions and brig's capabilities (fs, kv, http) from handlers.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { loadedWith, rejectsWith } = require('./helpers.js');

test('host modules: namespace, named and default imports; arguments spread', async () => {
	const seen = [];
	const loaded = await loadedWith({
		h: `import * as m from "host:math";
			import { concat as join } from 'host:text';
			import text from "host:text";
			export function handler(e) {
				return [m.add(e.a, e.b), join("x", 1, null), text.concat()];
			}`,
	}, {
		setup: (proto) => {
			proto.hostModule('math').register('add', (a, b) => { seen.push([a, b]); return a + b; });
			proto.register('text', 'concat', (...args) => args.map(String).join('+'));
		},
	});
	assert.deepEqual(await loaded.callHandler('h', { a: 2, b: 40 }), [42, 'x+1+null', '']);
	assert.deepEqual(seen, [[2, 40]]);
	await loaded.close();
});

test('an async callback is awaited; the guest gets the plain value', async () => {
	const loaded = await loadedWith({
		h: 'import * as db from "host:db"; function handler(e) { const r = db.get(e.id); return { r, isPromise: r instanceof Promise }; }',
	}, {
		setup: (proto) => proto.register('db', 'get', async (id) => {
			await new Promise((resolve) => setTimeout(resolve, 20));
			return { id, name: 'n' + id };
		}),
	});
	assert.deepEqual(await loaded.callHandler('h', { id: 3 }), { r: { id: 3, name: 'n3' }, isPromise: false });
	await loaded.close();
});

test('a throwing or rejecting callback is an error in the guest', async () => {
	const loaded = await loadedWith({
		h: `import * as m from "host:m";
			function handler(e) {
				const out = [];
				for (const f of ["bad", "worse"]) {
					try { m[f](); out.push("no error"); } catch (err) { out.push(err.message); }
				}
				return out;
			}`,
		uncaught: 'import * as m from "host:m"; function handler() { return m.bad(); }',
	}, {
		setup: (proto) => proto.hostModule('m')
			.register('bad', () => { throw new Error('sync failure'); })
			.register('worse', async () => { throw new TypeError('async failure'); }),
	});
	const [a, b] = await loaded.callHandler('h', {});
	assert.match(a, /sync failure/);
	assert.match(b, /async failure/);
	await assert.rejects(loaded.callHandler('uncaught', {}), (err) => err.code === 'ERR_GUEST_ABORT' &&
		/sync failure/.test(err.message));
	await loaded.close();
});

test('an unregistered host function fails in the guest; other imports are refused', async () => {
	const loaded = await loadedWith({ h: 'import * as m from "host:m"; function handler() { return m.missing(1); }' });
	await assert.rejects(loaded.callHandler('h', {}), (err) => err.code === 'ERR_GUEST_ABORT');
	await loaded.close();
	await assert.rejects(loadedWith({ h: 'import fs from "node:fs"; function handler() {}' }),
		/import declaration is not supported/);
});

test('Python handlers reach host module functions through call()', async () => {
	const loaded = await loadedWith({
		h: 'def handler(event):\n    return call("math.add", args=[event["a"], event["b"]])\n',
	}, { lang: 'python', setup: (proto) => proto.register('math', 'add', (a, b) => a + b) });
	assert.equal(await loaded.callHandler('h', { a: 1, b: 2 }), 3);
	await loaded.close();
});

test('mounts and kv reach handlers as fs and kv', async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brig-node-'));
	fs.chmodSync(dir, 0o755);
	fs.writeFileSync(path.join(dir, 'in.txt'), 'from the host');
	fs.chmodSync(path.join(dir, 'in.txt'), 0o644);
	try {
		const loaded = await loadedWith({
			read: 'function handler() { return fs.readText("/data/in.txt"); }',
			count: 'function handler() { const n = kv.get("n", 0) + 1; kv.set("n", n); return n; }',
			escape: 'function handler() { return fs.readText("/etc/passwd"); }',
		}, { builder: (b) => b.mount(dir, '/data', 'ro').setKv(':memory:') });
		assert.equal(await loaded.callHandler('read', {}), 'from the host');
		assert.equal(await loaded.callHandler('count', {}), 1);
		assert.equal(await loaded.callHandler('count', {}), 2);
		await assert.rejects(loaded.callHandler('escape', {}), (err) => err.code === 'ERR_GUEST_ABORT');
		await loaded.close();
	} finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

test('http reaches allowed hosts only', async () => {
	const server = http.createServer((req, res) => res.end('hello ' + req.url));
	await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
	const port = server.address().port;
	try {
		const loaded = await loadedWith({
			get: 'async function handler(e) { const r = await http.asyncGet(e.url); return r.text; }',
		}, { builder: (b) => b.allowHost('127.0.0.1:' + port) });
		assert.equal(await loaded.callHandler('get', { url: `http://127.0.0.1:${port}/x` }), 'hello /x');
		await assert.rejects(loaded.callHandler('get', { url: 'http://127.0.0.2:1/' }),
			(err) => err.code === 'ERR_GUEST_ABORT' && /host not allowed/.test(err.message));
		await loaded.close();
	} finally {
		server.close();
	}
});

test('a bad mount is ERR_INVALID_ARG when the runtime loads', async () => {
	const { SandboxBuilder } = require('..');
	const proto = await new SandboxBuilder().mount('/tmp', 'relative', 'ro').build();
	await rejectsWith(() => proto.loadRuntime(), 'ERR_INVALID_ARG');
	const proto2 = await new SandboxBuilder().mount('/tmp', '/x', 'rwx').build();
	await rejectsWith(() => proto2.loadRuntime(), 'ERR_INVALID_ARG');
});
