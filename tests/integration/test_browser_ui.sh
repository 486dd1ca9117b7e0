#!/usr/bin/env bash
# test_browser_ui.sh - runs tests/browser/ui.mjs (headless chromium) against two real `medvault ui`
# processes (a doctor and a patient) over `medvault up`, and tests/browser/records.mjs against a
# third doctor's UI after she stored 121 FHIR resources of 8 types from NDJSON files
# (bench/gen_fhir.py --ndjson, as a Bulk Data export writes them) with `medvault put`. Screenshots go to $MV_ARTIFACTS
# (next to the binary: BUILD/artifacts/screenshots). Needs node, chromium and playwright-core
# (`bash scripts/setup.sh --browser`, which `make check` runs).
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export MEDVAULT_BIN="${MEDVAULT_BIN:-${MV_BUILD_DIR:-$repo/build}/medvault}"
source "$here/lib.sh"
export MV_ARTIFACTS="${MV_ARTIFACTS:-$(dirname "$MV")/artifacts/screenshots}"
command -v node >/dev/null || fail "node is missing (bash scripts/setup.sh --browser)"
[ -x "${MV_CHROMIUM:-/usr/bin/chromium}" ] || fail "chromium is missing (bash scripts/setup.sh --browser)"
[ -d "$repo/tests/browser/node_modules/playwright-core" ] || fail "playwright-core is missing (bash scripts/setup.sh --browser)"

"$MV" up --dir "$TMP/mv" > "$TMP/up.out" 2> "$TMP/up.err" &
UP=$!
PIDS+=("$UP")
wait_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
admin() { "$MV" "$@" --user "$TMP/mv/admin" --json; }
for u in "drone doctor cardiology" "drtwo doctor cardiology" "drthree doctor cardiology" "pat patient"; do
  set -- $u
  admin user add --name "$1" --role "$2" ${3:+--department "$3"} --out "$TMP/$1" > /dev/null
done
key() { json_get "$TMP/$1/public.json" 'd["sign_public_key"]'; }
MRN=$(admin user show "$(key pat)" | json_get - 'd["mrn"]')
admin medicine add --name Amoxicillin --form capsule --strength "500 mg" \
  --dosage "1 capsule three times daily for 7 days" --code AMOX500 > /dev/null
admin appointment book --patient "$MRN" --department cardiology --doctor "$(key drone)" \
  --at $(($(date +%s) + 3600)) --place "Room 3" --reason "chest pain" > "$TMP/appt.json"
# drthree's records: 120 resources of 7 types about the same synthetic patients (one seed), and one more.
for t in "Observation 40" "MedicationRequest 25" "Condition 20" "Encounter 15" "Patient 10" "Immunization 5" \
  "AllergyIntolerance 5"; do
  set -- $t
  python3 "$repo/bench/gen_fhir.py" --out "$TMP/ndjson" --type "$1" --count "$2" --ndjson --refs relative
done
# A type the UI has no view of (and markup in a value, which must show as text).
echo '{"resourceType":"Organization","id":"org-1","active":true,"name":"Cardiology <b>Clinic</b> & Co","telecom":[{"system":"phone","value":"555-0100"}]}' \
  > "$TMP/ndjson/Organization.ndjson"
"$MV" put --user "$TMP/drthree" "$TMP"/ndjson/*.ndjson > "$TMP/put.out" 2> "$TMP/put.err" || fail "put of the NDJSON files: $(cat "$TMP/put.err")"
[ "$(wc -l < "$TMP/put.out")" -eq 121 ] || fail "expected 121 records stored, got: $(tail -n 3 "$TMP/put.out" "$TMP/put.err")"
# A changed Observation (another value) becomes its version 2.
mkdir -p "$TMP/update"
head -n 1 "$TMP/ndjson/Observation.ndjson" | python3 -c '
import json, sys
r = json.loads(sys.stdin.readline())
r["valueQuantity"]["value"] = 12345
print(json.dumps(r, separators=(",", ":")))' > "$TMP/update/Observation.ndjson"
"$MV" put --user "$TMP/drthree" "$TMP/update/Observation.ndjson" > "$TMP/put2.out" 2> "$TMP/put2.err" ||
  fail "put of the changed Observation: $(cat "$TMP/put2.err")"
grep -q ' v2$' "$TMP/put2.out" || fail "the changed Observation did not become version 2: $(cat "$TMP/put2.out")"
declare -A URL
for n in drone pat drthree; do
  "$MV" ui --user "$TMP/$n" > "$TMP/$n.ui.out" 2> "$TMP/$n.ui.err" &
  PIDS+=("$!")
  wait_for 10 file_has "$TMP/$n.ui.out" '^medvault ui: open ' || true
  URL[$n]=$(sed -n 's/^medvault ui: open //p' "$TMP/$n.ui.out")
  [ -n "${URL[$n]}" ] || fail "the UI of $n printed no URL"
done
MV_UI_DOCTOR_URL=${URL[drone]} MV_UI_PATIENT_URL=${URL[pat]} MV_UI_APPT=$(json_get "$TMP/appt.json" 'd["id"]') \
  MV_UI_OTHER_DOCTOR=$(key drtwo) node "$repo/tests/browser/ui.mjs" || fail "tests/browser/ui.mjs"
MV_UI_RECORDS_URL=${URL[drthree]} MV_UI_NDJSON_DIR=$TMP/ndjson MV_UI_UPDATE=$TMP/update/Observation.ndjson node "$repo/tests/browser/records.mjs" ||
  fail "tests/browser/records.mjs"
n=$(ls "$MV_ARTIFACTS"/ui-*.png 2>/dev/null | wc -l)
[ "$n" -ge 20 ] || fail "expected the UI's screenshots in $MV_ARTIFACTS, found $n"
pass "local UI of a doctor and a patient, and the paged, searchable list of 121 FHIR records, in headless Chromium; $n screenshots in $MV_ARTIFACTS"
