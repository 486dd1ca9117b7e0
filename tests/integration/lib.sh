# lib.sh - helpers for the shell integration tests: real medvault processes on loopback,
# each stopped by its own pid when the test ends.
set -euo pipefail

MV=${MEDVAULT_BIN:?MEDVAULT_BIN must point at the medvault binary}
TMP=$(mktemp -d /tmp/mvit.XXXXXX)
PIDS=()
export MV_LOG=${MV_LOG:-warn}
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/cluster.sh"

cleanup() {
  stop_all
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

# stop_pid PID : SIGTERM and wait; fails the test unless it exits 0 within 10 s.
stop_pid() {
  local p=$1 rc=0
  kill -TERM "$p"
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && fail "process $p ignored SIGTERM"
  wait "$p" || rc=$?
  [ "$rc" -eq 0 ] || fail "process $p exited with status $rc after SIGTERM"
}

# start_up [ARGS...] : `medvault up --dir $TMP/mv --json ARGS` in the background; waits for
# $TMP/mv/ready. Its pid is in UP (and PIDS), its report in $TMP/up.json, its stderr in
# $TMP/up.err; fails the test (with up's and the services' logs) if it does not get ready.
start_up() {
  "$MV" up --dir "$TMP/mv" --json "$@" > "$TMP/up.json" 2> "$TMP/up.err" &
  UP=$!
  PIDS+=("$UP")
  for _ in $(seq 900); do [ -f "$TMP/mv/ready" ] && return 0; kill -0 "$UP" 2>/dev/null || break; sleep 0.1; done
  cat "$TMP/up.err" "$TMP"/mv/logs/*.log >&2 || true
  fail "medvault up did not become ready"
}
