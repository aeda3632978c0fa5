'use strict';
// The Node SDK's figures, one "key value" line each, for bench/bench.py:
// callHandler echo, restore + call, cold build + loadRuntime + first call,
// and run('0').  BENCH_CALLS sets the calls per warm figure.
const { SandboxBuilder, run } = require('..');

const CALLS = Number(process.env.BENCH_CALLS || 5000);
const COLD = Number(process.env.BENCH_COLD || 20);

const now = () => Number(process.hrtime.bigint()) / 1000; // µs

function pct(xs, p) {
	const s = [...xs].sort((a, b) => a - b);
	return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
}

function report(key, xs) {
	console.log(`${key}_p50_us ${pct(xs, 50).toFixed(1)}`);
	console.log(`${key}_p99_us ${pct(xs, 99).toFixed(1)}`);
}

async function loaded(lang) {
	const sandbox = await (await new SandboxBuilder().build()).loadRuntime({ lang });
	sandbox.addHandler('echo', lang === 'python' ? 'def handler(event):\n    return event\n'
		: 'function handler(event) { return event; }');
	return sandbox.getLoadedSandbox();
}

async function main() {
	for (const lang of ['js', 'python']) {
		const l = await loaded(lang);
		const event = { id: 1, name: 'echo' };
		const xs = [];
		for (let i = 0; i < CALLS + 100; i++) {
			const t0 = now();
			await l.callHandler('echo', event, { gc: false });
			if (i >= 100)
				xs.push(now() - t0);
		}
		report(`node_${lang}_echo`, xs);
		const snap = await l.snapshot();
		const rs = [];
		for (let i = 0; i < 200; i++) {
			const t0 = now();
			await l.restore(snap);
			await l.callHandler('echo', event, { gc: false });
			rs.push(now() - t0);
		}
		report(`node_${lang}_restore_call`, rs);
		await l.close();
	}
	const cold = [];
	for (let i = 0; i < COLD; i++) {
		const t0 = now();
		const l = await loaded('js');
		await l.callHandler('echo', {});
		cold.push(now() - t0);
		await l.close();
	}
	report('node_js_cold', cold);
	for (const lang of ['python', 'js']) {
		const rs = [];
		await run('0', { lang });
		for (let i = 0; i < COLD; i++) {
			const t0 = now();
			const r = await run('0', { lang });
			if (!r.ok)
				throw new Error(r.message);
			rs.push(now() - t0);
		}
		report(`node_run_${lang}`, rs);
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
