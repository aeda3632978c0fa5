// Random JavaScript values for the guest-value properties, and what to
// expect of them.  Runs inside the sandbox, as the start of the guest's code
// (with js_battery.js after it), so it uses nothing but the language.
//
// The rules it predicts (docs/PROTOCOL.md, "Values"): a value reaches the
// host and comes back as JSON.stringify would have it, exactly (-0 and
// integers beyond 2**63 included), or the guest throws before sending:
//   - NaN and +-Infinity: RangeError
//   - nesting deeper than MAX_DEPTH: RangeError
//   - a lone surrogate in a string or key, a NUL in a key, a BigInt, a Map,
//     a Set, binary data, a Promise, a cycle: TypeError
//   - otherwise JSON.stringify's conventions: toJSON (a Date becomes its ISO
//     string), undefined, functions and symbols left out of objects and
//     null in arrays.

const MAX_DEPTH = 512;

class Gen {
	constructor(seed, bad = 0.05, longLists = true) {
		this.s = seed >>> 0;
		this.bad = bad;
		this.longLists = longLists;
	}

	// mulberry32
	next() {
		let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	}

	int(lo, hi) {
		return lo + Math.floor(this.next() * (hi - lo + 1));
	}

	chance(p) {
		return this.next() < p;
	}

	pick(list) {
		return list[this.int(0, list.length - 1)];
	}

	codePoint(surrogates) {
		if (surrogates && this.chance(this.bad / 4))
			return String.fromCharCode(this.int(0xd800, 0xdfff)); // alone
		const kinds = [[30, 0x20, 0x7e], [6, 0, 0x1f], [3, 0x7f, 0x9f], [6, 0xa0, 0x2ff],
			[8, 0x300, 0xd7ff], [4, 0xe000, 0xfffd], [3, 0xfdd0, 0xfdef], [2, 0xfffe, 0xffff],
			[8, 0x10000, 0x10ffff], [2, 0x1f600, 0x1f64f], [2, 0x2028, 0x2029], [2, 0xfeff, 0xfeff],
			[2, 0x22, 0x22], [2, 0x5c, 0x5c]];
		let total = 0;
		for (const k of kinds)
			total += k[0];
		let at = this.next() * total;
		for (const [w, lo, hi] of kinds) {
			at -= w;
			if (at <= 0)
				return String.fromCodePoint(this.int(lo, hi));
		}
		return 'A';
	}

	string(n, surrogates = true) {
		if (n === undefined)
			n = this.pick([0, 1, 2, 3, 5, 8, 13, 40, 200]);
		let s = '';
		for (let i = 0; i < n; i++)
			s += this.codePoint(surrogates);
		return s;
	}

	number() {
		if (this.chance(this.bad))
			return this.pick([NaN, Infinity, -Infinity]);
		if (this.chance(0.5)) {
			return this.pick([0, -0, 1, -1, 0.1, 5e-324, -5e-324, 2.2250738585072014e-308,
				1.7976931348623157e308, -1.7976931348623157e308, 2 ** 31, 2 ** 53, 2 ** 53 + 2,
				-(2 ** 53), 2 ** 62, 2 ** 63, -(2 ** 63), 2 ** 63 - 1024, -(2 ** 63) + 1024, 2 ** 64,
				-(2 ** 70), 1e21, 1e20, 123456789.123, 1e-7, 1e300]);
		}
		const dv = new DataView(new ArrayBuffer(8));
		for (;;) { // any finite double, subnormals included
			dv.setUint32(0, this.int(0, 0xffffffff));
			dv.setUint32(4, this.int(0, 0xffffffff));
			const f = dv.getFloat64(0);
			if (Number.isFinite(f))
				return f;
		}
	}

	scalar() {
		switch (this.int(0, 9)) {
		case 0:
			return this.pick([null, true, false]);
		case 1:
		case 2:
			return this.number();
		case 3:
			if (this.chance(this.bad * 2))
				return this.pick([10n, undefined, () => 1, Symbol('s'), new Map([[1, 2]]),
					new Set([1]), new Uint8Array(3), new ArrayBuffer(2), Promise.resolve(1)]);
			return this.pick([new Date(this.int(0, 2 ** 31) * 1000), undefined,
				new Number(-0), new String('boxed'), new Boolean(false)]);
		default:
			return this.string();
		}
	}

