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

# wait_for SECONDS CMD [ARGS...] : runs CMD every 0.1 s until it succeeds; returns 1 if it
# has not succeeded SECONDS (a whole number) after the first try. Tests wait with this for
# the state they need, never with a bare sleep: a sleep is too short on a loaded machine and
# too long everywhere else.
wait_for() {
  local end=$(( ${EPOCHREALTIME/./} + $1 * 1000000 ))
  shift
  until "$@"; do
    [ "${EPOCHREALTIME/./}" -lt "$end" ] || return 1
    sleep 0.1
  done
}
# gone PID : the process has exited.
gone() { ! kill -0 "$1" 2>/dev/null; }
# nonempty FILE : FILE exists and is not empty (a port file once its daemon listens).
nonempty() { [ -s "$1" ]; }
# file_has FILE REGEX : FILE exists and has a line matching REGEX (grep's basic syntax).
file_has() { grep -q -- "$2" "$1" 2>/dev/null; }
# metric URL DIR NAME : the value of the unlabelled metric NAME at URL/metrics, read with the
# bearer token of the daemon whose state directory is DIR; 0 while it is not there.
metric() {
  { curl -s -m 5 -H "Authorization: Bearer $(cat "$2/metrics.token")" "$1/metrics" || true; } \
    | awk -v n="$3" '$1 == n {v = $2} END {print v + 0}'
}

# stop_pid PID : SIGTERM and wait; fails the test unless it exits 0 within 10 s.
stop_pid() {
  local p=$1 rc=0
  kill -TERM "$p"
  wait_for 10 gone "$p" || fail "process $p ignored SIGTERM"
  wait "$p" || rc=$?
  [ "$rc" -eq 0 ] || fail "process $p exited with status $rc after SIGTERM"
}

# up_settled : `medvault up` (pid UP) is ready, or has exited.
up_settled() { [ -f "$TMP/mv/ready" ] || gone "$UP"; }
# wait_up [ERR_FILE] : waits up to 90 s for `medvault up` (pid UP) to write $TMP/mv/ready;
# fails the test, with ERR_FILE (default $TMP/up.err) and the services' logs, if it does not.
wait_up() {
  wait_for 90 up_settled && [ -f "$TMP/mv/ready" ] && return 0
  cat "${1:-$TMP/up.err}" "$TMP"/mv/logs/*.log >&2 || true
  fail "medvault up did not become ready"
}

# start_up [ARGS...] : `medvault up --dir $TMP/mv --json ARGS` in the background; waits for
# $TMP/mv/ready. Its pid is in UP (and PIDS), its report in $TMP/up.json, its stderr in
# $TMP/up.err; fails the test (with up's and the services' logs) if it does not get ready.
start_up() {
  "$MV" up --dir "$TMP/mv" --json "$@" > "$TMP/up.json" 2> "$TMP/up.err" &
  UP=$!
  PIDS+=("$UP")
  wait_up
}
