#!/usr/bin/env bash
# Round trip of FHIR R4 resources written as a common synthetic-patient exporter writes them
# (bench/gen_fhir.py, independent of `medvault gen-emr`): every resource type the generator
# makes, with urn:uuid and Type/id references, plus transaction Bundles (stored entry by entry),
# is put through a real deployment (`medvault up`), read back one by one and with `get --all`,
# and each answer must be byte for byte `medvault canon --versionless` of its input (the store
# sets meta.versionId/lastUpdated). Re-importing stores nothing. And the generator is
# deterministic. NDJSON, versions and export: test_fhir_import.sh.
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
# What each record must hold: a file's resource, or one entry of a transaction Bundle (each
# entry written out once as a file of its own: FILE#entry N -> $TMP/entries/BASENAME.N).
mkdir -p "$TMP/entries"
python3 - "$TMP/entries" "$TMP"/in/Bundle-*.json <<'PY'
import json, os, sys
for f in sys.argv[2:]:
    for k, e in enumerate(json.load(open(f))["entry"], 1):
        # gen_fhir.py writes its numbers with json.dumps, so writing them again keeps their lexemes.
        open(os.path.join(sys.argv[1], f"{os.path.basename(f)}.{k}"), "w").write(json.dumps(e["resource"]))
PY
expect() {  # expect SOURCE_LABEL OUT_FILE: the versionless canon of what SOURCE_LABEL names
  case "$1" in
    *"#entry "*) "$MV" canon --versionless "$TMP/entries/$(basename "${1%#entry *}").${1##*#entry }" > "$2" ;;
    *) "$MV" canon --versionless "$1" > "$2" ;;
  esac
}
# Record k of a put's JSON answer, as "ID<TAB>STATUS<TAB>PATH" lines (one python run per answer).
rows() { python3 -c 'import json,sys; [print(r.get("id",""), r["status"], r["path"], sep="\t") for r in json.load(open(sys.argv[1]))["records"]]' "$1"; }
entries=$(python3 -c 'import json,sys; print(sum(len(json.load(open(f))["entry"]) for f in sys.argv[1:]))' "$TMP"/in/Bundle-*.json)
n_rec=$((n - 5 + entries))

start_up
DEP=$TMP/mv/deployment.json
"$MV" user add --deployment "$DEP" --user "$TMP/mv/admin" --name card --role doctor --department cardiology \
  --out "$TMP/card" > /dev/null
"$MV" put --deployment "$DEP" --user "$TMP/card" --json "$TMP/in" > "$TMP/put.json" || fail "put of the generated resources failed"
[ "$(json_get "$TMP/put.json" 'len(d["records"])')" -eq "$n_rec" ] || fail "put stored $(json_get "$TMP/put.json" 'len(d["records"])') records, not $n_rec ($((n - 5)) files and $entries Bundle entries)"
[ "$(json_get "$TMP/put.json" 'sorted({r["kind"] for r in d["records"]})')" = "['fhir']" ] || fail "a generated resource was not stored as FHIR"
[ "$(json_get "$TMP/put.json" 'sorted({r["version"] for r in d["records"]})')" = "[1]" ] || fail "a first import gave a version other than 1"
pass "put: $((n - 5)) resources of $(($(echo $TYPES | wc -w) - 1)) types and 5 transaction Bundles ($entries entries, each its own record) stored as FHIR, all version 1"

# One by one: get(put(x)) == canon(x) without meta.versionId/lastUpdated, byte for byte; and the
# stored version carries meta.versionId "1".
rows "$TMP/put.json" > "$TMP/rows.tsv"
while IFS=$'\t' read -r id status src; do
  "$MV" get --deployment "$DEP" --user "$TMP/card" "$id" -o "$TMP/one.json" || fail "get $id ($(basename "$src")) failed"
  expect "$src" "$TMP/want.json"
  "$MV" canon --versionless "$TMP/one.json" | cmp -s - "$TMP/want.json" || fail "get(put(x)) != canon(x) for $(basename "$src")"
  grep -q '"versionId":"1"' "$TMP/one.json" || fail "$(basename "$src"): meta.versionId is not 1"
