#!/usr/bin/env bash
# The admin dashboard in a real headless Chromium (tests/browser/dashboard.mjs) against a real
# deployment (`medvault up`) holding real data: departments, doctors, a patient, a booked
# appointment, the formulary, and a patient record written with a delegation. The browser logs
# in with a one-time link (`medvault dashboard`) and with the login page's challenge signed by
# the CLI, opens every page, checks what each shows, and checks that no page of the hospital
# contains the record's content. Screenshots are kept in $MV_ARTIFACTS (default
# build/artifacts/screenshots).
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export MV_ARTIFACTS="${MV_ARTIFACTS:-$(dirname "$MV")/artifacts/screenshots}"
command -v node > /dev/null || fail "node is missing (bash scripts/setup.sh --browser)"
[ -x "${MV_CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is missing (bash scripts/setup.sh --browser)"
[ -d "$repo/tests/browser/node_modules/playwright-core" ] || fail "playwright-core is missing (bash scripts/setup.sh --browser)"

"$MV" up --dir "$TMP/mv" > "$TMP/up.out" 2> "$TMP/up.err" &
UP=$!
PIDS+=("$UP")
wait_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/public.json"))["sign_public_key"])' "$1"; }

"$MV" user add --user "$ADMIN" --name "Dr Alvarez" --role doctor --department cardiology --out "$TMP/alvarez" > /dev/null
"$MV" user add --user "$ADMIN" --name "Dr Chen" --role doctor --department neurology --out "$TMP/chen" > /dev/null
"$MV" user add --user "$ADMIN" --name "Dana Ortiz" --role patient --department cardiology --out "$TMP/dana" > /dev/null
MRN=$("$MV" directory --user "$ADMIN" --role patient --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["users"][0]["mrn"])')
"$MV" medicine add --user "$ADMIN" --name Atorvastatin --form tablet --strength "20 mg" --dosage "1 tablet daily" > /dev/null
APPT=$("$MV" appointment request --user "$TMP/dana" --department cardiology --reason "follow-up" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$MV" appointment update "$APPT" --user "$ADMIN" --doctor "$(key_of "$TMP/alvarez")" --at 2026-12-01T09:30 --place "Room 12" > /dev/null
"$MV" delegate grant --user "$TMP/dana" --appointment "$APPT" > /dev/null
# The record's content carries markers that must never reach the hospital.
cat > "$TMP/rx.json" <<JSON
{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/$MRN"},
 "medicationCodeableConcept":{"text":"Zolpiquinex 7.5 mg tablet"},"dosageInstruction":[{"text":"take one at bedtime QX-DOSAGE-MARKER"}],
 "note":[{"text":"RECORD-CONTENT-MARKER-4711"}]}
JSON
"$MV" put --user "$TMP/alvarez" --patient "$MRN" --appointment "$APPT" "$TMP/rx.json" > /dev/null
"$MV" get --user "$TMP/dana" "$("$MV" ls --user "$TMP/dana" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"][0]["id"])')" -o "$TMP/back.json"
grep -q RECORD-CONTENT-MARKER-4711 "$TMP/back.json" || fail "the patient cannot read the record the dashboard must not show"
# The alert page: Dr Chen's denied step-up (a stepup_failed alert naming her key) and Dr
# Alvarez's pending request; the page names both (not only their keys) and fits 1280 px.
"$MV" stepup --request --user "$TMP/chen" > /dev/null
"$MV" stepup deny "$(cat "$TMP/chen/stepup.request")" --user "$ADMIN" > /dev/null
"$MV" stepup --request --user "$TMP/alvarez" > /dev/null
"$MV" alerts --user "$ADMIN" --json | python3 -c 'import json,sys; sys.exit(0 if any(a["kind"]=="stepup_failed" for a in json.load(sys.stdin)["alerts"]) else 1)' \
  || fail "the denied step-up raised no alert"
pass "deployment with a doctor, a patient ($MRN), a booked appointment, the formulary, a delegated record and alerts"

export MV_DASH_LOGIN_URL
MV_DASH_LOGIN_URL=$("$MV" dashboard --user "$ADMIN")
export MV_DASH_EXPECT
MV_DASH_EXPECT=$(python3 -c 'import json,sys; print(json.dumps({
  "/admin/departments": ["cardiology", "neurology"],
  "/admin/doctors": ["Dr Alvarez", "Dr Chen"],
  "/admin/patients": ["Dana Ortiz", sys.argv[1]],
  "/admin/appointments": ["Room 12", "Dr Alvarez", "booked"],
  "/admin/medicines": ["Atorvastatin", "20 mg"],
  "/admin/storage": ["cardiology"],
  "/admin/alerts": ["Dr Chen", "stepup_failed", "Dr Alvarez"]}))' "$MRN")
export MV_DASH_FORBIDDEN='["RECORD-CONTENT-MARKER-4711", "QX-DOSAGE-MARKER", "Zolpiquinex"]'
export MV_DASH_SIGN
MV_DASH_SIGN=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$MV" dashboard --user "$ADMIN")
node "$repo/tests/browser/dashboard.mjs" || fail "the dashboard browser test failed (screenshots in $MV_ARTIFACTS)"
for s in dashboard-login dashboard-overview dashboard-departments dashboard-doctors dashboard-patients \
         dashboard-appointments dashboard-medicines dashboard-storage dashboard-alerts dashboard-login-challenge; do
  [ -s "$MV_ARTIFACTS/$s.png" ] || fail "screenshot $s.png missing"
done
pass "dashboard in headless Chromium: both logins, every page with its data, no record content; screenshots in $MV_ARTIFACTS"

stop_pid "$UP"
PIDS=()
