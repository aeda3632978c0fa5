// The sandbox lifecycle: build, load the runtime, add a handler, call it.
const { SandboxBuilder } = require('..');

async function main() {
	const proto = await new SandboxBuilder().build();
	const sandbox = await proto.loadRuntime();
	sandbox.addHandler('greet', `
		function handler(event) {
			event.message = 'Hello, ' + event.name + '!';
			return event;
		}
	`);
	const loaded = await sandbox.getLoadedSandbox();
	const result = await loaded.callHandler('greet', { name: 'World' });
	console.log(result);
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
