// The guest half of the JavaScript value properties: runs after jsvalues.js
// inside the sandbox, drives every host function with generated values and
// prints one JSON report as its last line (see test_js_values.py).

const NAMES = ['name', 'args', 'fn', 'key', 'value', 'default', 'path', 'url', 'headers',
	'body', 'json', 'method', 'data', 'text', 'indent', '__proto__', 'constructor', 'v'];

class Report {
	constructor() {
		this.counts = {};
		this.failures = [];
	}

	count(what) {
		this.counts[what] = (this.counts[what] || 0) + 1;
	}

	fail(api, value, why) {
		if (this.failures.length < 20)
			this.failures.push(api + ': ' + why + ': ' + short(value));
		this.count(api + ':FAILED');
	}

	// errors: the names it may throw (empty: it must not); want: what comes back.
	outcome(api, value, errors, want, got, exc, compare = same) {
		if (exc !== undefined) {
			const name = exc && exc.name;
			if (!(exc instanceof Error))
				this.fail(api, value, 'threw a non-error ' + short(exc));
			else if (!errors.size)
				this.fail(api, value, 'threw ' + name + ': ' + exc.message.slice(0, 200));
			else if (!errors.has(name))
				this.fail(api, value, 'threw ' + name + ', expected ' + [...errors].join('/'));
			else
				this.count(api + ':raised');
			return;
		}
		if (errors.size)
			this.fail(api, value, 'did not throw ' + [...errors].join('/'));
		else if (!compare(want, got))
			this.fail(api, value, 'came back as ' + short(got) + ', expected ' + short(want));
		else
			this.count(api + ':exact');
	}
}

function attempt(fn) {
	try {
		return [fn(), undefined];
	} catch (e) {
		return [undefined, e];
	}
}

async function attemptAsync(fn) {
	try {
		return [await fn(), undefined];
	} catch (e) {
		return [undefined, e];
	}
}

// The value as a property of the arguments object, as JSON would keep it.
function member(key, v) {
	const args = {};
	Object.defineProperty(args, key, { value: v, enumerable: true, writable: true,
		configurable: true });
	return args;
}

function propCall(rep, gen, n) {
	for (let i = 0; i < n; i++) {
		const v = gen.value();
		const key = NAMES[i % NAMES.length];
		const args = member(key, v);
		const { want, errors } = expect(args);
		const [got, exc] = attempt(() => call('echo', args));
		rep.outcome('call', v, errors, want, got, exc);
	}
}

function propNames(rep, gen, n) {
	for (let i = 0; i < n; i++) {
		const args = {};
		for (const k of NAMES)
			Object.defineProperty(args, k, { value: gen.scalar(), enumerable: true, writable: true });
		const { want, errors } = expect(args);
		const [got, exc] = attempt(() => call('echo', args));
		rep.outcome('call(names)', args, errors, want, got, exc);
	}
}

async function propAsyncCall(rep, gen, batches, size) {
	for (let b = 0; b < batches; b++) {
		const values = [];
		for (let i = 0; i < size; i++)
			values.push(gen.value());
		const results = await Promise.all(values.map((v) => attemptAsync(() => asyncCall('echo', { v }))));
		values.forEach((v, i) => {
			const { want, errors } = expect({ v });
			rep.outcome('asyncCall', v, errors, want, results[i][0], results[i][1]);
		});
	}
}

function kvWant(v) {
	const { want, errors } = expect([v]);
	return { want: want[0], errors };
}

async function propKv(rep, gen, n) {
	for (let i = 0; i < n; i++) {
		const v = gen.value();
		const key = 'v' + (i % 40);
		const { want, errors } = kvWant(v);
		const [got, exc] = attempt(() => {
			kv.set(key, v);
			return kv.get(key, '<missing>');
		});
		rep.outcome('kv.set/get', v, errors, want, got, exc);
	}
	for (let i = 0; i < 25; i++) {
		const v = gen.value();
		const { want, errors } = kvWant(v);
		const [got, exc] = await attemptAsync(async () => {
			await kv.asyncSet('a' + i, v);
			return kv.asyncGet('a' + i, '<missing>');
		});
		rep.outcome('kv.async', v, errors, want, got, exc);
		kv.delete('a' + i);
	}
}

