#!/bin/sh
# Run the integration, security and property suites again as an unprivileged user
# (uid 65534), the way brig runs for most embedders; then the integration and
# security suites once more through a brig daemon of that user's.
#
# Usage: tests/run-unprivileged.sh [pytest arguments...]
#
# When uid 65534 cannot reach the checkout (CI may clone into a private
# directory), the binary, the guest agents and the tests are copied into a
# fresh world-readable directory and BRIG_BIN / BRIG_GUEST_DIR /
# BRIG_NATIVE_DIR point there.
set -eu

UNPRIV_UID=65534
UNPRIV_GID=65534
PY=${PY:-/usr/bin/python3}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${BRIG_BIN:-$root/build/brig}
guest=${BRIG_GUEST_DIR:-$root/guest}
zygote=${BRIG_ZYGOTE_DIR:-$(dirname "$bin")/src/zygote}
# The node addon (JavaScript snapshots), when it was built.
native=${BRIG_NATIVE_DIR:-$(dirname "$bin")/src/node}
tests=$root/tests

die() {
	echo "run-unprivileged: $*" >&2
	exit 1
}

[ -x "$bin" ] || die "brig binary not found at $bin (build it first, or set BRIG_BIN)"
[ -r "$guest/python/agent.py" ] || die "guest agents not found in $guest (set BRIG_GUEST_DIR)"
# Absolute paths: the tests run from another directory.
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
guest=$(cd "$guest" && pwd)
[ -d "$native" ] && native=$(cd "$native" && pwd)

if [ "$(id -u)" -ne 0 ]; then
	# Already unprivileged: nothing to switch to.
	echo "run-unprivileged: running as uid $(id -u) already" >&2
	status=0
	BRIG_BIN=$bin BRIG_GUEST_DIR=$guest BRIG_NATIVE_DIR=$native "$PY" -m pytest -p no:cacheprovider -q \
		"$tests/integration" "$tests/security" "$tests/property" "$tests/serve" "$tests/compat" "$tests/sdk_python" "$@" || status=$?
	BRIG_BIN=$bin BRIG_GUEST_DIR=$guest BRIG_NATIVE_DIR=$native "$PY" -m pytest -p no:cacheprovider -q --brig-daemon \
		"$tests/integration" "$tests/security" "$@" || status=1
	exit $status
fi
command -v setpriv >/dev/null 2>&1 || die "setpriv (util-linux) is required"

as_nobody() {
	setpriv --reuid=$UNPRIV_UID --regid=$UNPRIV_GID --clear-groups "$@"
}

# Can the unprivileged user run the binary and read everything the tests need?
reachable() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	as_nobody sh -c '
		test -x "$1" && test -r "$2/python/agent.py" && test -r "$3/conftest.py" &&
		test -r "$3/helpers.py" && test -r "$3/security/test_protocol.py" &&
		test -r "$3/integration/test_cli.py" &&
		{ test ! -e "$4/brig_node.node" || test -r "$4/brig_node.node"; }' \
		_ "$bin" "$guest" "$tests" "$native" 2>/dev/null
}

