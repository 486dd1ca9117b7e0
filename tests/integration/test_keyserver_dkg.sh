#!/usr/bin/env bash
# DKG among three real key-server processes, threshold evaluation through them, a server
# that is down is skipped, proactive refresh keeps every output while renewing every share,
# and an old share no longer verifies against the refreshed public shares.
source "$(dirname "$0")/lib.sh"

make_hospital
make_user alice doctor cardiology
make_user admin admin
dkg_cluster 3 2 || { cat "$TMP"/ks*.log >&2; fail "DKG did not finish"; }
D=$TMP/deployment.json

[ "$(json_get "$D" 'd["threshold"]')" = 2 ] || fail "threshold not 2"
[ "$(json_get "$D" 'len(d["keyservers"])')" = 3 ] || fail "not 3 key servers"
pass "three key servers ran a DKG; deployment written and consistent"

# No key-server directory holds the group secret: each share file holds one share, and the
# shares differ.
s1=$(json_get "$TMP/ks1/share.json" 'd["share"]'); s2=$(json_get "$TMP/ks2/share.json" 'd["share"]')
[ "$s1" != "$s2" ] || fail "two servers hold the same share"
[ "$(stat -c %a "$TMP/ks1/share.json")" = 600 ] || fail "share file is not 0600"
pass "shares are distinct and stored 0600"

IN1=00; IN2=5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
"$MV" oprf --deployment "$D" --user "$TMP/alice" --in-order "$IN1" "$IN2" > "$TMP/out12"
[ "$(wc -l < "$TMP/out12")" = 2 ] || fail "expected two outputs"
grep -Evq '^[0-9a-f]{128}$' "$TMP/out12" && fail "an output is not 64 bytes of lowercase hex"
for _ in 1 2 3; do
  "$MV" oprf --deployment "$D" --user "$TMP/alice" "$IN1" "$IN2" > "$TMP/outr"
  cmp -s "$TMP/out12" "$TMP/outr" || fail "outputs differ between server subsets"
done
pass "threshold evaluation is deterministic across server subsets"

# Server 1 down: the client skips it and still gets the same outputs.
stop_pid "${KSPID[1]}"
"$MV" oprf --deployment "$D" --user "$TMP/alice" --in-order --json "$IN1" "$IN2" > "$TMP/down.json" 2> "$TMP/down.err"
[ "$(json_get "$TMP/down.json" '[s["status"] for s in d["servers"]][0]')" = down ] || fail "server 1 not reported down"
[ "$(json_get "$TMP/down.json" '"\n".join(d["outputs"])')" = "$(cat "$TMP/out12")" ] || fail "outputs changed with server 1 down"
grep -q "key server 1: down" "$TMP/down.err" || fail "server 1 not named on stderr"
pass "a server that is down is skipped and named"

# Restart server 1 from its stored share (no new DKG).
start_keyserver 1
wait_http "http://127.0.0.1:${PORT[1]}/v1/info" || fail "server 1 did not restart"

# Proactive refresh: every share changes, the group key and outputs stay.
cp "$D" "$TMP/deployment.epoch0.json"
cp -a "$TMP/ks1" "$TMP/ks1-old"
"$MV" keyserver refresh --deployment "$D" --user "$TMP/admin" --json > "$TMP/refresh.json" \
  || { cat "$TMP"/ks*.log >&2; fail "refresh failed"; }
[ "$(json_get "$D" 'd["epoch"]')" = 1 ] || fail "deployment epoch not 1 after refresh"
N_KS=$(json_get "$D" 'len(d["keyservers"])')
printf '{"epoch":1,"servers":%s,"group_key_unchanged":true}\n' "$N_KS" | cmp -s - "$TMP/refresh.json" \
  || fail "refresh --json: the bytes differ from the pinned format: $(cat "$TMP/refresh.json")"
[ "$(json_get "$D" 'd["group_public_key"]')" = "$(json_get "$TMP/deployment.epoch0.json" 'd["group_public_key"]')" ] \
  || fail "group key changed"
for i in 0 1 2; do
  a=$(json_get "$D" "d['keyservers'][$i]['public_share']")
  b=$(json_get "$TMP/deployment.epoch0.json" "d['keyservers'][$i]['public_share']")
  [ "$a" != "$b" ] || fail "public share $((i+1)) did not change"
done
[ "$(json_get "$TMP/ks1/share.json" 'd["share"]')" != "$s1" ] || fail "share 1 did not change"
"$MV" oprf --deployment "$D" --user "$TMP/alice" --in-order "$IN1" "$IN2" > "$TMP/after"
cmp -s "$TMP/out12" "$TMP/after" || fail "outputs changed after refresh"
pass "refresh renewed every share; group key and outputs unchanged"

# The old share of server 1 no longer verifies: serve it where server 1 was.
stop_pid "${KSPID[1]}"
mv "$TMP/ks1" "$TMP/ks1-new"; mv "$TMP/ks1-old" "$TMP/ks1"
start_keyserver 1
wait_http "http://127.0.0.1:${PORT[1]}/v1/info" || fail "old server 1 did not start"
"$MV" oprf --deployment "$D" --user "$TMP/alice" --in-order --json "$IN1" "$IN2" > "$TMP/old.json" 2> "$TMP/old.err"
[ "$(json_get "$TMP/old.json" 'd["servers"][0]["status"]')" = bad-proof ] || fail "old share was not rejected"
[ "$(json_get "$TMP/old.json" '"\n".join(d["outputs"])')" = "$(cat "$TMP/out12")" ] || fail "outputs wrong with an old share present"
grep -q "key server 1: bad-proof" "$TMP/old.err" || fail "old-share server not named"
pass "a pre-refresh share fails verification and is skipped"

for i in 1 2 3; do stop_pid "${KSPID[$i]}"; done
pass "all key servers shut down cleanly on SIGTERM"
