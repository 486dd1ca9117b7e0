#!/usr/bin/env bash
# FHIR Bulk Data import and versions on a real deployment (`medvault up`), with resources from
# bench/gen_fhir.py (independent of `medvault gen-emr`): NDJSON is one record per line (a blank
# line skipped, a broken line failing alone and named); a changed line becomes version 2 while
# version 1 stays readable (get TYPE/ID/_history/1) and history lists both; ls filters and
# pages from the local index; export writes NDJSON back, which re-imports as a no-op
# (docs/fhir.md).
source "$(dirname "$0")/lib.sh"
GEN="python3 $(dirname "$0")/../../bench/gen_fhir.py"
start_up
DEP=$TMP/mv/deployment.json
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name card --role doctor --department cardiology \
  --out "$TMP/card" > /dev/null

# Bulk Data NDJSON: one record per line; a blank line is skipped and a bad line fails alone.
$GEN --out "$TMP/bulk" --count 9 --type Observation --ndjson --seed 31
$GEN --out "$TMP/bulk" --count 4 --type Condition --ndjson --seed 32
cp "$TMP/bulk/Observation.ndjson" "$TMP/obs-v1.ndjson"
"$MV" put --deployment "$DEP" --user "$TMP/card" --json "$TMP/bulk" > "$TMP/nd.json" || fail "NDJSON import failed"
[ "$(json_get "$TMP/nd.json" 'd["stats"]["records"]')" -eq 13 ] || fail "NDJSON: $(json_get "$TMP/nd.json" 'd["stats"]["records"]') records, not 13"
for k in $(seq 0 12); do
  src=$(json_get "$TMP/nd.json" "d['records'][$k]['path']"); id=$(json_get "$TMP/nd.json" "d['records'][$k]['id']")
  file=${src%:*}; line=${src##*:}
  sed -n "${line}p" "$file" > "$TMP/line.json"
  "$MV" get --deployment "$DEP" --user "$TMP/card" "$id" -o "$TMP/one.json" || fail "get of $src failed"
  "$MV" canon --versionless "$TMP/one.json" | cmp -s - <("$MV" canon --versionless "$TMP/line.json") || fail "NDJSON round trip: $src differs"
done
pass "NDJSON: 13 lines of 2 files, each its own record, byte-identical to its line's canon"

{ head -n 2 "$TMP/obs-v1.ndjson"; echo; echo '{"resourceType":"Observation","id":"x", "status":'; } > "$TMP/bad.ndjson"
"$MV" put --deployment "$DEP" --user "$TMP/card" --json "$TMP/bad.ndjson" > "$TMP/bad.json" 2> "$TMP/bad.err" && fail "an NDJSON file with a broken line was accepted whole"
[ "$(json_get "$TMP/bad.json" 'd["stats"]["unchanged"]')" -eq 2 ] || fail "the good lines of a file with a bad one were not handled"
json_get "$TMP/bad.json" '[r["path"] for r in d["records"] if r["status"]=="failed"]' | grep -q 'bad.ndjson:4' || fail "the bad line is not named FILE:4"
grep -q 'bad.ndjson:4: invalid JSON' "$TMP/bad.err" || fail "the error does not say which line is not JSON: $(cat "$TMP/bad.err")"
pass "NDJSON: a blank line skipped, a broken line fails alone and is named (FILE:4), the others are handled"

# A changed resource: version 2; version 1 stays readable (vread), history lists both.
python3 - "$TMP/bulk/Observation.ndjson" <<'PY'
import json, sys
p = sys.argv[1]
lines = open(p).read().splitlines()
r = json.loads(lines[0]); r["status"] = "amended"
lines[0] = json.dumps(r)
open(p, "w").write("\n".join(lines) + "\n")
PY
obs=$(head -n 1 "$TMP/obs-v1.ndjson" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
"$MV" put --deployment "$DEP" --user "$TMP/card" --json "$TMP/bulk" > "$TMP/v2.json" || fail "re-import with one change failed"
[ "$(json_get "$TMP/v2.json" 'd["stats"]["records"]')" -eq 1 ] && [ "$(json_get "$TMP/v2.json" 'd["stats"]["new_versions"]')" -eq 1 ] \
  && [ "$(json_get "$TMP/v2.json" 'd["stats"]["unchanged"]')" -eq 12 ] || fail "one changed line: expected 1 new version and 12 unchanged: $(json_get "$TMP/v2.json" 'd["stats"]')"
[ "$(json_get "$TMP/v2.json" '[r["version"] for r in d["records"] if r["status"]=="stored"][0]')" -eq 2 ] || fail "the changed resource is not version 2"
"$MV" get --deployment "$DEP" --user "$TMP/card" "Observation/$obs" -o "$TMP/latest.json" || fail "get Observation/ID failed"
[ "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["status"], d["meta"]["versionId"])' "$TMP/latest.json")" = "amended 2" ] || fail "get Type/id is not version 2"
"$MV" get --deployment "$DEP" --user "$TMP/card" "Observation/$obs/_history/1" -o "$TMP/v1.json" || fail "vread of version 1 failed"
head -n 1 "$TMP/obs-v1.ndjson" > "$TMP/line.json"
"$MV" canon --versionless "$TMP/v1.json" | cmp -s - <("$MV" canon --versionless "$TMP/line.json") || fail "version 1 does not hold the old bytes"
"$MV" history --deployment "$DEP" --user "$TMP/card" --json "Observation/$obs" > "$TMP/hist.json" || fail "history failed"
[ "$(json_get "$TMP/hist.json" '[v["version"] for v in d["versions"]]')" = "[2, 1]" ] || fail "history is not [2, 1]: $(cat "$TMP/hist.json")"
"$MV" get --deployment "$DEP" --user "$TMP/card" "Observation/$obs/_history/3" -o "$TMP/v3.json" 2> /dev/null && fail "a version that does not exist was read"
pass "a changed line: version 2 (1 stored, 12 unchanged); get Type/id is v2, vread v1 returns the old bytes, history [2, 1]"

# ls from the local index, and export back to NDJSON.
"$MV" ls --deployment "$DEP" --user "$TMP/card" --type Condition --json > "$TMP/ls.json" || fail "ls --type failed"
cond_total=$(($(json_get "$TMP/ls.json" 'd["total"]')))
[ "$cond_total" -ge 4 ] && [ "$(json_get "$TMP/ls.json" 'sorted({r["type"] for r in d["records"]})')" = "['Condition']" ] || fail "ls --type Condition: $(head -c 300 "$TMP/ls.json")"
"$MV" ls --deployment "$DEP" --user "$TMP/card" --type Observation --limit 3 --offset 2 --json > "$TMP/page.json" || fail "ls paging failed"
[ "$(json_get "$TMP/page.json" 'len(d["records"])')" -eq 3 ] || fail "ls --limit 3 gave $(json_get "$TMP/page.json" 'len(d["records"])')"
"$MV" export --deployment "$DEP" --user "$TMP/card" --type Observation -o "$TMP/exp" --json > "$TMP/exp.json" || fail "export failed"
obs_total=$(json_get "$TMP/page.json" 'd["total"]')
[ "$(wc -l < "$TMP/exp/Observation.ndjson")" -eq "$obs_total" ] || fail "export wrote $(wc -l < "$TMP/exp/Observation.ndjson") lines, not $obs_total"
grep -c '"versionId":"2"' "$TMP/exp/Observation.ndjson" | grep -qx 1 || fail "export does not hold exactly the one version 2"
"$MV" put --deployment "$DEP" --user "$TMP/card" --json "$TMP/exp" > "$TMP/reimp.json" || fail "re-import of the export failed"
[ "$(json_get "$TMP/reimp.json" 'd["stats"]["records"]')" -eq 0 ] || fail "importing an export of the same resources stored something"
"$MV" export --deployment "$DEP" --user "$TMP/card" --type Observation -o "$TMP/exp" 2> "$TMP/exp.err" && fail "export overwrote an existing file"
pass "ls --type/--limit/--offset from the index; export: one line per latest Observation ($obs_total), which re-imports as a no-op; no file overwritten"
