const nums = [5, 3, 8, 1, 9, 2];
console.log(nums.toSorted((a, b) => a - b), nums.toReversed(), nums.with(0, 50), nums);
console.log(nums.findLast((n) => n % 2 === 0), nums.findLastIndex((n) => n > 100));
console.log(nums.toSpliced(1, 2, 'x'), nums.at(-1), Object.hasOwn({ a: 1 }, 'a'));
console.log([1, [2, [3, [4]]]].flat(Infinity), 'a-b-c'.replaceAll('-', '+'));
const { a, ...rest } = { a: 1, b: 2, c: 3 };
console.log(a, rest, rest?.d?.e ?? 'none', 0 || 'or', 0 ?? 'nullish');
let x = null; x ??= 4; x ||= 5; x &&= x + 1; console.log(x, 1_000_000, 2 ** 10);
class Counter {
	#count = 0;
	static #instances = 0;
	static { Counter.label = 'counter'; }
	constructor() { Counter.#instances++; }
	inc() { return ++this.#count; }
	static get instances() { return Counter.#instances; }
	has(o) { return #count in o; }
}
const c = new Counter(); c.inc(); new Counter();
console.log(c.inc(), Counter.instances, Counter.label, c.has(c), c.has({}));
console.log(Array.from({ length: 5 }, (_, i) => i * i), [...new Set([1, 1, 2, 3, 3])]);
const m = new Map([['k', 1]]); const w = new WeakMap(); w.set(c, 1);
console.log(m, w.has(c), Symbol('s').description, typeof globalThis);
console.log(new Error('outer', { cause: new Error('inner') }).cause.message);
console.log([10, 1, 3].sort(), ['b', 'a'].sort().join(), Math.max(...nums), `t${1 + 1}t`);
const re = /(?<year>\d{4})-(?<month>\d{2})/dg;
for (const mm of '2024-01 and 2025-12'.matchAll(re)) console.log(mm.groups.year, mm.groups.month, mm.indices[0]);
console.log(structuredClone({ d: new Date(0), s: new Set([1]) }));
console.log(JSON.stringify({ b: [1, { c: 'é' }], n: null }, null, 1));
