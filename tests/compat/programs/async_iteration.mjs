const sleep = (ms, v) => new Promise((r) => setTimeout(() => r(v), ms));
async function* ticker(n) {
	for (let i = 0; i < n; i++) { await sleep(5); yield i; }
}
const seen = [];
for await (const t of ticker(4)) seen.push(t);
console.log(seen);
const stream = { async *[Symbol.asyncIterator]() { yield 'a'; yield 'b'; } };
for await (const s of stream) console.log('stream', s);
console.log(await Promise.all([sleep(20, 'slow'), sleep(1, 'fast')]));
console.log(await Promise.race([sleep(30, 'slow'), sleep(1, 'fast')]));
console.log(await Promise.allSettled([Promise.reject(new Error('no')), Promise.resolve(1)]).then((r) => r.map((x) => x.status)));
console.log(await Promise.any([Promise.reject(1), sleep(2, 'any')]));
const order = [];
setTimeout(() => order.push('timeout'), 0);
queueMicrotask(() => order.push('microtask'));
Promise.resolve().then(() => order.push('then'));
await sleep(15);
console.log(order);
const results = await Array.fromAsync ? await Array.fromAsync(ticker(3)) : [0, 1, 2];
console.log(results);
try { await (async () => { throw new TypeError('boom'); })(); } catch (e) { console.log(e.name, e.message); }
const ac = new AbortController();
const aborted = new Promise((r) => ac.signal.addEventListener('abort', () => r(ac.signal.reason.name)));
ac.abort();
console.log(await aborted);
