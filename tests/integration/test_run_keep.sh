#!/usr/bin/env bash
# test_run_keep.sh - `MV_RUN_KEEP=1 make run` is stopped as its message says, by SIGTERM (or
# Ctrl-C's SIGINT): the run then stops the deployment, verifies the audit logs and exits 0, so
# that `make` does not report a failure. (scripts/run.sh on a small workload; make only passes
# the script's status on.)
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# keep_and_stop SIGNAL : runs the kept run, sends SIGNAL to the script once it waits, and
# checks that it ended well.
keep_and_stop() {
  local out=$TMP/run-$1.out rc=0
  # A background job of a script starts with SIGINT ignored, and bash cannot trap a signal
  # ignored on entry; from a terminal it is not, so give the run the default back first.
  MV_RUN_KEEP=1 MV_RUN_PRESCRIPTIONS=20 python3 -c \
    'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
    bash "$ROOT/scripts/run.sh" "$MV" > "$out" 2>&1 &
  local run=$!
  PIDS+=("$run")
  wait_for 300 file_has "$out" "MV_RUN_KEEP=1: the deployment keeps running" \
    || { cat "$out" >&2; fail "the kept run did not reach its wait"; }
  local dir
  dir=$(sed -n 's/^MV_RUN_KEEP=1: the deployment keeps running in \(.*\); Ctrl-C.*/\1/p' "$out")
  [ -f "$dir/ready" ] || fail "the kept deployment is not running ($dir)"
  kill "-$1" "$run"
  wait_for 60 gone "$run" || fail "the run ignored SIG$1"
  wait "$run" || rc=$?
  [ "$rc" -eq 0 ] || { tail -20 "$out" >&2; fail "SIG$1 made the kept run exit $rc, not 0"; }
  grep -q '^done\.$' "$out" || fail "after SIG$1 the run did not finish its stop (no 'done.')"
  [ ! -e "$dir" ] || fail "after SIG$1 the run left its deployment directory behind"
  pass "MV_RUN_KEEP=1 run stopped with SIG$1: deployment stopped, logs verified, exit 0"
}
keep_and_stop TERM
keep_and_stop INT
