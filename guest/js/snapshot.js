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

// Copy /tmp and the home directory into folder; returns what restoreState
// needs: each live tree, its copy, whether it was empty, and its mode.
// What restoreState calls runs once here too: a copy inherits the compiled
// code instead of compiling it for every restore.
function saveState(folder) {
	return TREES.map(([live, name]) => {
		const copy = folder + '/' + name;
		const empty = fs.readdirSync(live).length === 0;
		const mode = fs.statSync(live).mode & 0o7777;
		fs.mkdirSync(copy, { recursive: true });
		if (!empty)
			fs.cpSync(live, copy, CP);
		fs.readdirSync(live);
		fs.chmodSync(live, mode);
		return { live, copy, empty, mode };
	});
}

/*
 * Put the snapshot's files back.  When the snapshot's tree was empty and the
 * live one is too, nothing is copied: the usual case.
 */
function restoreState(trees) {
	for (const { live, copy, empty, mode } of trees) {
		// The mode first: the guest may have made the live tree unreadable.
		fs.chmodSync(live, mode);
		if (!empty || fs.readdirSync(live).length !== 0) {
			for (const entry of fs.readdirSync(live))
				fs.rmSync(live + '/' + entry, { recursive: true, force: true });
			fs.cpSync(copy, live, CP);
			fs.chmodSync(live, mode); // the copy's mode came with it
		}
	}
}

// What restoreState does, without its effects (a spare's rehearsal): the
// mode is set on the snapshot's copy, which has it already.
function rehearse(trees) {
	for (const { live, copy } of trees) {
		fs.readdirSync(live);
		fs.chmodSync(copy, fs.statSync(copy).mode & 0o7777);
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
	let trees;
	try {
		trees = saveState(folder);
	} catch (err) {
		// A FIFO, an unreadable file: no snapshot.
		return [{ error: { type: 'OSError', message: String(err && err.message) } }];
	}
	const r = a.snapshot();
	if (r.restored) {
		// A spare the holder made: get ready, then wait for a restore.
		session.ready(() => rehearse(trees));
		a.stop();
		return [RESTORED, { token: String(req.token), trees, loaded: req.loaded === true,
			holder: r.holder }];
	}
	// The host asks init about the holder once this answer arrives: it must
	// be stopped by then.
	a.waitStopped(r.holder);
	return [{ ok: true }];
}

/*
 * A woken spare's first steps: take over the channel from the dead guest,
 * find the host's token, and serve the restore.  Returns the restore's id
 * and answer.
 */
function revive(session, info, parseRequest) {
	const a = native();
	// node's own exit joins platform threads that only the original has.
	process.reallyExit = (code) => a.exit(code | 0);
	session.ch.revived((fd) => a.setBlocking(fd, true), FD);
	session.ch.resync(Buffer.from(info.token));
	const frame = session.ch.readFrame();
	const { id, req } = frame.type === REQ ? parseRequest(frame) : { req: {} };
	if (req.op !== 'restore')
		throw new Error('brig agent: expected a restore request');
	restoreState(info.trees);
	return { id, answer: { ok: true, pid: process.pid, loaded: info.loaded } };
}

module.exports = { take, revive, RESTORED };