const utf8Length = (s) => new TextEncoder().encode(s).length;

function propKvKeys(rep, gen, n) {
	for (let i = 0; i < n; i++) {
		const key = gen.chance(0.3) ? gen.string(gen.pick([60, 64, 85, 86, 128, 255, 256, 257, 300]), false)
			: gen.string();
		const bad = LONE.test(key) ? 'TypeError'
			: !key || key.includes('\0') || utf8Length(key) > 256 ? 'ValueError' : null;
		const errors = new Set(bad ? [bad] : []);
		for (const [op, fn, want] of [['set', () => kv.set(key, i), undefined],
			['get', () => kv.get(key, '<missing>'), i], ['delete', () => kv.delete(key), true]]) {
			const [got, exc] = attempt(fn);
			rep.outcome('kv.' + op + '(key)', key, errors, want, got, exc, (a, b) => a === b);
			if (exc === undefined && op === 'set' && !kv.keys().includes(key))
				rep.fail('kv.keys', key, 'stored key not listed');
		}
	}
}

function randomBytes(gen, n) {
	const b = new Uint8Array(n);
	for (let i = 0; i < n; i++)
		b[i] = gen.int(0, 255);
	return b;
}

const bytesEqual = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function plainName(name) {
	return !['', '.', '..'].includes(name) && !name.includes('/') && !name.includes('\0') &&
		!LONE.test(name) && utf8Length(name) <= 255;
}

function propFs(rep, gen, n) {
	for (let i = 0; i < 10; i++) {
		const data = randomBytes(gen, gen.pick([0, 1, 2, 255, 4096, 65537, 1 << 20]));
		const [got, exc] = attempt(() => {
			fs.writeBytes('/m/b' + (i % 8), data);
			return fs.readBytes('/m/b' + (i % 8));
		});
		rep.outcome('fs.bytes', data.length, new Set(), data, got, exc, bytesEqual);
	}
	for (let i = 0; i < n; i++) {
		const text = gen.string(gen.pick([0, 1, 10, 100, 3000]));
		const [got, exc] = attempt(() => {
			fs.writeText('/m/t' + (i % 8), text);
			return fs.readText('/m/t' + (i % 8));
		});
		rep.outcome('fs.text', text, new Set(LONE.test(text) ? ['TypeError'] : []), text, got, exc);
	}
	fs.mkdir('/m/names');
	for (let i = 0; i < n; i++) {
		const name = gen.string(gen.pick([1, 3, 8, 40, 100]));
		const [got, exc] = attempt(() => {
			fs.writeText('/m/names/' + name, 'x');
			return fs.readText('/m/names/' + name);
		});
		if (exc !== undefined) {
			if (plainName(name) || !['TypeError', 'ValueError', 'OSError', 'FileNotFoundError',
				'NotADirectoryError', 'IsADirectoryError', 'PermissionError'].includes(exc.name))
				rep.fail('fs.names', name, 'threw ' + exc.name + ': ' + exc.message);
			else
				rep.count('fs.names:raised');
		} else if (got !== 'x') {
			rep.fail('fs.names', name, 'read back ' + short(got));
		} else {
			rep.count('fs.names:exact');
		}
	}
}

