#!/usr/bin/env bash
# The thread pool's stress test (pool_stress.cpp), with a competing CPU-bound process running:
# once optimised (forks included), once under ThreadSanitizer (no fork: TSan does not follow a
# multi-threaded fork). Fails on a wrong result, a lost exception, a hang or any TSan report.
#
#   tests/pool/run.sh [repetitions=1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${1:-1000}
CXX=${CXX:-g++}
WORK=$(mktemp -d /tmp/pyrnn-pool.XXXXXX)
busy() { while :; do :; done; }
busy & COMPETITOR=$!
trap 'kill $COMPETITOR 2>/dev/null || true; rm -rf "$WORK"' EXIT

SRCS="csrc/parallel.cpp csrc/cpu.cpp tests/pool/pool_stress.cpp"
DEFS=""
case "$(uname -m)" in x86_64|amd64) DEFS="-DPYRNN_X86=1" ;; esac

echo "== pool stress, -O2, $REPS repetitions, 1-8 threads on $(nproc) cores, one competing process"
$CXX -std=c++17 -O2 -g -Icsrc $DEFS $SRCS -o "$WORK/stress" -pthread
"$WORK/stress" "$REPS" 900 1

TSAN_REPS=$(( REPS / 4 > 0 ? REPS / 4 : 1 ))
echo "== pool stress under ThreadSanitizer, $TSAN_REPS repetitions"
$CXX -std=c++17 -O1 -g -fsanitize=thread -Icsrc $DEFS $SRCS -o "$WORK/stress-tsan" -pthread
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$WORK/stress-tsan" "$TSAN_REPS" 1800 0
