const events = [];
const t0 = performance.now();
await new Promise((done) => {
	let n = 0;
	const iv = setInterval(() => {
		events.push('interval' + ++n);
		if (n === 3) { clearInterval(iv); done(); }
	}, 10);
	const cancelled = setTimeout(() => events.push('never'), 5);
	clearTimeout(cancelled);
	setTimeout(() => events.push('t20'), 20);
	setTimeout(() => events.push('t1'), 1);
});
await new Promise((r) => setTimeout(r, 30));
// Timers of different delays may interleave on a loaded machine: compare sets.
console.log(events.filter((e) => e.startsWith('interval')), [...events].sort(), events.includes('never'));
console.log(performance.now() - t0 >= 30, typeof performance.timeOrigin);
const et = new EventTarget();
et.addEventListener('ping', (e) => console.log('event', e.type, e.detail));
et.dispatchEvent(new CustomEvent('ping', { detail: 42 }));
const start = Date.now();
while (Date.now() - start < 20);
console.log('busy done');
