#!/bin/sh
# SPDX-License-Identifier: MIT
# Build every fuzz harness and run each for SECONDS (default 30) against its
# committed seed corpus. New inputs go to a temporary directory, never into
# fuzz/corpus/; a crash leaves its reproducer under build/fuzz/artifacts/.
#
#   fuzz/run.sh [SECONDS] [HARNESS...]   e.g. fuzz/run.sh 60 http host
#   fuzz/run.sh --replay                 re-run fuzz/crashes/*/* once each
#
# Environment: FUZZ_SKIP="tag,tag" mutes invariants by tag (see fuzz/fuzz.h),
# FUZZ_KEEP=1 keeps the temporary corpora, FUZZ_WORKDIR=DIR uses (and keeps)
# DIR instead so a later run continues from it, FUZZ_JOBS=N runs N harnesses
# at once (default 1). Exits non-zero when any harness found something.
set -eu

cd "$(dirname "$0")/.."
BUILD=${FUZZ_BUILD:-build/fuzz}
ALL="http host config htpasswd hosts pattern auth url rewrite proxyurl redact request sni status proxyproto"

make -s -f fuzz/Makefile.fuzz FUZZ_BUILD="$BUILD" -j"$(nproc)"

if [ "${1:-}" = "--replay" ]; then
	status=0
	for dir in fuzz/crashes/*/; do
		[ -d "$dir" ] || continue
		name=$(basename "$dir")
		for f in "$dir"*; do
			case $f in *.txt|*.md|*.py) continue ;; esac
			[ -f "$f" ] || continue
			if "$BUILD/fuzz_$name" "$f" >"$BUILD/replay.log" 2>&1; then
				echo "  fixed   $f"
			else
				echo "  FAILS   $f: $(grep -m1 -E \
				    'INVARIANT|ERROR: AddressSanitizer|runtime error' \
				    "$BUILD/replay.log" | cut -c1-150)"
				status=1
			fi
		done
	done
	exit $status
fi

SECONDS_EACH=${1:-30}
[ $# -gt 0 ] && shift
HARNESSES=${*:-$ALL}
if [ -n "${FUZZ_WORKDIR:-}" ]; then
	TMP=$FUZZ_WORKDIR
	mkdir -p "$TMP"
else
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")
	[ "${FUZZ_KEEP:-0}" = 1 ] || trap 'rm -rf "$TMP"' EXIT
fi
mkdir -p "$BUILD/artifacts"

run_one() {
	name=$1
	mkdir -p "$TMP/$name" "$BUILD/artifacts/$name"
	# The temporary directory comes first: libFuzzer writes new inputs
	# into the first corpus directory only.
	"$BUILD/fuzz_$name" -max_total_time="$SECONDS_EACH" \
	    -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$BUILD/artifacts/$name/" \
	    "$TMP/$name" "fuzz/corpus/$name" >"$BUILD/$name.log" 2>&1
}

summary() {
	name=$1 rc=$2 log="$BUILD/$1.log"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -E '^#[0-9]+' "$log" | tail -1 |
	    sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1, ft \2/p')
	if [ "$rc" = 0 ]; then
		printf '  ok      %-9s %s execs, %s/s, %s, corpus +%s\n' \
		    "$name" "${execs:-?}" "${speed:-?}" "${cov:-?}" \
		    "$(ls "$TMP/$name" | wc -l)"
	else
		printf '  FOUND   %-9s %s\n' "$name" "$(grep -m1 -E \
		    'INVARIANT|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' \
		    "$log" | cut -c1-150)"
		printf '          log %s, reproducer %s\n' "$log" \
		    "$(ls -t "$BUILD/artifacts/$name/" | head -1 |
		    sed "s|^|$BUILD/artifacts/$name/|")"
	fi
}

echo "fuzzing for ${SECONDS_EACH}s each: $HARNESSES"
status=0
set -- $HARNESSES
while [ $# -gt 0 ]; do
	batch=""
	n=0
	while [ $# -gt 0 ] && [ $n -lt "${FUZZ_JOBS:-1}" ]; do
		name=$1
		shift
		n=$((n + 1))
		( run_one "$name" && echo 0 >"$TMP/$name.rc" ||
		    echo $? >"$TMP/$name.rc" ) &
		batch="$batch $name"
	done
	wait
	for name in $batch; do
		rc=$(cat "$TMP/$name.rc")
		summary "$name" "$rc"
		[ "$rc" = 0 ] || status=1
	done
done
exit $status