done < "$TMP/rows.tsv"
pass "get of each record: byte-identical to the canon of its input (file or Bundle entry) but for meta.versionId 1 and meta.lastUpdated"

# Again: nothing is stored, every resource is reported unchanged with the record it has.
"$MV" put --deployment "$DEP" --user "$TMP/card" --json "$TMP/in" > "$TMP/again.json" || fail "the second import failed"
[ "$(json_get "$TMP/again.json" 'd["stats"]["records"]')" -eq 0 ] || fail "a second import stored $(json_get "$TMP/again.json" 'd["stats"]["records"]') records"
[ "$(json_get "$TMP/again.json" 'd["stats"]["unchanged"]')" -eq "$n_rec" ] || fail "a second import: not every resource unchanged"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["records"]; b=json.load(open(sys.argv[2]))["records"]; sys.exit(0 if [r["id"] for r in a]==[r["id"] for r in b] else 1)' "$TMP/put.json" "$TMP/again.json" || fail "a second import reported other record ids"
pass "a second import of the same files stores nothing: $n_rec unchanged, each with its record id"
# A standalone Patient file and a Bundle's Patient entry that are the same resource are one record.
n_stored=$(json_get "$TMP/put.json" 'd["stats"]["records"]')
[ "$n_stored" -eq "$(json_get "$TMP/put.json" 'len({r["id"] for r in d["records"]})')" ] || fail "distinct record ids differ from the records stored"

# All at once into a directory: each restored file, named as its input (Bundle entries by their
# record id), is the input's canon.
"$MV" get --deployment "$DEP" --user "$TMP/card" --all -o "$TMP/all" || fail "get --all failed"
[ "$(ls "$TMP/all" | wc -l)" -eq "$n_stored" ] || fail "get --all wrote $(ls "$TMP/all" | wc -l) files, not $n_stored"
while IFS=$'\t' read -r id status src; do
  [ "$status" = stored ] || continue
  case "$src" in *"#entry "*) got="$TMP/all/$id" ;; *) got="$TMP/all/$(basename "$src")" ;; esac
  expect "$src" "$TMP/want.json"
  "$MV" canon --versionless "$got" | cmp -s - "$TMP/want.json" || fail "get --all: $(basename "$src") differs from its canon"
done < "$TMP/rows.tsv"
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
[ "$(ls "$TMP/all" | wc -l)" -eq $((2 * n_stored + 2)) ] || fail "second restore: $(ls "$TMP/all" | wc -l) files, not $((2 * n_stored + 2))"
for f in "$TMP"/in/*.json; do
  case "$f" in */Bundle-*) continue ;; esac
  [ -f "$TMP/all/$(basename "$f")" ] || continue # the same resource as a Bundle entry: restored under the entry's id
  "$MV" canon --versionless "$f" | cmp -s - <("$MV" canon --versionless "$TMP/all/$(basename "$f")") || fail "an earlier restore's $(basename "$f") was changed"
done
for k in 0 1; do
  id=$(json_get "$TMP/put2.json" "d['records'][$k]['id']"); src=$(json_get "$TMP/put2.json" "d['records'][$k]['path']")
  if [ -f "$TMP/all/$id-shot.json" ]; then got="$TMP/all/$id-shot.json"; else got="$TMP/all/shot.json"; fi
  "$MV" canon --versionless "$src" | cmp -s - <("$MV" canon --versionless "$got") || fail "record $k of the two named shot.json is not in its own file"
done
[ -f "$TMP/all/shot.json" ] && [ "$(ls "$TMP"/all/*-shot.json | wc -l)" -eq 1 ] || fail "two records named shot.json: expected shot.json and one ID-shot.json"
pass "names taken: earlier files kept, records written as ID-NAME; two records of one name each in its own file"

