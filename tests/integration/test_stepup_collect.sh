#!/usr/bin/env bash
# test_stepup_collect.sh - the natural way through a step-up demand (issue 14): a bulk restore
# (`get --all`) stopped by the access profile says that the bulk read set it off and names the
# way on; `stepup --request` remembers the pending request in the user directory; after an
# admin's approval `stepup --collect` fetches the grant and the restore then succeeds. A denied
# request is forgotten; --collect ID --wait waits for the decision.
source "$(dirname "$0")/lib.sh"

start_up --profile-floor 5
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
for u in doc doc2 doc3; do
  "$MV" user add --user "$ADMIN" --name "$u" --role doctor --department cardiology --out "$TMP/$u" > /dev/null
done
"$MV" gen-emr "$TMP/emr" 30 --departments cardiology --seed 3 > /dev/null
"$MV" put --user "$TMP/doc" "$TMP/emr/cardiology" > /dev/null 2>&1 || fail "put failed"
N=$(ls "$TMP/emr/cardiology" | wc -l)

rc=0; "$MV" get --user "$TMP/doc" --all -o "$TMP/out1" 2> "$TMP/get1.err" || rc=$?
[ "$rc" -eq 1 ] || fail "get --all past the access profile exited $rc, not 1"
grep -q "bulk restore" "$TMP/get1.err" || fail "the step-up error does not say the bulk restore set it off: $(cat "$TMP/get1.err")"
for want in "stepup --request --wait" "stepup --collect" "run this command again"; do
  grep -qF -- "$want" "$TMP/get1.err" || fail "the step-up error does not name '$want': $(cat "$TMP/get1.err")"
done
pass "get --all stopped by the access profile: says the bulk restore set it off, names request, wait, collect"

"$MV" stepup --user "$TMP/doc" --request --json > "$TMP/req.json" || fail "stepup --request failed"
RID=$(json_get "$TMP/req.json" 'd["request"]')
[ "$(json_get "$TMP/req.json" 'd["status"]')" = pending ] || fail "the request is not pending"
[ "$(cat "$TMP/doc/stepup.request")" = "$RID" ] || fail "the pending request id is not remembered in the user directory"
[ "$(stat -c %a "$TMP/doc/stepup.request")" = 600 ] || fail "stepup.request is not 0600"
rc=0; "$MV" stepup --user "$TMP/doc" --collect --json > "$TMP/col0.json" || rc=$?
[ "$rc" -eq 1 ] && [ "$(json_get "$TMP/col0.json" 'd["status"]')" = pending ] || fail "collect before the approval: exit $rc"
[ ! -e "$TMP/doc/stepup.grant" ] || fail "a grant before the approval"
"$MV" stepup approve "$RID" --user "$ADMIN" > /dev/null || fail "the admin could not approve"
"$MV" stepup --user "$TMP/doc" --collect --json > "$TMP/col.json" || fail "stepup --collect after the approval failed"
[ "$(json_get "$TMP/col.json" 'd["status"]')" = approved ] && [ "$(json_get "$TMP/col.json" 'd["request"]')" = "$RID" ] \
  || fail "collect did not report the approved request: $(cat "$TMP/col.json")"
[ -s "$TMP/doc/stepup.grant" ] || fail "collect stored no grant"
[ ! -e "$TMP/doc/stepup.request" ] && [ ! -e "$TMP/doc/stepup.pending" ] || fail "collect left the request or the demand behind"
"$MV" get --user "$TMP/doc" --all -o "$TMP/out2" || fail "get --all after collecting the grant failed"
[ "$(ls "$TMP/out2" | wc -l)" -eq "$N" ] || fail "get --all restored $(ls "$TMP/out2" | wc -l) records, not $N"
rc=0; "$MV" stepup --user "$TMP/doc" --collect 2> "$TMP/col2.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no step-up request is pending" "$TMP/col2.err" || fail "a second collect: exit $rc, $(cat "$TMP/col2.err")"
pass "request, approval, collect: the grant is stored, the restore succeeds, nothing is left to collect"

"$MV" stepup --user "$TMP/doc2" --request > /dev/null
"$MV" stepup deny "$(cat "$TMP/doc2/stepup.request")" --user "$ADMIN" > /dev/null || fail "the admin could not deny"
rc=0; "$MV" stepup --user "$TMP/doc2" --collect 2> "$TMP/deny.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "denied" "$TMP/deny.err" || fail "collect of a denied request: exit $rc, $(cat "$TMP/deny.err")"
[ ! -e "$TMP/doc2/stepup.request" ] && [ ! -e "$TMP/doc2/stepup.grant" ] || fail "a denied request was kept or gave a grant"
echo "not a number" > "$TMP/doc2/stepup.request"
rc=0; "$MV" stepup --user "$TMP/doc2" --collect 2> "$TMP/bad.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "is damaged: give the request id" "$TMP/bad.err" || fail "a damaged stepup.request: exit $rc, $(cat "$TMP/bad.err")"
pass "collect of a denied request says so, exits 1 and forgets it; a damaged remembered id is named"

"$MV" stepup --user "$TMP/doc3" --request --json > "$TMP/req3.json"
RID3=$(json_get "$TMP/req3.json" 'd["request"]')
rm "$TMP/doc3/stepup.request" # --collect ID needs no remembered request
"$MV" stepup --user "$TMP/doc3" --collect "$RID3" --wait --json > "$TMP/col3.json" 2> /dev/null & WAITER=$!
PIDS+=("$WAITER")
"$MV" stepup approve "$RID3" --user "$ADMIN" > /dev/null
wait_for 20 gone "$WAITER" || fail "collect --wait did not see the approval"
wait "$WAITER" || fail "collect ID --wait exited non-zero"
[ "$(json_get "$TMP/col3.json" 'd["status"]')" = approved ] && [ -s "$TMP/doc3/stepup.grant" ] || fail "collect ID --wait stored no grant"
rc=0; "$MV" stepup --user "$TMP/doc3" --device-key "$TMP/doc3" --collect > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--device-key with --collect was not refused as usage ($rc)"
pass "collect ID --wait waits for the approval; conflicting modes are a usage error"
