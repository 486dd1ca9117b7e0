#!/usr/bin/env bash
# The hospital workflow end to end through real processes (`medvault up`): registration of
# each role, an appointment from request to completion, the patient's delegation, a doctor
# writing for the patient (and refused without a delegation), the patient sharing with a
# second doctor and revoking, a legacy record named to its patient later, directory roles,
# the formulary, and a suspended doctor refused by the key servers and the storage server
# within one revocation polling interval.
source "$(dirname "$0")/lib.sh"

POLL=1
"$MV" up --dir "$TMP/mv" --revocation-poll "$POLL" > "$TMP/up.out" 2> "$TMP/up.err" &
UP=$!
PIDS+=("$UP")
wait_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
pass "medvault up is ready"

key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/public.json"))["sign_public_key"])' "$1"; }
add() { # NAME ROLE [DEPT]
  local d=(); [ -n "${3:-}" ] && d=(--department "$3")
  "$MV" user add --user "$ADMIN" --name "$1" --role "$2" "${d[@]}" --out "$TMP/$1" > /dev/null
}
add alvarez doctor cardiology
add bauer doctor cardiology
add chen doctor neurology
add dana patient cardiology
add legacy-pat patient
ALVAREZ=$(key_of "$TMP/alvarez"); BAUER=$(key_of "$TMP/bauer"); CHEN=$(key_of "$TMP/chen"); DANA=$(key_of "$TMP/dana")
"$MV" directory --user "$ADMIN" --role patient --name dana --json > "$TMP/dir.json"
MRN=$(json_get "$TMP/dir.json" 'd["users"][0]["mrn"]')
[[ "$MRN" == MRN-* ]] || fail "the patient got no MRN ($MRN)"
pass "an admin registered three doctors and two patients; dana is $MRN"

# Directory: admins and doctors may search, patients may not; filters by role and department.
"$MV" directory --user "$TMP/alvarez" --role doctor --department cardiology --json > "$TMP/d2.json"
[ "$(json_get "$TMP/d2.json" 'len(d["users"])')" -eq 2 ] || fail "cardiology should list two doctors"
[ "$(json_get "$TMP/d2.json" 'sorted(u["name"] for u in d["users"]) == ["alvarez","bauer"]')" = True ] || fail "wrong doctors listed"
"$MV" directory --user "$TMP/dana" --name alvarez 2> "$TMP/d3.err" && fail "a patient searched the directory"
grep -q 403 "$TMP/d3.err" || fail "a patient's directory search should be refused with 403: $(cat "$TMP/d3.err")"
pass "directory: doctors search by role and department; patients are refused"

# Self-registration at a kiosk: pending (with an MRN) until an admin activates it; the first
# command after that fetches the user's credential.
"$MV" user register --name "Kiosk Kim" --out "$TMP/kim" --json > "$TMP/kim.json"
[ "$(json_get "$TMP/kim.json" 'd["status"]')" = pending ] || fail "a self-registration should be pending"
[[ "$(json_get "$TMP/kim.json" 'd["mrn"]')" == MRN-* ]] || fail "a self-registered patient got no MRN"
[ ! -e "$TMP/kim/credential" ] || fail "a pending user holds a credential"
"$MV" appointment list --user "$TMP/kim" > /dev/null 2> "$TMP/kim.err" && fail "a pending user was served"
grep -q "awaits an admin" "$TMP/kim.err" || fail "a pending user should be told to wait: $(cat "$TMP/kim.err")"
"$MV" user status "$(json_get "$TMP/kim.json" 'd["sign_public_key"]')" active --user "$ADMIN" > /dev/null
"$MV" appointment list --user "$TMP/kim" --json > /dev/null || fail "an activated user could not fetch a first credential"
[ -s "$TMP/kim/credential" ] || fail "the first credential was not saved"
pass "kiosk self-registration: pending with an MRN, refused until activated, then a first credential"

