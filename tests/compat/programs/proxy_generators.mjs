function* fib() { let [a, b] = [0, 1]; for (;;) { yield a; [a, b] = [b, a + b]; } }
const take = (n, it) => { const out = []; for (const v of it) { if (out.length >= n) break; out.push(v); } return out; };
console.log(take(10, fib()));
const log = [];
const p = new Proxy({ x: 1 }, {
	get(t, k, r) { log.push(`get ${String(k)}`); return Reflect.get(t, k, r); },
	set(t, k, v) { log.push(`set ${String(k)}`); return Reflect.set(t, k, v * 2); },
	has(t, k) { return k === 'magic' || k in t; },
});
p.y = 5;
console.log(p.x, p.y, 'magic' in p, log);
const frozen = Object.freeze({ a: [1] });
frozen.a.push(2);
console.log(Object.isFrozen(frozen), frozen.a, Reflect.ownKeys({ [Symbol('s')]: 1, k: 2 }).length);
const tag = (s, ...v) => s.raw.map((r, i) => r + (v[i] ?? '')).join('|');
console.log(tag`a${1}b${2}c`, String.raw`\n${1}`);
const obj = { *[Symbol.iterator]() { yield* [1, 2]; yield 3; } };
console.log([...obj], Array.from(obj, (x) => x * 2));
const wr = new WeakRef({}); console.log(typeof wr.deref());
label: for (const i of [1, 2, 3]) { for (const j of [1, 2]) { if (i * j === 4) break label; console.log(i, j); } }
console.log(Object.getOwnPropertyNames(class { static s() {} m() {} }.prototype));
