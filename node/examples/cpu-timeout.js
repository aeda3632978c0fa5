// Combined CPU and wall-clock monitors: OR semantics, the CPU monitor fires
// first on compute-bound work, the wall clock is the backstop.
const { SandboxBuilder } = require('..');

async function main() {
	const proto = await new SandboxBuilder().build();
	const sandbox = await proto.loadRuntime();
	sandbox.addHandler('spin', `
		function handler() {
			let x = 0;
			for (;;) x = (x + 1) % 1000003;
		}
	`);
	const loaded = await sandbox.getLoadedSandbox();
	const snapshot = await loaded.snapshot();
	const start = Date.now();
	try {
		await loaded.callHandler('spin', {}, { wallClockTimeoutMs: 5000, cpuTimeoutMs: 500 });
		console.log('handler finished (unexpected)');
	} catch (err) {
		if (err.code !== 'ERR_CANCELLED')
			throw err;
		console.log(`CPU monitor fired after ${Date.now() - start} ms: ${err.code}`);
	}
	await loaded.restore(snapshot);
	console.log('restored, poisoned:', loaded.poisoned);
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
