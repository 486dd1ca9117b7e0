#!/usr/bin/env bash
# test_storage_crash.sh - kill -9 the storage server at random moments while a loader uploads
# blocks and records; after each restart on the same directory every acknowledged record (and
# both of its blocks) reads back byte for byte, and `medvault storage check` finds the store
# clean, both offline right after the kill and at the end.
source "$(dirname "$0")/lib.sh"

LOAD=${MV_STORAGE_LOAD_BIN:?MV_STORAGE_LOAD_BIN must point at mv_storage_load}
ROUNDS=${MV_CRASH_ROUNDS:-5}
DIR=$TMP/storage
ACKED=$TMP/acked.txt
: > "$ACKED"

make_hospital
make_user loader doctor cardiology

SPID=
start_storage() {
  rm -f "$TMP/port"
  "$MV" storage run --dir "$DIR" --listen 127.0.0.1:0 --hospital-key "$HK" --port-file "$TMP/port" \
    --threads 3 2>> "$TMP/storage.log" &
  SPID=$!
  PIDS+=("$SPID")
  wait_for 10 nonempty "$TMP/port" || fail "storage server did not start"
  URL="http://127.0.0.1:$(cat "$TMP/port")"
  wait_http "$URL/healthz" || fail "storage server not healthy"
}

check_clean() { # WHEN
  local out rc=0
  out=$("$MV" storage check --dir "$DIR" --json) || rc=$?
  [ "$rc" -eq 0 ] || { echo "$out" >&2; fail "storage check not clean $1"; }
  [ "$(echo "$out" | json_get - 'd["clean"]')" = True ] || fail "check output not clean $1"
}

verify_acked() { # WHEN
  "$LOAD" verify "$URL" "$TMP/loader" < "$ACKED" 2>> "$TMP/verify.log" ||
    { tail -3 "$TMP/verify.log" >&2; fail "an acknowledged record was lost $1"; }
}

RANDOM=$$
start_storage
for round in $(seq "$ROUNDS"); do
  # Two loaders at once (so uploads are group-committed together); each prints a record id
  # once the server acknowledged it.
  LPIDS=()
  for k in 0 1; do
    "$LOAD" load "$URL" "$TMP/loader" cardiology "$((round * 2 + k))" 100000 >> "$ACKED" 2>> "$TMP/load.log" &
    LPIDS+=("$!")
    PIDS+=("$!")
  done
  sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
  kill -KILL "$SPID"
  wait "$SPID" 2>/dev/null || true
  for p in "${LPIDS[@]}"; do
    lrc=0
    wait "$p" || lrc=$?
    [ "$lrc" -eq 3 ] || { tail -3 "$TMP/load.log" >&2; fail "loader ended with $lrc, not 'server gone' (round $round)"; }
  done
  check_clean "after kill $round"
  start_storage
  verify_acked "after kill $round"
  pass "round $round: $(wc -l < "$ACKED") acknowledged records intact after kill -9"
done

[ "$(wc -l < "$ACKED")" -gt 0 ] || fail "no record was ever acknowledged: the test proved nothing"
# A verifier that cannot fail proves nothing: an id that was never stored must be refused.
echo 00112233445566778899aabbccddeeff | "$LOAD" verify "$URL" "$TMP/loader" 2>/dev/null &&
  fail "verify accepted a record that was never stored"
stop_pid "$SPID"
check_clean "at the end"
pass "storage survives kill -9 with every acknowledged record intact"
