#!/usr/bin/env bash
# Sharing through the two clouds (issue 16, docs/pre.md) end to end with real processes
# (`medvault up` runs the storage cloud's proxy and the second cloud's): a patient delegates an
# episode of several records to a specialist and goes offline; the specialist reads every record
# byte for byte; with the second cloud down the read fails naming it, and works again once it is
# back; another doctor gets nothing; a recipient whose credential lacks the policy's department
# is refused by each cloud on its own; after the revocation neither cloud answers and the read
# fails; the rewrap path (`share grant` without --via-clouds) still works.
source "$(dirname "$0")/lib.sh"

# One crash and up leaves the service down (so that a killed proxy stays down until the test
# starts it again itself).
"$MV" up --dir "$TMP/mv" --restart-limit 1 > "$TMP/up.out" 2> "$TMP/up.err" &
UP=$!
PIDS+=("$UP")
wait_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
[ "$(json_get "$MEDVAULT_DEPLOYMENT" 'len(d.get("proxies", []))')" -eq 2 ] || fail "the deployment names no two proxies"
[ "$(json_get "$MEDVAULT_DEPLOYMENT" 'd["proxy_threshold"]')" -eq 2 ] || fail "the default split should be 2-of-2"
P2_URL=$(json_get "$MEDVAULT_DEPLOYMENT" 'd["proxies"][1]["url"]')
pass "medvault up runs both clouds' proxies (2-of-2)"

key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/public.json"))["sign_public_key"])' "$1"; }
add() { "$MV" user add --user "$ADMIN" --name "$1" --role "$2" --department "$3" --out "$TMP/$1" > /dev/null; }
add alvarez doctor cardiology
add bauer doctor cardiology
add sato doctor neurology
add kim doctor neurology
add dana patient cardiology
SATO=$(key_of "$TMP/sato"); KIM=$(key_of "$TMP/kim"); BAUER=$(key_of "$TMP/bauer"); ALVAREZ=$(key_of "$TMP/alvarez")
"$MV" directory --user "$ADMIN" --role patient --name dana --json > "$TMP/dir.json"
MRN=$(json_get "$TMP/dir.json" 'd["users"][0]["mrn"]')

# `user add` publishes the new user's recipient key (she may be delegated to before her first
# command); a directory without the marker publishes on its first command (once: the marker file).
for u in sato kim bauer dana; do
  [ -f "$TMP/$u/pre.published" ] || fail "user add did not publish $u's recipient key"
done
rm "$TMP/kim/pre.published"
"$MV" appointment list --user "$TMP/kim" > /dev/null
[ -f "$TMP/kim/pre.published" ] || fail "kim's first command did not publish her recipient key again"
"$MV" directory --user "$ADMIN" --name sato --json > "$TMP/sato.json"
[ "$(json_get "$TMP/sato.json" 'len(d["users"][0]["pre_public_key"])')" -eq 64 ] || fail "the directory shows no key for sato"
pass "user add (or else the first command) published each user's recipient key in the hospital directory"

# An episode of several records, written by alvarez for dana.
"$MV" appointment request --user "$TMP/dana" --department cardiology --reason "chest pain" --json > "$TMP/a1.json"
APPT=$(json_get "$TMP/a1.json" 'd["id"]')
"$MV" appointment update "$APPT" --user "$ADMIN" --doctor "$ALVAREZ" --at 2026-12-07T09:30 --place "Room 3" > /dev/null
"$MV" appointment checkin "$APPT" --user "$TMP/alvarez" > /dev/null
"$MV" delegate grant --user "$TMP/dana" --appointment "$APPT" > /dev/null
IDS=()
for i in 1 2 3 4; do
  cat > "$TMP/obs$i.json" <<JSON
{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/$MRN"},
 "encounter":{"reference":"Encounter/$APPT"},"code":{"text":"troponin draw $i"},
 "valueQuantity":{"value":0.0$i,"unit":"ng/mL"}}
JSON
  "$MV" put --user "$TMP/alvarez" --patient "$MRN" --appointment "$APPT" --json "$TMP/obs$i.json" > "$TMP/w$i.json"
  IDS+=("$(json_get "$TMP/w$i.json" 'd["records"][0]["id"]')")
done
for i in 1 2 3 4; do
  "$MV" get --user "$TMP/dana" "${IDS[$((i-1))]}" -o "$TMP/dana$i.json"
