#!/usr/bin/env bash
# Patients as FHIR knows them (docs/fhir.md): a bulk export whose resources reference
# `Patient/<id>` is written for the registered patient whose Patient resource carries the
# hospital's MRN as an identifier (system urn:medvault:mrn), with the delegation rules of the
# workflow: refused without the patient's delegation (and the records of other patients in the
# same import stored all the same), written for her (her key and episode; she reads them) once she
# has delegated. The Patient file sorts after the Observations that point at it, so the link must
# come from reading the inputs first. ls finds the records by MRN and by Patient id.
source "$(dirname "$0")/lib.sh"

start_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
add() { "$MV" user add --user "$ADMIN" --name "$1" --role "$2" ${3:+--department "$3"} --out "$TMP/$1" > /dev/null; }
add alvarez doctor cardiology
add bauer doctor cardiology
add dana patient cardiology
"$MV" directory --user "$ADMIN" --role patient --name dana --json > "$TMP/dir.json"
MRN=$(json_get "$TMP/dir.json" 'd["users"][0]["mrn"]')
ALVAREZ=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/public.json"))["sign_public_key"])' "$TMP/alvarez")
"$MV" appointment request --user "$TMP/dana" --department cardiology --reason "follow-up" --json > "$TMP/a1.json"
APPT=$(json_get "$TMP/a1.json" 'd["id"]')
"$MV" appointment update "$APPT" --user "$ADMIN" --doctor "$ALVAREZ" --at 2026-11-23T09:30 --place "Room 12" > /dev/null
"$MV" appointment checkin "$APPT" --user "$TMP/alvarez" > /dev/null

# A bulk export: dana's Patient (id pat-dana, with her MRN), three Observations about her, one
# Observation about a patient the hospital does not know (a legacy record), one Patient without
# an MRN identifier.
mkdir -p "$TMP/export"
python3 - "$TMP/export" "$MRN" <<'PY'
import json, sys
out, mrn = sys.argv[1:3]
pats = [{"resourceType": "Patient", "id": "pat-dana", "name": [{"family": "Dana", "given": ["Ada"]}],
         "identifier": [{"system": "http://hospital.smarthealthit.org", "value": "x-1"},
                        {"system": "urn:medvault:mrn", "value": mrn}]},
        {"resourceType": "Patient", "id": "pat-other", "name": [{"family": "Other"}]}]
obs = [{"resourceType": "Observation", "id": f"obs-{i}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": "Patient/pat-dana"}, "effectiveDateTime": f"2026-11-2{i}T09:00:00Z",
        "valueQuantity": {"value": 60 + i, "unit": "/min"}} for i in range(3)]
obs.append({"resourceType": "Observation", "id": "obs-other", "status": "final", "code": {"text": "ward check"},
            "subject": {"reference": "Patient/pat-other"}, "effectiveDateTime": "2026-11-20T09:00:00Z"})
with open(f"{out}/Observation.ndjson", "w") as f:
    f.writelines(json.dumps(o) + "\n" for o in obs)
with open(f"{out}/Patient.ndjson", "w") as f:
    f.writelines(json.dumps(p) + "\n" for p in pats)
PY
pass "a bulk export of 2 Patients (one with MRN $MRN) and 4 Observations"

# Without the delegation: dana's 4 resources refused (and named), the other 2 stored.
"$MV" put --user "$TMP/alvarez" --json "$TMP/export" > "$TMP/p0.json" 2> "$TMP/p0.err" && fail "records for a registered patient were written without her delegation"
[ "$(json_get "$TMP/p0.json" '[r["path"].rsplit("/",1)[1] for r in d["records"] if r["status"]=="failed"]')" = \
  "['Observation.ndjson:1', 'Observation.ndjson:2', 'Observation.ndjson:3', 'Patient.ndjson:1']" ] || fail "not exactly dana's four resources refused: $(cat "$TMP/p0.json")"
[ "$(json_get "$TMP/p0.json" 'd["stats"]["records"]')" -eq 2 ] || fail "the other patient's resources were not stored"
grep -q "no delegation from patient $MRN" "$TMP/p0.err" || fail "the refusal does not name the missing delegation: $(cat "$TMP/p0.err")"
pass "without a delegation: dana's 4 resources refused, 'no delegation from patient $MRN'; the other 2 stored"

# With it: her 4 are written for her, the other 2 are unchanged.
"$MV" delegate grant --user "$TMP/dana" --appointment "$APPT" > /dev/null
"$MV" put --user "$TMP/alvarez" --json "$TMP/export" > "$TMP/p1.json" || fail "the import failed after the delegation: $(cat "$TMP/p1.json")"
[ "$(json_get "$TMP/p1.json" 'd["stats"]["records"]')" -eq 4 ] && [ "$(json_get "$TMP/p1.json" 'd["stats"]["unchanged"]')" -eq 2 ] \
  || fail "after the delegation: expected 4 stored, 2 unchanged: $(json_get "$TMP/p1.json" 'd["stats"]')"
"$MV" ls --user "$TMP/alvarez" --patient "$MRN" --json > "$TMP/ls.json"
[ "$(json_get "$TMP/ls.json" 'd["total"]')" -eq 4 ] || fail "ls --patient MRN: $(json_get "$TMP/ls.json" 'd["total"]') records, not 4"
[ "$(json_get "$TMP/ls.json" 'sorted({(r["patient"] != "", r["episode"]) for r in d["records"]})')" = "[(True, '$APPT')]" ] \
  || fail "dana's records are not written for her and her episode: $(head -c 400 "$TMP/ls.json")"
"$MV" ls --user "$TMP/alvarez" --patient pat-dana --json > "$TMP/ls2.json"
[ "$(json_get "$TMP/ls2.json" 'd["total"]')" -eq 4 ] || fail "ls --patient pat-dana differs from ls --patient MRN"
"$MV" ls --user "$TMP/alvarez" --patient pat-other --json > "$TMP/ls3.json"
[ "$(json_get "$TMP/ls3.json" 'sorted((r["resource_id"], r["patient"]) for r in d["records"])')" = "[('obs-other', ''), ('pat-other', '')]" ] \
  || fail "the other patient's records: $(cat "$TMP/ls3.json")"
pass "after the delegation: dana's 4 resources written for her (her key, episode $APPT), 2 unchanged; ls --patient by MRN and by Patient id"

# She reads them; another doctor without the delegation cannot write them.
OID=$(json_get "$TMP/p1.json" '[r["id"] for r in d["records"] if r["path"].endswith("Observation.ndjson:2")][0]')
"$MV" get --user "$TMP/dana" "$OID" -o "$TMP/dana-obs.json" || fail "the patient cannot read a record written for her"
[ "$(json_get "$TMP/dana-obs.json" 'd["id"]')" = obs-1 ] || fail "the patient read another record"
"$MV" put --user "$TMP/bauer" --json "$TMP/export" > "$TMP/p2.json" 2> /dev/null && fail "a doctor without her delegation wrote dana's records"
[ "$(json_get "$TMP/p2.json" 'len([r for r in d["records"] if r["status"]=="failed"])')" -eq 4 ] || fail "bauer: not dana's 4 refused"
pass "dana reads her Observation; bauer (no delegation) is refused her 4 resources"
