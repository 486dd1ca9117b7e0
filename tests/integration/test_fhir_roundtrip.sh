#!/usr/bin/env bash
# Round trip of FHIR R4 resources written as a common synthetic-patient exporter writes them
# (bench/gen_fhir.py, independent of `medvault gen-emr`): every resource type the generator
# makes, with urn:uuid and Type/id references, plus transaction Bundles, is put through a real
# deployment (`medvault up`), read back one by one and with `get --all`, and each answer must
# be byte for byte `medvault canon` of its input. Also: the generator is deterministic.
source "$(dirname "$0")/lib.sh"
GEN="python3 $(dirname "$0")/../../bench/gen_fhir.py"
TYPES="MedicationRequest Condition Encounter Procedure Immunization AllergyIntolerance Patient Observation Bundle"

# The generator: same arguments, same bytes; another seed, other bytes.
$GEN --out "$TMP/d1" --count 5 --seed 3 --department neurology
$GEN --out "$TMP/d2" --count 5 --seed 3 --department neurology
$GEN --out "$TMP/d3" --count 5 --seed 4 --department neurology
diff -r "$TMP/d1" "$TMP/d2" > /dev/null || fail "the generator is not deterministic"
diff -r "$TMP/d1" "$TMP/d3" > /dev/null && fail "another seed gave the same resources"
$GEN --out "$TMP/nd" --count 7 --type Observation --ndjson
[ "$(wc -l < "$TMP/nd/Observation.ndjson")" -eq 7 ] || fail "NDJSON: not one resource per line"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$TMP/nd/Observation.ndjson" || fail "NDJSON: a line is not JSON"
pass "generator: deterministic per seed; NDJSON has one resource per line"

mkdir -p "$TMP/in"
n=0
for t in $TYPES; do
  $GEN --out "$TMP/in" --count 3 --type "$t" --seed 7 --department cardiology
  $GEN --out "$TMP/in" --count 2 --type "$t" --seed 8 --department oncology --refs relative
  n=$((n + 5))
done
[ "$(ls "$TMP/in" | wc -l)" -eq "$n" ] || fail "expected $n generated files"

start_up
DEP=$TMP/mv/deployment.json
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name card --role doctor --department cardiology \
  --out "$TMP/card" > /dev/null
"$MV" put --deployment "$DEP" --user "$TMP/card" --json "$TMP/in" > "$TMP/put.json" || fail "put of the generated resources failed"
[ "$(json_get "$TMP/put.json" 'len(d["records"])')" -eq "$n" ] || fail "put stored $(json_get "$TMP/put.json" 'len(d["records"])') records, not $n"
[ "$(json_get "$TMP/put.json" 'sorted({r["kind"] for r in d["records"]})')" = "['fhir']" ] || fail "a generated resource was not stored as FHIR"
pass "put: $n resources of $(echo $TYPES | wc -w) types (Bundles included) stored as FHIR records"

# One by one: get(put(x)) == canon(x), byte for byte.
for k in $(seq 0 $((n - 1))); do
  id=$(json_get "$TMP/put.json" "d['records'][$k]['id']"); src=$(json_get "$TMP/put.json" "d['records'][$k]['path']")
  "$MV" get --deployment "$DEP" --user "$TMP/card" "$id" -o "$TMP/one.json" || fail "get $id ($(basename "$src")) failed"
  "$MV" canon "$src" | cmp -s - "$TMP/one.json" || fail "get(put(x)) != canon(x) for $(basename "$src")"
done
pass "get of each record: byte-identical to medvault canon of its input, for every type"

# All at once into a directory: each restored file, named as its input, is the input's canon.
"$MV" get --deployment "$DEP" --user "$TMP/card" --all -o "$TMP/all" || fail "get --all failed"
[ "$(ls "$TMP/all" | wc -l)" -eq "$n" ] || fail "get --all wrote $(ls "$TMP/all" | wc -l) files, not $n"
for f in "$TMP"/in/*.json; do
  "$MV" canon "$f" | cmp -s - "$TMP/all/$(basename "$f")" || fail "get --all: $(basename "$f") differs from its canon"
done
[ "$(stat -c %a "$TMP/all/$(ls "$TMP/all" | head -n 1)")" = 600 ] || fail "a restored record is not 0600"
pass "get --all: every record restored under its own name (0600), byte-identical to its canon"

# Names already taken: a second restore into the same directory keeps every earlier file and
# writes each record as ID-NAME; two records with one name in one run: one is NAME, the other
# ID-NAME, each holding its own record (the writers work in parallel, so this is checked).
mkdir -p "$TMP/same1" "$TMP/same2"
$GEN --out "$TMP/same1" --count 1 --type Immunization --seed 21
$GEN --out "$TMP/same2" --count 1 --type Immunization --seed 22
mv "$TMP"/same2/*.json "$TMP/same2/shot.json"; mv "$TMP"/same1/*.json "$TMP/same1/shot.json"
"$MV" put --deployment "$DEP" --user "$TMP/card" --json "$TMP/same1" "$TMP/same2" > "$TMP/put2.json"
"$MV" get --deployment "$DEP" --user "$TMP/card" --all -o "$TMP/all" || fail "a second get --all into the same directory failed"
[ "$(ls "$TMP/all" | wc -l)" -eq $((2 * n + 2)) ] || fail "second restore: $(ls "$TMP/all" | wc -l) files, not $((2 * n + 2))"
for f in "$TMP"/in/*.json; do
  "$MV" canon "$f" | cmp -s - "$TMP/all/$(basename "$f")" || fail "an earlier restore's $(basename "$f") was changed"
done
for k in 0 1; do
  id=$(json_get "$TMP/put2.json" "d['records'][$k]['id']"); src=$(json_get "$TMP/put2.json" "d['records'][$k]['path']")
  if [ -f "$TMP/all/$id-shot.json" ]; then got="$TMP/all/$id-shot.json"; else got="$TMP/all/shot.json"; fi
  "$MV" canon "$src" | cmp -s - "$got" || fail "record $k of the two named shot.json is not in its own file"
done
[ -f "$TMP/all/shot.json" ] && [ "$(ls "$TMP"/all/*-shot.json | wc -l)" -eq 1 ] || fail "two records named shot.json: expected shot.json and one ID-shot.json"
pass "names taken: earlier files kept, records written as ID-NAME; two records of one name each in its own file"