# /tmp, not $TMPDIR: root's TMPDIR may be private, /tmp never is.
work=$(mktemp -d /tmp/brig-unpriv.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
chmod 755 "$work"

if reachable; then
	run_tests=$tests
	run_bin=$bin
	run_guest=$guest
	run_zygote=$zygote
	run_native=$native
else
	echo "run-unprivileged: uid $UNPRIV_UID cannot reach $root; using copies in $work" >&2
	mkdir -p "$work/build/tests" "$work/guest" "$work/tests"
	cp "$bin" "$work/build/brig"
	for t in test_capi test_session test_hostcall test_fault test_zygote test_warm test_artifacts session_values test_mount_commit test_egress; do
		[ -x "$(dirname "$bin")/tests/$t" ] && cp "$(dirname "$bin")/tests/$t" "$work/build/tests/"
	done
	mkdir -p "$work/build/src/zygote"
	cp "$zygote"/*.so "$zygote"/*.node "$work/build/src/zygote/" 2>/dev/null || true
	cp -R "$guest/." "$work/guest/"
	# The Python SDK's build-tree package (tests/sdk_python imports it).
	[ -d "$(dirname "$bin")/python/brig" ] && cp -R "$(dirname "$bin")/python" "$work/build/"
	mkdir -p "$work/native"
	[ -r "$native/brig_node.node" ] && cp "$native/brig_node.node" "$work/native/"
	cp -R "$tests/." "$work/tests/"
	find "$work/tests" -name __pycache__ -prune -exec rm -rf {} +
	chmod -R a+rX,go-w "$work/build" "$work/guest" "$work/native" "$work/tests"
	run_tests=$work/tests
	run_bin=$work/build/brig
	run_guest=$work/guest
	run_zygote=$work/build/src/zygote
	run_native=$work/native
	# shellcheck disable=SC2016 # expanded by the inner shell
	as_nobody sh -c 'test -x "$1" && test -r "$2/python/agent.py"' _ "$run_bin" "$run_guest" ||
		die "uid $UNPRIV_UID cannot use the copies in $work either (is $work below a private directory?)"
fi

# pytest's temporary directories and HOME must be writable by that user.
mkdir -p "$work/pytest" "$work/home"
chown $UNPRIV_UID:$UNPRIV_GID "$work/pytest" "$work/home"

# pytest as that user, on the copies or the checkout.
as_tester() {
	as_nobody env HOME="$work/home" TMPDIR="$work/pytest" BRIG_BIN="$run_bin" \
		BRIG_GUEST_DIR="$run_guest" BRIG_ZYGOTE_DIR="$run_zygote" \
		BRIG_NATIVE_DIR="$run_native" BRIG_SOURCE_ROOT="$root" \
		PYTHONDONTWRITEBYTECODE=1 "$PY" -m pytest "$@"
}

cd "$work"
status=0
as_tester -p no:cacheprovider -q --basetemp="$work/pytest/base" \
	"$run_tests/integration" "$run_tests/security" "$run_tests/property" "$run_tests/serve" "$run_tests/compat" \
	"$run_tests/sdk_python" "$@" || status=$?

# The suites that drive the CLI, through a daemon of uid 65534's.
echo "run-unprivileged: through a brig daemon" >&2
as_tester -p no:cacheprovider -q --brig-daemon --basetemp="$work/pytest/based" \
	"$run_tests/integration" "$run_tests/security" "$@" || status=1

# The C API suites (and the rwc commit's unit test, which has unprivileged
# cases) too, when they were built beside the binary.
for t in test_capi test_session test_hostcall test_fault test_zygote test_warm test_artifacts test_mount_commit test_egress; do
	exe=$(dirname "$run_bin")/tests/$t
	[ -x "$exe" ] || continue
	echo "run-unprivileged: $t" >&2
	as_nobody env HOME="$work/home" BRIG_GUEST_DIR="$run_guest" BRIG_ZYGOTE_DIR="$run_zygote" \
		BRIG_NATIVE_DIR="$run_native" "$exe" || status=1
done
# The Node SDK's suites, when its addon was built beside the binary: the
# package is copied where that user can read it, the addon into its build/.
sdk=$(dirname "$bin")/node/brig_sdk.node
if [ -r "$sdk" ] && command -v node >/dev/null 2>&1; then
	echo "run-unprivileged: node SDK" >&2
	mkdir -p "$work/node/build"
	cp -R "$root/node/index.js" "$root/node/package.json" "$root/node/test" \
		"$root/node/examples" "$work/node/"
	cp "$sdk" "$work/node/build/"
	chmod -R a+rX,go-w "$work/node"
	as_nobody env HOME="$work/home" TMPDIR="$work/pytest" BRIG_GUEST_DIR="$run_guest" \
		BRIG_ZYGOTE_DIR="$run_zygote" BRIG_NATIVE_DIR="$run_native" \
		node --test "$work"/node/test/*.test.js || status=1
fi
exit $status
