'use strict';
// Session snapshots, taken as the Python agent takes them (brig/_session.py,
// docs/ARCHITECTURE.md "A session"): a stopped copy of this process (the
// holder) keeps the heap exactly as it was, and the files of /tmp and the
// home directory are copied to /run/brig/snap.  The holder is an orphan, so
// the jail's init adopts it; init, not this agent, decides that it is the
// holder.  On restore init wakes the holder, which forks a new live guest,
// also init's child, that takes over the channel.
//
// node forks with brig's addon (src/node, bound at /opt/brig/native): it
// makes V8's heap inheritable, forks, and gives the copy its own event loop
// and process.pid.  Without the addon snapshots fail with NotSupported.

const fs = require('fs');

const SNAP_ROOT = '/run/brig/snap';
const TREES = [['/home/user', 'home'], ['/tmp', 'tmp']];
const ADDON = '/opt/brig/native/brig_node.node';
const FD = 3;
const REQ = 5;
// What snapshot() answers in a copy that a restore revived.
const RESTORED = Symbol('restored');
const CP = { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, force: true };

let addon; // undefined until first use; null when it cannot be loaded
let addonError = '';

function native() {
	if (addon === undefined) {
		try {
			addon = require(ADDON);
		} catch (err) {
			addon = null;
			addonError = String(err && err.message);
		}
	}
	return addon;
}

// ------------------------------------------------------------------ files

function listing(dir) {
	try {
		return fs.readdirSync(dir);
	} catch {
		return [];
	}
}

function saveState(folder) {
	for (const [src, name] of TREES) {
		const dst = folder + '/' + name;
		fs.mkdirSync(dst, { recursive: true });
		if (listing(src).length)
			fs.cpSync(src, dst, CP);
		fs.chmodSync(dst, fs.statSync(src).mode & 0o7777);
	}
}

/*
 * Put the snapshot's files back.  Copying is skipped when both the saved
 * tree and the live one are empty, the usual case, which then costs two
 * directory reads and two stats per tree.
 */
function restoreState(folder) {
	for (const [dst, name] of TREES) {
		const src = folder + '/' + name;
		const live = listing(dst);
		const saved = listing(src);
		for (const entry of live)
			fs.rmSync(dst + '/' + entry, { recursive: true, force: true });
		if (saved.length)
			fs.cpSync(src, dst, CP);
		const mode = fs.statSync(src).mode & 0o7777;
		if ((fs.statSync(dst).mode & 0o7777) !== mode)
			fs.chmodSync(dst, mode);
	}
}

// -------------------------------------------------------------- snapshots

function take(session, req) {
	const a = native();
	if (!a) {
		return [{ error: { type: 'NotSupported',
			message: 'JavaScript snapshots need brig\'s node addon, brig_node.node, which ' +
				'this build lacks (it is built only where node_api.h is found): ' + addonError } }];
	}
	session.snapshots++;
	// Made once here rather than in every copy: a context costs milliseconds.
	session.makeGc();
	const folder = SNAP_ROOT + '/' + process.pid + '-' + session.snapshots;
	saveState(folder);
	const r = a.snapshot();
	if (r.restored)
		return [RESTORED, { token: String(req.token), folder, loaded: req.loaded === true,
			holder: r.holder }];
	// The host asks init about the holder once this answer arrives: it must
	// be stopped by then.
	a.waitStopped(r.holder);
	return [{ ok: true }];
}

/*
 * A revived copy's first steps: become a process of its own, find the
 * host's token, and serve the restore.  Returns the restore's id and answer.
 */
function revive(session, info, parseRequest) {
	const a = native();
	// node's own exit joins platform threads that only the original has.
	process.reallyExit = (code) => a.exit(code | 0);
	session.reseed();
	session.ch.revived((fd) => a.setBlocking(fd, true), FD);
	session.ch.resync(Buffer.from(info.token));
	const frame = session.ch.readFrame();
	const { id, req } = frame.type === REQ ? parseRequest(frame) : { req: {} };
	if (req.op !== 'restore')
		throw new Error('brig agent: expected a restore request');
	restoreState(info.folder);
	// A kill right after this restore must find the holder stopped again.
	a.waitStopped(info.holder);
	return { id, answer: { ok: true, pid: process.pid, loaded: info.loaded } };
}

module.exports = { take, revive, RESTORED };
