#!/bin/sh
# Run the libFuzzer targets built in $FUZZ_BUILD (make fuzz), one after the
# other and single-process, for $FUZZ_SECONDS each, then print the executions
# of each and the total.  Arguments name targets (default: all).
#
# New inputs go to $FUZZ_BUILD/fuzz-corpus/<target>, crashes to
# $FUZZ_BUILD/fuzz-artifacts/.  With FUZZ_MERGE=1 the inputs that add
# coverage are merged into the checked-in corpus, tests/fuzz/corpus/<target>.
# Exit status 1 when any target found a crash, a leak or a hang.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
targets=${*:-$(cd "$here" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp}

mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
total=0
failed=""
printf '%-16s %14s %10s  %s\n' target executions exec/s result
for t in $targets; do
	bin=$build/tests/fuzz/fuzz_$t
	work=$build/fuzz-corpus/$t
	log=$build/fuzz-logs/$t.log
	mkdir -p "$work"
	set -- -max_total_time="$seconds" -timeout=60 -print_final_stats=1 \
		-artifact_prefix="$build/fuzz-artifacts/$t-"
	[ -f "$here/$t.dict" ] && set -- "$@" -dict="$here/$t.dict"
	result=ok
	"$bin" "$@" "$work" "$here/corpus/$t" >"$log" 2>&1 || result="FAILED (see $log)"
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	runs=${runs:-0}
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	printf '%-16s %14s %10s  %s\n' "$t" "$runs" "${rate:-0}" "$result"
	total=$((total + runs))
	[ "$result" = ok ] || failed="$failed $t"
	if [ "${FUZZ_MERGE:-0}" = 1 ] && [ "$result" = ok ]; then
		"$bin" -merge=1 "$here/corpus/$t" "$work" >>"$log" 2>&1
	fi
done
printf '%-16s %14s\n' total "$total"
[ -z "$failed" ] || { echo "failed:$failed" >&2; exit 1; }