done
"$MV" get --user "$TMP/sato" "${IDS[0]}" -o "$TMP/x.json" 2>/dev/null && fail "sato read a record before any grant"
pass "alvarez wrote ${#IDS[@]} records in dana's episode; sato cannot read them yet"

# Dana delegates the episode to sato through the clouds; her client is not used again while he
# reads.
"$MV" share grant --episode "$APPT" --to "$SATO" --via-clouds --expires 7d --user "$TMP/dana" --json > "$TMP/g.json" \
  || fail "the grant through the clouds failed"
HASH=$(json_get "$TMP/g.json" 'd["delegation"]')
[ "${#HASH}" -eq 64 ] || fail "the grant named no delegation"
[ "$(json_get "$TMP/g.json" 'd["capsules"]')" -ge 1 ] || fail "the delegation holds no capsule"
"$MV" share delegations --user "$TMP/sato" --json > "$TMP/dl.json"
[ "$(json_get "$TMP/dl.json" '[x["delegation"] for x in d["received"]].count("'"$HASH"'")')" -eq 1 ] \
  || fail "sato does not see the delegation he received"
[ "$(json_get "$TMP/dl.json" 'd["received"][0]["department"]')" = neurology ] || fail "the policy should default to sato's department"
pass "dana delegated the episode through both clouds (delegation ${HASH:0:16}...)"

# Sato reads every record, byte for byte what dana reads.
for i in 1 2 3 4; do
  "$MV" get --user "$TMP/sato" "${IDS[$((i-1))]}" -o "$TMP/sato$i.json" 2> "$TMP/sato$i.err" \
    || fail "sato cannot read record $i through the clouds: $(cat "$TMP/sato$i.err")"
  cmp -s "$TMP/sato$i.json" "$TMP/dana$i.json" || fail "sato's copy of record $i differs"
done
"$MV" ls --user "$TMP/sato" --json > "$TMP/ls.json" 2> "$TMP/ls.err" || fail "sato's ls failed: $(cat "$TMP/ls.err")"
for id in "${IDS[@]}"; do
  grep -q "$id" "$TMP/ls.json" || fail "sato's ls (his local index, filled through the clouds) lacks record $id"
done
"$MV" share check "$HASH" --user "$TMP/sato" --json > "$TMP/c1.json"
[ "$(json_get "$TMP/c1.json" 'all(c["ok"] for c in d["clouds"])')" = True ] || fail "a cloud did not re-encrypt: $(cat "$TMP/c1.json")"
[ "$(json_get "$TMP/c1.json" 'd["keys_open"]')" = True ] || fail "the cfrags of both clouds do not open the keys"
pass "sato reads all ${#IDS[@]} records and lists them (dana offline), each cloud's proofs verified"

# A hostile owner: kim signs a delegation to sato of "an episode" that is dana's (the label names
# it; its records are not kim's), uploaded to both clouds (mv_pre_forge), whose capsules hold junk
# keys under refs that are not hers: sato's own record (and its keyset, if it has one) and dana's
# episode's records and keyset. In one run (as the long-lived UI), sato reads his own record and
# dana's whole episode: a delegation gives keys only for the records its owner and label cover,
# and only keys that open them, so nothing of sato's own or of dana's delegation is replaced.
cat > "$TMP/own.json" <<JSON
{"resourceType":"Observation","status":"final","code":{"text":"sato's own note"},"valueString":"mine"}
JSON
"$MV" put --user "$TMP/sato" --json "$TMP/own.json" > "$TMP/wo.json" || fail "sato cannot store a record of his own"
OWN=$(json_get "$TMP/wo.json" 'd["records"][0]["id"]')
"$MV" get --user "$TMP/sato" "$OWN" -o "$TMP/own1.json" || fail "sato cannot read his own record"
MV_PRE_FORGE_VICTIM=$TMP/sato "$MV_PRE_FORGE_BIN" "$MEDVAULT_DEPLOYMENT" "$TMP/kim" "$SATO" "$APPT" \
  "v:$OWN" "v:${IDS[0]}" "r:${IDS[1]}" "r:${IDS[2]}" "r:${IDS[3]}" > "$TMP/forge.out" 2> "$TMP/forge.err" \
  || fail "kim's forged delegation was not taken by both clouds: $(cat "$TMP/forge.err")"
"$MV" get --user "$TMP/sato" "$OWN" "${IDS[@]}" -o "$TMP/mixed" 2> "$TMP/mixed.err" \
  || fail "kim's delegation broke sato's run: $(cat "$TMP/mixed.err")"