	key() {
		if (this.chance(this.bad / 2))
			return 'k\0' + this.string(2, false);
		if (this.chance(0.1))
			return this.pick(['__proto__', 'constructor', 'toString', '0', '01', '-1', '1e3',
				'name', 'args', 'length']);
		return this.string(this.pick([0, 1, 4, 12]));
	}

	value(depth = 0) {
		if (depth >= 6 || this.chance(0.45))
			return this.scalar();
		const kind = this.int(0, 9);
		if (kind === 0 && depth < 2 && this.longLists) {
			const n = this.int(500, 3000);
			const a = [];
			for (let i = 0; i < n; i++)
				a.push(this.scalar());
			return a;
		}
		if (kind === 1)
			return this.deep();
		if (kind <= 5) {
			const a = [];
			for (let i = this.int(0, 6); i > 0; i--)
				a.push(this.value(depth + 1));
			return a;
		}
		const o = {};
		for (let i = this.int(0, 6); i > 0; i--)
			Object.defineProperty(o, this.key(), { value: this.value(depth + 1), enumerable: true,
				writable: true, configurable: true });
		return o;
	}

	deep() {
		const n = this.chance(this.bad * 2) ? this.pick([MAX_DEPTH + 1, 600, 5000])
			: this.pick([1, 2, 10, 100, 300, MAX_DEPTH - 2, MAX_DEPTH - 1]);
		let v = this.scalar();
		for (let i = 0; i < n; i++)
			v = this.chance(0.5) ? [v] : { d: v };
		return v;
	}
}

const LONE = /\p{Cs}/u;
const DROP = Symbol('drop');

function isOpaque(v) {
	return v instanceof Map || v instanceof Set || ArrayBuffer.isView(v) || v instanceof ArrayBuffer ||
		v instanceof Promise;
}

// What the host should give back for value (DROP: left out), with the errors
// it may throw instead.  Iterative over arrays and objects would be longer;
// depth is bounded by the generator (5000), which recursion handles.
function expect(value, limit = MAX_DEPTH) {
	const errors = new Set();
	const open = new Set();
	function walk(v, depth, key) {
		if (v !== null && (typeof v === 'object' || typeof v === 'bigint') && typeof v.toJSON === 'function')
			v = v.toJSON(key);
		if (v instanceof Number || v instanceof String || v instanceof Boolean)
			v = v.valueOf();
		switch (typeof v) {
		case 'string':
			if (LONE.test(v))
				errors.add('TypeError');
			return v;
		case 'number':
			if (!Number.isFinite(v))
				errors.add('RangeError');
			return v;
		case 'boolean':
			return v;
		case 'bigint':
			errors.add('TypeError');
			return null;
		case 'object':
			break;
		default:
			return DROP;
		}
		if (v === null)
			return null;
		if (isOpaque(v)) {
			errors.add('TypeError');
			return null;
		}
		if (depth > limit) {
			errors.add('RangeError');
			return null;
		}
		if (open.has(v)) {
			errors.add('TypeError');
			return null;
		}
		open.add(v);
		let out;
		if (Array.isArray(v)) {
			out = v.map((x, i) => {
				const y = walk(x, depth + 1, String(i));
				return y === DROP ? null : y;
			});
		} else {
			out = {};
			for (const k of Object.keys(v)) {
				const y = walk(v[k], depth + 1, k);
				if (y === DROP)
					continue;
				if (LONE.test(k) || k.includes('\0'))
					errors.add('TypeError');
				Object.defineProperty(out, k, { value: y, enumerable: true, writable: true,
					configurable: true });
			}
		}
		open.delete(v);
		return out;
	}
	const want = walk(value, 1, '');
	return { want, errors };
}

// Deep equality as JSON sees it, with -0 distinct from 0.
function same(a, b) {
	if (typeof a === 'number')
		return Object.is(a, b);
	if (a === null || typeof a !== 'object')
		return a === b;
	if (b === null || typeof b !== 'object' || Array.isArray(a) !== Array.isArray(b))
		return false;
	const ka = Object.keys(a);
	const kb = Object.keys(b);
	if (ka.length !== kb.length)
		return false;
	for (const k of ka) {
		if (!Object.prototype.hasOwnProperty.call(b, k) || !same(a[k], b[k]))
			return false;
	}
	return true;
}

function short(v) {
	let text;
	try {
		text = JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? x + 'n' : x));
	} catch (e) {
		text = '<' + e.message + '>';
	}
	text = String(text);
	return text.length > 160 ? text.slice(0, 160) + '...' : text;
}
