// Handler lifecycle: load handlers, unload them, load new ones.
const { SandboxBuilder } = require('..');

async function main() {
	const proto = await new SandboxBuilder().build();
	let sandbox = await proto.loadRuntime();
	sandbox.addHandler('counter', `
		let count = 0;
		function handler() { return { version: 1, count: ++count }; }
	`);
	let loaded = await sandbox.getLoadedSandbox();
	console.log(await loaded.callHandler('counter', {}));
	console.log(await loaded.callHandler('counter', {}));

	sandbox = await loaded.unload();
	sandbox.clearHandlers();
	sandbox.addHandler('counter', `
		let count = 100;
		function handler() { return { version: 2, count: ++count }; }
	`);
	loaded = await sandbox.getLoadedSandbox();
	console.log(await loaded.callHandler('counter', {}));
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
