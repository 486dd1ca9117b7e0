#!/usr/bin/env bash
# Known keys through real key-server processes:
# - t = n = 1 with the RFC 9497 A.1.2 VOPRF key: outputs equal the RFC vectors;
# - the 2-of-3 sharing of that key from tests/vectors (threshold set, not from an RFC):
#   outputs equal the RFC vectors through every pair of servers;
# - a server evaluating with a wrong (but self-consistent) share is detected, named and skipped.
source "$(dirname "$0")/lib.sh"
V=${MV_VECTORS_DIR:?}/rfc9497-ristretto255-sha512.json
DEALER=${MV_DEALER_BIN:?}

make_hospital
make_user bob doctor neurology

SK=$(json_get "$V" '[m for m in d["modes"] if m["mode"]==1][0]["skSm"]')
PK=$(json_get "$V" '[m for m in d["modes"] if m["mode"]==1][0]["pkSm"]')
IN1=$(json_get "$V" '[m for m in d["modes"] if m["mode"]==1][0]["vectors"][0]["Input"][0]')
OUT1=$(json_get "$V" '[m for m in d["modes"] if m["mode"]==1][0]["vectors"][0]["Output"][0]')
IN2=$(json_get "$V" '[m for m in d["modes"] if m["mode"]==1][0]["vectors"][1]["Input"][0]')
OUT2=$(json_get "$V" '[m for m in d["modes"] if m["mode"]==1][0]["vectors"][1]["Output"][0]')


# --- t = n = 1, the RFC key ---
"$MV" keyserver init --dir "$TMP/ks9" > /dev/null
"$MV" keyserver import-share --dir "$TMP/ks9" --index 1 --threshold 1 --share "$SK" --public-shares "$PK" > /dev/null
PORT[9]=$(free_port); start_keyserver 9
wait_http "http://127.0.0.1:${PORT[9]}/v1/info" || fail "RFC-key server did not start"
"$MV" deployment create --hospital-dir "$TMP/hospital" --keyserver "http://127.0.0.1:${PORT[9]}" --out "$TMP/rfc.json" > /dev/null
[ "$(json_get "$TMP/rfc.json" 'd["group_public_key"]')" = "$PK" ] || fail "group key is not pkSm"
"$MV" oprf --deployment "$TMP/rfc.json" --user "$TMP/bob" "$IN1" "$IN2" > "$TMP/rfc.out"
[ "$(sed -n 1p "$TMP/rfc.out")" = "$OUT1" ] || fail "output 1 differs from RFC 9497 A.1.2 vector 1"
[ "$(sed -n 2p "$TMP/rfc.out")" = "$OUT2" ] || fail "output 2 differs from RFC 9497 A.1.2 vector 2"
pass "t=n=1 with the RFC key reproduces RFC 9497 A.1.2 outputs"

# Import refuses a share that does not match its public share.
if "$MV" keyserver import-share --dir "$TMP/bad" --index 1 --threshold 1 --share "$SK" \
     --public-shares "$(json_get "$V" 'd["threshold_extension_vectors_not_in_rfc"]["shares"][0]["pk_i"]')" 2> "$TMP/bad.err"; then
  fail "import accepted a mismatched share"
fi
[ ! -e "$TMP/bad/share.json" ] || fail "a refused import wrote a share"
grep -q "does not match" "$TMP/bad.err" || fail "no clear message for a mismatched share"
pass "import-share refuses a share that does not match its public share"

# --- the 2-of-3 threshold set (shares of the same RFC key) ---
PUBS=$(json_get "$V" '",".join(s["pk_i"] for s in d["threshold_extension_vectors_not_in_rfc"]["shares"])')
srv=()
for i in 1 2 3; do
  SH=$(json_get "$V" "d['threshold_extension_vectors_not_in_rfc']['shares'][$((i-1))]['k_i']")
  "$MV" keyserver init --dir "$TMP/ks$i" > /dev/null
  "$MV" keyserver import-share --dir "$TMP/ks$i" --index "$i" --threshold 2 --share "$SH" --public-shares "$PUBS" > /dev/null
  PORT[$i]=$(free_port); start_keyserver "$i"
  srv+=(--keyserver "http://127.0.0.1:${PORT[$i]}")