function propHttp(rep, gen, base, n) {
	for (let i = 0; i < n; i++) {
		const body = randomBytes(gen, gen.pick([0, 1, 100, 70000]));
		let hv = '';
		const kind = gen.int(0, 3);
		if (kind === 0)
			hv = gen.string(4, false) + gen.pick(['\r\n', '\n', '\0', '\x01']);
		else if (kind === 1)
			hv = gen.string(6, false);
		else
			for (let k = gen.int(1, 30); k > 0; k--)
				hv += String.fromCharCode(gen.int(0x21, 0x7e));
		const [got, exc] = attempt(() => http.post(base + '/echo', { body, headers: { 'X-Prop': hv } }));
		if (exc !== undefined) {
			if (kind >= 2 || !['ValueError', 'TypeError'].includes(exc.name))
				rep.fail('http', hv, 'threw ' + exc.name + ': ' + exc.message);
			else
				rep.count('http:raised');
			continue;
		}
		if (kind === 0) {
			rep.fail('http', hv, 'sent a header with a control character');
			continue;
		}
		const doc = got.json();
		const sent = Array.from(body, (x) => x.toString(16).padStart(2, '0')).join('');
		if (doc.body_hex !== sent)
			rep.fail('http', body.length, 'body changed');
		else if (kind >= 2 && doc.headers['x-prop'] !== hv)
			rep.fail('http', hv, 'header came back as ' + short(doc.headers['x-prop']));
		else
			rep.count('http:exact');
	}
	for (const headers of [{ 'X A': '1' }, { 'X:A': '1' }, { '': '1' }, { 'X-\0': '1' }, { 'X-\ud800': '1' },
		{ 'X-A': '\ud800' }]) {
		const [got, exc] = attempt(() => http.get(base + '/echo', { headers }));
		rep.outcome('http(headers)', headers, new Set(['ValueError', 'TypeError']), null, got, exc);
	}
	const [got, exc] = attempt(() => http.post(base + '/echo', { body: 'a\ud800' }));
	rep.outcome('http(body)', 'a\ud800', new Set(['TypeError']), null, got, exc);
}

function propNesting(rep) {
	for (const [depth, errors] of [[MAX_DEPTH - 1, []], [MAX_DEPTH, ['RangeError']],
		[MAX_DEPTH + 1, ['RangeError']], [100000, ['RangeError']]]) {
		let v = 0;
		for (let k = 0; k < depth; k++)
			v = k % 2 ? [v] : { k: v };
		let [got, exc] = attempt(() => call('echo', { v }));
		rep.outcome('nesting(' + depth + ')', depth, new Set(errors), { v }, got, exc);
		[got, exc] = attempt(() => {
			kv.set('deep', [v]);
			return kv.get('deep');
		});
		rep.outcome('kv nesting(' + depth + ')', depth, new Set(errors), [v], got, exc);
	}
	const cyclic = [];
	cyclic.push(cyclic);
	const [got, exc] = attempt(() => call('echo', { v: cyclic }));
	rep.outcome('cycle', '[[...]]', new Set(['TypeError']), null, got, exc);
}

async function propFrame(rep, maxFrame) {
	const big = 'x'.repeat(maxFrame);
	for (const [api, fn] of [['call', () => call('echo', { v: big })],
		['fs.write', () => fs.writeText('/m/big', big)],
		['kv.set', () => kv.set('big', big)],
		['http', () => http.post('http://127.0.0.1:9/', { body: big })]]) {
		const [got, exc] = attempt(fn);
		rep.outcome('frame:' + api, maxFrame, new Set(['RangeError']), null, got, exc);
	}
	const [got, exc] = await attemptAsync(() => asyncCall('echo', { v: big }));
	rep.outcome('frame:asyncCall', maxFrame, new Set(['RangeError']), null, got, exc);
	const [ok, err] = attempt(() => call('echo', { v: 'still alive' }));
	rep.outcome('after frame', 'still alive', new Set(), { v: 'still alive' }, ok, err);
}

async function main(seed, apis, opts = {}) {
	const rep = new Report();
	const gen = new Gen(seed);
	for (const api of apis) {
		if (api === 'call') {
			propCall(rep, gen, 150);
			propNames(rep, new Gen(seed + 2, 0.01), 20);
			propNesting(rep);
		} else if (api === 'asyncCall') {
			await propAsyncCall(rep, gen, 6, 25);
		} else if (api === 'kv') {
			await propKv(rep, new Gen(seed + 1, 0.05, false), 120);
			propKvKeys(rep, new Gen(seed + 3), 80);
		} else if (api === 'fs') {
			propFs(rep, gen, 40);
		} else if (api === 'http') {
			propHttp(rep, gen, opts.base, 25);
		} else if (api === 'frame') {
			await propFrame(rep, opts.maxFrame);
		}
	}
	console.log('\n' + JSON.stringify({ counts: rep.counts, failures: rep.failures }));
}