# Formulary: admins keep it; doctors read it but cannot change it.
"$MV" medicine add --user "$ADMIN" --name Atorvastatin --form tablet --strength "20 mg" --dosage "1 tablet daily" --code 83367 > /dev/null
"$MV" medicine add --user "$ADMIN" --name Metoprolol --form tablet --strength "50 mg" --dosage "1 tablet twice daily" > /dev/null
"$MV" medicine add --user "$TMP/alvarez" --name X --form tablet --strength 1 --dosage y 2>/dev/null && fail "a doctor changed the formulary"
"$MV" medicine list --user "$TMP/alvarez" --json > "$TMP/meds.json"
[ "$(json_get "$TMP/meds.json" 'len(d["medicines"])')" -eq 2 ] || fail "the formulary should hold two medicines"
pass "formulary: admin adds, doctors read, a doctor cannot add"

# Appointment: requested by the patient, booked by the admin, checked in by the doctor.
"$MV" appointment request --user "$TMP/dana" --department cardiology --reason "follow-up" --json > "$TMP/a1.json"
APPT=$(json_get "$TMP/a1.json" 'd["id"]')
[ "$(json_get "$TMP/a1.json" 'd["status"]')" = requested ] || fail "a new request should be 'requested'"
"$MV" appointment complete "$APPT" --user "$TMP/alvarez" 2>/dev/null && fail "an unbooked appointment was completed"
"$MV" appointment update "$APPT" --user "$ADMIN" --doctor "$ALVAREZ" --at 2026-11-23T09:30 --place "Room 12" --json > "$TMP/a2.json"
[ "$(json_get "$TMP/a2.json" 'd["status"]')" = booked ] || fail "doctor + time + place should book it"
"$MV" appointment list --user "$TMP/alvarez" --doctor me --json > "$TMP/a3.json"
[ "$(json_get "$TMP/a3.json" '[a["id"] for a in d["appointments"]].count("'"$APPT"'")')" -eq 1 ] || fail "the doctor does not see the appointment"
"$MV" appointment list --user "$TMP/chen" --json > "$TMP/a4.json"
[ "$(json_get "$TMP/a4.json" 'len(d["appointments"])')" -eq 0 ] || fail "a neurology doctor sees a cardiology appointment"
"$MV" appointment checkin "$APPT" --user "$TMP/alvarez" > /dev/null
pass "appointment requested -> booked -> checked in; visible to its doctor, not to other departments"

