// A wall-clock timeout kills a 4-second handler after 1 second; a snapshot
// brings the poisoned sandbox back.
const { SandboxBuilder } = require('..');

async function main() {
	const proto = await new SandboxBuilder().build();
	const sandbox = await proto.loadRuntime();
	sandbox.addHandler('slow', `
		function handler(event) {
			const end = Date.now() + event.ms;
			while (Date.now() < end) {}
			return { done: true };
		}
	`);
	const loaded = await sandbox.getLoadedSandbox();
	const snapshot = await loaded.snapshot();
	const start = Date.now();
	try {
		await loaded.callHandler('slow', { ms: 4000 }, { wallClockTimeoutMs: 1000 });
		console.log('handler finished (unexpected)');
	} catch (err) {
		if (err.code !== 'ERR_CANCELLED')
			throw err;
		console.log(`killed after ${Date.now() - start} ms: ${err.code}`);
	}
	console.log('poisoned:', loaded.poisoned);
	await loaded.restore(snapshot);
	console.log('poisoned after restore:', loaded.poisoned);
	console.log(await loaded.callHandler('slow', { ms: 10 }));
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
