// JSON event processing: one handler, several operations.
const { SandboxBuilder } = require('..');

async function main() {
	const proto = await new SandboxBuilder().build();
	const sandbox = await proto.loadRuntime();
	sandbox.addHandler('calc', `
		function handler(event) {
			const { op, a, b } = event;
			switch (op) {
			case 'add': return { result: a + b };
			case 'sub': return { result: a - b };
			case 'mul': return { result: a * b };
			case 'div':
				if (b === 0) throw new Error('division by zero');
				return { result: a / b };
			default: throw new Error('unknown operation ' + op);
			}
		}
	`);
	const loaded = await sandbox.getLoadedSandbox();
	for (const event of [{ op: 'add', a: 2, b: 3 }, { op: 'sub', a: 10, b: 4 },
		{ op: 'mul', a: 6, b: 7 }, { op: 'div', a: 1, b: 4 }]) {
		const { result } = await loaded.callHandler('calc', event);
		console.log(`${event.a} ${event.op} ${event.b} = ${result}`);
	}
	try {
		await loaded.callHandler('calc', { op: 'div', a: 1, b: 0 });
	} catch (err) {
		console.log(`div by zero: ${err.code}: ${err.message.split('\n')[0]}`);
	}
}

main().catch((err) => {
	console.error(err);
	process.exit(1);
});