[ "$(ls "$TMP/mixed" | wc -l)" -eq $(( ${#IDS[@]} + 1 )) ] || fail "sato's run did not write his record and dana's episode"
for f in "$TMP/own1.json" "$TMP"/dana[1-4].json; do
  found=0
  for g in "$TMP"/mixed/*; do cmp -s "$f" "$g" && found=1; done
  [ "$found" -eq 1 ] || fail "sato's run lacks a byte-exact copy of $(basename "$f")"
done
pass "a hostile owner's delegation with junk keys for sato's and dana's refs replaces none of them (one run)"

# The second cloud down: the read fails and says which cloud is missing.
P2=""
for f in "$TMP"/mv/run/*.pid; do
  p=$(cat "$f")
  tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -q -- "--role proxy" && P2=$p
done
[ -n "$P2" ] || fail "no second-cloud proxy among up's services"
readarray -d '' P2CMD < "/proc/$P2/cmdline"
# Started on port 0 by up: the restart listens on the port the deployment file names.
for i in "${!P2CMD[@]}"; do [ "${P2CMD[$i]}" = "127.0.0.1:0" ] && P2CMD[$i]=127.0.0.1:${P2_URL##*:}; done
P2CWD=$(readlink "/proc/$P2/cwd")
kill -KILL "$P2"
wait_for 10 gone "$P2" || fail "the second proxy did not die"
"$MV" get --user "$TMP/sato" "${IDS[0]}" -o "$TMP/down.json" 2> "$TMP/down.err" && fail "a read succeeded with one cloud of two"
grep -q "proxy 2 ($P2_URL)" "$TMP/down.err" || fail "the error should name the missing cloud: $(cat "$TMP/down.err")"
grep -q "no answer" "$TMP/down.err" || fail "the error should say the cloud did not answer: $(cat "$TMP/down.err")"
# A grant while the second cloud fails after it may have stored the delegation (a stand-in on
# its port answers the upload 503 and the revocation 500): the client asks every proxy it sent
# the delegation to to withdraw it, the one that failed included, and says which one did not
# confirm; proxy 1 no longer holds it.
cat > "$TMP/stub.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with open(sys.argv[2], "a") as f:
            f.write(self.path + "\n")
        self.send_response(500 if self.path == "/v1/pre/revoke" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$TMP/stub.py" "${P2_URL##*:}" "$TMP/stub.log" &
STUB=$!
PIDS+=("$STUB")
for _ in $(seq 50); do curl -s -o /dev/null -X POST "$P2_URL/ping" && break; sleep 0.1; done
: > "$TMP/stub.log"
"$MV" share grant "${IDS[0]}" --to "$KIM" --via-clouds --department neurology --user "$TMP/dana" 2> "$TMP/gw.err" \
  && fail "a grant succeeded with the second cloud failing"
grep -qx "/v1/pre/revoke" "$TMP/stub.log" || fail "the cloud that failed the upload was not asked to withdraw it: $(cat "$TMP/stub.log")"
grep -q "NOT withdrawn from proxy 2 ($P2_URL)" "$TMP/gw.err" || fail "the failed withdrawal is not reported: $(cat "$TMP/gw.err")"
"$MV" share delegations --user "$TMP/kim" --json > "$TMP/dlk.json"
[ "$(json_get "$TMP/dlk.json" 'len(d["received"])')" -eq 0 ] || fail "proxy 1 still holds the withdrawn delegation"
kill "$STUB"
wait "$STUB" 2>/dev/null || true
pass "a failed grant is withdrawn from every proxy it was sent to, and a withdrawal that failed is named"
(cd "$P2CWD" && exec "${P2CMD[@]}") >> "$TMP/proxy2.log" 2>&1 &
PIDS+=("$!")
wait_http "$P2_URL/healthz" 50 || fail "the second proxy did not come back on $P2_URL"
"$MV" get --user "$TMP/sato" "${IDS[0]}" -o "$TMP/back.json" || fail "sato cannot read once the second cloud is back"
cmp -s "$TMP/back.json" "$TMP/dana1.json" || fail "the copy read after the restart differs"
pass "second cloud killed: the read fails naming proxy 2; restarted (its kfrag kept on disk), it reads again"

# Another doctor, not the recipient, gets nothing from either cloud.
"$MV" get --user "$TMP/bauer" "${IDS[0]}" -o "$TMP/bauer.json" 2>/dev/null && fail "a doctor who is not the recipient read the record"
"$MV" share check "$HASH" --user "$TMP/bauer" --json > "$TMP/cb.json"
[ "$(json_get "$TMP/cb.json" 'any(c["ok"] for c in d["clouds"])')" = False ] || fail "a cloud re-encrypted for a non-recipient"
pass "a doctor who is not the recipient gets nothing"

# A delegation to kim whose policy names a department his credential does not: each cloud
# refuses on its own (403).
"$MV" share grant "${IDS[1]}" --to "$KIM" --via-clouds --department cardiology --user "$TMP/dana" --json > "$TMP/gk.json"
HK=$(json_get "$TMP/gk.json" 'd["delegation"]')
"$MV" share check "$HK" --user "$TMP/kim" --json > "$TMP/ck.json"
for i in 0 1; do
  [ "$(json_get "$TMP/ck.json" 'd["clouds"]['$i']["ok"]')" = False ] || fail "cloud $((i+1)) re-encrypted against the policy"
  json_get "$TMP/ck.json" 'd["clouds"]['$i']["error"]' | grep -q 403 || fail "cloud $((i+1)) should answer 403: $(cat "$TMP/ck.json")"
done
"$MV" get --user "$TMP/kim" "${IDS[1]}" -o "$TMP/kim.json" 2>/dev/null && fail "kim read a record outside the policy"
pass "a recipient outside the policy's department gets 403 from each cloud"

# One record (a kind-2 capsule wrapping its own key R) to bauer, whose department the policy
# names: he reads that record and no other of the episode.
"$MV" share grant "${IDS[3]}" --to "$BAUER" --via-clouds --department cardiology --user "$TMP/dana" --json > "$TMP/gb.json"
[ "$(json_get "$TMP/gb.json" 'd["capsules"]')" -eq 1 ] || fail "a record delegation should hold one capsule"
"$MV" get --user "$TMP/bauer" "${IDS[3]}" -o "$TMP/bauer4.json" 2> "$TMP/bauer4.err" \
  || fail "bauer cannot read the record delegated to him: $(cat "$TMP/bauer4.err")"
cmp -s "$TMP/bauer4.json" "$TMP/dana4.json" || fail "bauer's copy of the delegated record differs"
"$MV" get --user "$TMP/bauer" "${IDS[2]}" -o "$TMP/bauer3x.json" 2>/dev/null && fail "a record delegation covered another record"
pass "a delegation of one record opens that record (its R) and no other"

# Dana revokes: both clouds confirm, neither answers afterwards, and sato's read fails. Keys
# are held only in memory for one run (nothing of a delegation is written to his user
# directory), so a new run is a cleared session: it asks the clouds again. A key an earlier run
# fetched would still open envelopes he already downloaded; that is out of our hands
# (docs/pre.md 8), the storage server no longer serves him the records.
"$MV" share revoke --episode "$APPT" --to "$SATO" --via-clouds --user "$TMP/dana" --json > "$TMP/rv.json" \
  || fail "the revocation through the clouds failed"
[ "$(json_get "$TMP/rv.json" 'd["delegations"]')" -eq 1 ] || fail "one delegation should have been revoked"
"$MV" share check "$HASH" --user "$TMP/sato" --json > "$TMP/c2.json"
for i in 0 1; do
  [ "$(json_get "$TMP/c2.json" 'd["clouds"]['$i']["ok"]')" = False ] || fail "cloud $((i+1)) still answers after the revocation"
done
grep -rq "$HASH" "$TMP/sato" && fail "sato's user directory keeps something of the delegation"
"$MV" get --user "$TMP/sato" "${IDS[0]}" -o "$TMP/after.json" 2>/dev/null && fail "sato read a record after the revocation"
"$MV" share revoke --episode "$APPT" --to "$SATO" --via-clouds --user "$TMP/dana" 2> "$TMP/rv2.err" && fail "a second revocation found something"
pass "revoked at both clouds: neither re-encrypts, sato's next read fails"

# The rewrap path is unchanged.
"$MV" share grant "${IDS[2]}" --to "$BAUER" --user "$TMP/dana" > /dev/null
"$MV" get --user "$TMP/bauer" "${IDS[2]}" -o "$TMP/bauer3.json" || fail "the rewrap grant no longer works"
cmp -s "$TMP/bauer3.json" "$TMP/dana3.json" || fail "the rewrapped copy differs"
"$MV" share grant "${IDS[2]}" --to "$BAUER" --role doctor --user "$TMP/dana" 2>/dev/null && fail "--role was taken without --via-clouds"
pass "share grant without --via-clouds still rewraps"