done
for i in 1 2 3; do wait_http "http://127.0.0.1:${PORT[$i]}/v1/info" || fail "server $i did not start"; done
"$MV" deployment create --hospital-dir "$TMP/hospital" "${srv[@]}" --out "$TMP/t23.json" > /dev/null
[ "$(json_get "$TMP/t23.json" 'd["group_public_key"]')" = "$PK" ] || fail "2-of-3 group key is not pkSm"
"$MV" oprf --deployment "$TMP/t23.json" --user "$TMP/bob" --in-order "$IN1" > "$TMP/t23.out"
[ "$(cat "$TMP/t23.out")" = "$OUT1" ] || fail "2-of-3 output (servers 1,2) differs from the RFC output"
stop_pid "${KSPID[1]}"
"$MV" oprf --deployment "$TMP/t23.json" --user "$TMP/bob" --in-order "$IN1" "$IN2" > "$TMP/t23b.out" 2>/dev/null
[ "$(sed -n 1p "$TMP/t23b.out")" = "$OUT1" ] && [ "$(sed -n 2p "$TMP/t23b.out")" = "$OUT2" ] \
  || fail "2-of-3 outputs (servers 2,3) differ from the RFC outputs"
start_keyserver 1
wait_http "http://127.0.0.1:${PORT[1]}/v1/info" || fail "server 1 did not restart"
pass "2-of-3 sharing of the RFC key gives the RFC outputs through servers {1,2} and {2,3}"

# --- server 2 evaluates with a wrong share (a different, self-consistent sharing) ---
stop_pid "${KSPID[2]}"
"$DEALER" 2 3 > "$TMP/other.json"
OSH=$(json_get "$TMP/other.json" 'd["shares"][1]')
OPUBS=$(json_get "$TMP/other.json" '",".join(d["public_shares"])')
"$MV" keyserver import-share --dir "$TMP/ks2" --index 2 --threshold 2 --share "$OSH" --public-shares "$OPUBS" --force > /dev/null
start_keyserver 2
wait_http "http://127.0.0.1:${PORT[2]}/v1/info" || fail "server 2 did not restart"
"$MV" oprf --deployment "$TMP/t23.json" --user "$TMP/bob" --in-order --json "$IN1" "$IN2" > "$TMP/wrong.json" 2> "$TMP/wrong.err"
[ "$(json_get "$TMP/wrong.json" 'd["servers"][1]["status"]')" = bad-proof ] || fail "wrong evaluation not detected"
[ "$(json_get "$TMP/wrong.json" 'd["servers"][2]["status"]')" = ok ] || fail "server 3 not asked after server 2 failed"
[ "$(json_get "$TMP/wrong.json" 'd["outputs"][0]')" = "$OUT1" ] || fail "output wrong despite skipping server 2"
[ "$(json_get "$TMP/wrong.json" 'd["outputs"][1]')" = "$OUT2" ] || fail "output 2 wrong despite skipping server 2"
grep -q "key server 2: bad-proof" "$TMP/wrong.err" || fail "misbehaving server not named"
pass "a server returning a wrong evaluation is detected, named and skipped"

# With two bad servers out of three there is no honest quorum: a clear error, no output.
stop_pid "${KSPID[3]}"
if "$MV" oprf --deployment "$TMP/t23.json" --user "$TMP/bob" --in-order "$IN1" > "$TMP/none.out" 2> "$TMP/none.err"; then
  fail "evaluation succeeded without t honest servers"
fi
[ ! -s "$TMP/none.out" ] || fail "output printed without t honest servers"
grep -q "not enough servers" "$TMP/none.err" || fail "no clear message without a quorum"
pass "fewer than t honest servers: refused with a clear error"