# Writing for the patient: refused without a delegation (client and storage), allowed with one.
cat > "$TMP/rx.json" <<JSON
{"resourceType":"MedicationRequest","status":"active","intent":"order",
 "subject":{"reference":"Patient/$MRN"},"encounter":{"reference":"Encounter/$APPT"},
 "authoredOn":"2026-11-23T09:45:00Z",
 "medicationCodeableConcept":{"text":"Atorvastatin 20 mg tablet","coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"83367"}]},
 "dosageInstruction":[{"text":"1 tablet daily"}]}
JSON
"$MV" put --user "$TMP/alvarez" --patient "$MRN" --appointment "$APPT" "$TMP/rx.json" 2> "$TMP/w0.err" && fail "a record was written without a delegation"
grep -qi delegation "$TMP/w0.err" || fail "the refusal should say a delegation is missing: $(cat "$TMP/w0.err")"
"$MV" put --user "$TMP/alvarez" "$TMP/rx.json" 2> /dev/null && fail "a record naming a registered patient was written without --patient"
"$MV" delegate grant --user "$TMP/dana" --appointment "$APPT" > /dev/null
"$MV" put --user "$TMP/bauer" --patient "$MRN" "$TMP/rx.json" 2>/dev/null && fail "a doctor without the delegation wrote for the patient"
# A record for no patient first: alvarez's keyset cache then holds one entry when the next run
# (the episode, another reader set) adds a second (a loaded cache once had no room to grow).
printf '{"resourceType":"Observation","status":"final","code":{"text":"ward check"}}' > "$TMP/ward.json"
"$MV" put --user "$TMP/alvarez" "$TMP/ward.json" > /dev/null
"$MV" put --user "$TMP/alvarez" --patient "$MRN" --appointment "$APPT" --json "$TMP/rx.json" > "$TMP/w1.json"
RID=$(json_get "$TMP/w1.json" 'd["records"][0]["id"]')
pass "no delegation: refused; the patient delegates at the appointment; the doctor writes record $RID"

# Both the patient and the doctor read it; another doctor does not.
"$MV" get --user "$TMP/dana" "$RID" -o "$TMP/r-dana.json"
"$MV" get --user "$TMP/alvarez" "$RID" -o "$TMP/r-alv.json"
"$MV" canon "$TMP/rx.json" | cmp -s - "$TMP/r-dana.json" || fail "the patient's copy differs from the original"
cmp -s "$TMP/r-dana.json" "$TMP/r-alv.json" || fail "patient and doctor read different bytes"
"$MV" get --user "$TMP/chen" "$RID" -o "$TMP/r-chen.json" 2>/dev/null && fail "a non-reader read the record"
pass "the patient and the doctor read the record; another doctor is refused"

# The patient shares with a second doctor and revokes.
"$MV" share grant "$RID" --to "$CHEN" --user "$TMP/dana" > /dev/null
"$MV" get --user "$TMP/chen" "$RID" -o "$TMP/r-chen.json" || fail "the shared record could not be read"
cmp -s "$TMP/r-chen.json" "$TMP/r-dana.json" || fail "the shared copy differs"
"$MV" share grant "$RID" --to "$CHEN" --user "$TMP/bauer" 2>/dev/null && fail "a non-reader shared the record"
"$MV" share revoke "$RID" --to "$CHEN" --user "$TMP/dana" > /dev/null
"$MV" get --user "$TMP/chen" "$RID" -o "$TMP/r-chen2.json" 2>/dev/null && fail "revoked access still reads"
"$MV" share grant --episode "$APPT" --to "$CHEN" --user "$TMP/dana" --json > "$TMP/sh.json"
[ "$(json_get "$TMP/sh.json" 'd["records"]')" -ge 1 ] || fail "sharing the episode changed no record"
"$MV" get --user "$TMP/chen" "$RID" -o "$TMP/r-chen3.json" || fail "episode share did not grant the record"
"$MV" share revoke --episode "$APPT" --to "$CHEN" --user "$TMP/dana" > /dev/null
# Chen held the episode's keyset key: the record was sealed again for the others (decision
# 0010), and both still read the same bytes; Chen does not.
"$MV" get --user "$TMP/chen" "$RID" -o "$TMP/r-chen4.json" 2>/dev/null && fail "episode revocation left access"
"$MV" get --user "$TMP/dana" "$RID" -o "$TMP/r-dana2.json" || fail "the patient lost the re-sealed record"
"$MV" get --user "$TMP/alvarez" "$RID" -o "$TMP/r-alv2.json" || fail "the author lost the re-sealed record"
cmp -s "$TMP/r-dana2.json" "$TMP/r-dana.json" && cmp -s "$TMP/r-alv2.json" "$TMP/r-dana.json" || fail "the re-sealed record differs"
pass "patient grants a second doctor (record and episode) and revokes; the grant is refused to a non-reader"

# A legacy record for a patient who was not registered, named to them once registered.
cat > "$TMP/legacy.json" <<'JSON'
{"resourceType":"MedicationRequest","status":"completed","intent":"order","subject":{"reference":"Patient/LEGACY-42"},
 "medicationCodeableConcept":{"text":"Metoprolol 50 mg tablet"},"dosageInstruction":[{"text":"1 tablet twice daily"}]}
JSON
"$MV" put --user "$TMP/bauer" --json "$TMP/legacy.json" > "$TMP/l1.json"
LID=$(json_get "$TMP/l1.json" 'd["records"][0]["id"]')
"$MV" directory --user "$ADMIN" --role patient --name legacy-pat --json > "$TMP/dl.json"
LMRN=$(json_get "$TMP/dl.json" 'd["users"][0]["mrn"]')
"$MV" get --user "$TMP/legacy-pat" "$LID" -o "$TMP/l-pat.json" 2>/dev/null && fail "the patient read a record not yet granted"
"$MV" share patient "$LID" --mrn "$LMRN" --user "$TMP/chen" 2>/dev/null && fail "a non-author named the patient"
"$MV" share patient "$LID" --mrn "$LMRN" --user "$TMP/bauer" > /dev/null
"$MV" get --user "$TMP/legacy-pat" "$LID" -o "$TMP/l-pat.json" || fail "the named patient cannot read the legacy record"
pass "a legacy record stays the author's; the author names the registered patient, who can then read it"

"$MV" appointment complete "$APPT" --user "$TMP/alvarez" --json > "$TMP/a5.json"
[ "$(json_get "$TMP/a5.json" 'd["status"]')" = completed ] || fail "appointment not completed"
"$MV" appointment cancel "$APPT" --user "$TMP/dana" 2>/dev/null && fail "a completed appointment was cancelled"
pass "appointment completed; a completed appointment cannot be cancelled"

# Revocation: suspend a doctor; within one polling interval the key servers and the storage
# server refuse their (still unexpired) credential, and so does the hospital at once.
# Each service that polls the list: its URL, state directory (for the metrics token) and metric.
POLLERS=()
i=0
for url in $(json_get "$MEDVAULT_DEPLOYMENT" '" ".join(k["url"] for k in d["keyservers"])'); do
  i=$((i + 1))
  POLLERS+=("$url $TMP/mv/ks$i medvault_keyserver_revocation_serial")
done
POLLERS+=("$(json_get "$MEDVAULT_DEPLOYMENT" 'd["storage_url"]') $TMP/mv/storage medvault_storage_revocation_serial")
# serials : the revocation list serial installed at each of them, one a line.
serials() {
  local p
  # shellcheck disable=SC2086
  for p in "${POLLERS[@]}"; do metric $p; done
}
# all_above N : every one of them has installed a list newer than serial N.
all_above() { [ "$(serials | awk -v n="$1" '$1 <= n' | wc -l)" -eq 0 ]; }
# newest : the highest serial any of them has installed.
newest() { serials | sort -n | tail -1; }
"$MV" oprf --deployment "$MEDVAULT_DEPLOYMENT" --user "$TMP/bauer" 00 > /dev/null || fail "the doctor could not evaluate before suspension"
"$MV" ls --user "$TMP/bauer" > /dev/null || fail "the doctor could not list before suspension"
OLD=$(newest)
"$MV" user status "$BAUER" suspended --user "$ADMIN" > /dev/null
wait_for $((POLL * 2 + 1)) all_above "$OLD" || fail "the revocation list did not reach every service: $(serials | xargs)"
"$MV" oprf --deployment "$MEDVAULT_DEPLOYMENT" --user "$TMP/bauer" 00 > /dev/null 2> "$TMP/rv1.err" && fail "a key server accepted a suspended doctor"
# The storage server does not tell a suspended user so: it answers from the decoy cloud
# and raises a "revoked credential" alert.
"$MV" ls --user "$TMP/bauer" --json > "$TMP/rv2.json" 2> "$TMP/rv2.err" || fail "storage should answer a suspended doctor from the decoy cloud: $(cat "$TMP/rv2.err")"
revoked_alert() {
  "$MV" alerts --user "$ADMIN" --json > "$TMP/rv-al.json"
  [ "$(json_get "$TMP/rv-al.json" 'sum(1 for a in d["alerts"] if a["principal"]=="'"$BAUER"'" and a["reason"]=="revoked credential" and a["kind"]=="decoy_served")')" -eq 1 ]
}
wait_for 10 revoked_alert || true
[ "$(json_get "$TMP/rv-al.json" 'sum(1 for a in d["alerts"] if a["principal"]=="'"$BAUER"'" and a["reason"]=="revoked credential")')" -eq 1 ] \
  || fail "a suspended doctor's storage request should raise one alert: $(cat "$TMP/rv-al.json")"
"$MV" medicine list --user "$TMP/bauer" > /dev/null 2>&1 && fail "the hospital accepted a suspended doctor"
"$MV" ls --user "$TMP/alvarez" > /dev/null || fail "an active doctor was refused"
OLD=$(newest)
"$MV" user status "$BAUER" active --user "$ADMIN" > /dev/null
wait_for $((POLL * 2 + 1)) all_above "$OLD" || fail "the reactivation did not reach every service: $(serials | xargs)"
"$MV" ls --user "$TMP/bauer" > /dev/null || fail "a reactivated doctor is still refused"
"$MV" user status "$BAUER" revoked --user "$ADMIN" > /dev/null
"$MV" user status "$BAUER" active --user "$ADMIN" 2>/dev/null && fail "a revoked user was reactivated"
pass "suspended doctor refused by key servers and hospital and served decoys (plus an alert) by storage within ${POLL}s polling; reactivation works; revoked is final"

stop_pid "$UP"
PIDS=()
pass "medvault up stopped cleanly"
