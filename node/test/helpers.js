'use strict';
const assert = require('node:assert/strict');
const brig = require('..');

// A LoadedJSSandbox with these handlers ({name: code}); setup(proto) may
// register host functions, builder(b) configure the builder.
async function loadedWith(handlers, { setup, builder, lang } = {}) {
	const b = new brig.SandboxBuilder();
	if (builder)
		builder(b);
	const proto = await b.build();
	if (setup)
		setup(proto);
	const sandbox = await proto.loadRuntime(lang ? { lang } : undefined);
	for (const [name, code] of Object.entries(handlers))
		sandbox.addHandler(name, code);
	return sandbox.getLoadedSandbox();
}

// Asserts that fn() throws (or its promise rejects) with this code.
async function rejectsWith(fn, code) {
	await assert.rejects(async () => fn(), (err) => {
		assert.equal(err.code, code, 'expected ' + code + ', got ' + err.code + ': ' + err.message);
		return true;
	});
}

function throwsWith(fn, code) {
	assert.throws(fn, (err) => {
		assert.equal(err.code, code, 'expected ' + code + ', got ' + err.code + ': ' + err.message);
		return true;
	});
}

module.exports = { brig, loadedWith, rejectsWith, throwsWith };
