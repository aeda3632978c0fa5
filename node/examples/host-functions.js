// Host functions: guest handlers import them from "host:<module>" and call
// them synchronously; async callbacks are awaited by the bridge.
const { SandboxBuilder } = require('..');

async function main() {
	const proto = await new SandboxBuilder().build();
	proto.hostModule('math')
		.register('add', (a, b) => a + b)
		.register('mul', (a, b) => a * b);
	proto.register('db', 'lookup', async (id) => {
		await new Promise((resolve) => setTimeout(resolve, 5));
		return { id, name: 'user' + id };
	});
	const sandbox = await proto.loadRuntime();
	sandbox.addHandler('compute', `
		import * as math from 'host:math';
		import { lookup } from 'host:db';
		function handler(event) {
			return { sum: math.add(event.a, event.b), product: math.mul(event.a, event.b),
				user: lookup(event.id) };
		}
	`);
	const loaded = await sandbox.getLoadedSandbox();
	console.log(await loaded.callHandler('compute', { a: 6, b: 7, id: 42 }));
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
