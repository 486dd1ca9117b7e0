#!/usr/bin/env bash
# The record pipeline end to end through real processes (`medvault up`): round trips of FHIR
# resources, Bundles and attachments; dedup within a department (one physical copy, savings
# reported); no dedup hit across departments while the server still keeps one copy; readers
# only; uploads with one key server down; no plaintext in the storage directory; delete + gc.
source "$(dirname "$0")/lib.sh"

start_up
DEP=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
pass "medvault up is ready"

add() { "$MV" user add --deployment "$DEP" --user "$ADMIN" --name "$1" --role doctor --department "$2" --out "$TMP/$1" > /dev/null; }
add card1 cardiology; add card2 cardiology; add neuro1 neurology
"$MV" user add --deployment "$DEP" --user "$TMP/card1" --name x --role doctor --department cardiology --out "$TMP/x" 2>/dev/null \
  && fail "a doctor registered a user"
pass "users registered; a doctor cannot register users"

"$MV" gen-emr "$TMP/emr" 120 --departments cardiology,neurology --seed 11 > /dev/null
mkdir -p "$TMP/a" "$TMP/b"
i=0; for f in "$TMP"/emr/cardiology/*.json; do
  if [ $((i % 2)) -eq 0 ]; then cp "$f" "$TMP/a/"; else cp "$f" "$TMP/b/"; fi; i=$((i + 1)); done

put() { "$MV" put --deployment "$DEP" --user "$TMP/$1" --json "${@:2}"; }
stats() { "$MV" stats --deployment "$DEP" --user "$ADMIN" --json; }

put card1 "$TMP/a" > "$TMP/p1.json"
put card2 "$TMP/b" > "$TMP/p2.json"
P1=$(json_get "$TMP/p1.json" 'd["stats"]["uploaded_blocks"]')
PROVEN2=$(json_get "$TMP/p2.json" 'd["stats"]["proven_blocks"]')
[ "$PROVEN2" -gt 0 ] || fail "the second cardiology doctor got no dedup hit ($PROVEN2)"
stats > "$TMP/s1.json"
python3 - "$TMP/s1.json" <<'PY' || fail "savings not reported"
import json, sys
s = json.load(open(sys.argv[1]))
c = s["departments"]["cardiology"]
# data_bytes: envelopes and each referenced block once (dedup shows there); physical_bytes:
# all the server keeps on disk (packs and index), which a few records cannot amortise.
assert s["logical_bytes"] > s["data_bytes"] > 0, s
assert s["physical_bytes"] == s["pack_bytes"] + s["index_bytes"] > s["data_bytes"], s
assert c["dedup_hits"] > 0 and float(c["savings"]) > 0.1, c
PY
pass "two cardiology doctors: $PROVEN2 blocks deduplicated by proof of ownership, savings $(json_get "$TMP/s1.json" 'd["savings"]')"

# The same content uploaded by a neurology doctor: no dedup hit (other department's tokens),
# but the server stores no second physical copy of any block.
BLOCKS1=$(json_get "$TMP/s1.json" 'd["blocks"]')
put neuro1 "$TMP/a" > "$TMP/p3.json"
[ "$(json_get "$TMP/p3.json" 'd["stats"]["proven_blocks"]')" -eq 0 ] || fail "a neurology doctor got a dedup hit on cardiology content"
[ "$(json_get "$TMP/p3.json" 'd["stats"]["uploaded_blocks"]')" -eq "$P1" ] || fail "neurology should upload every block itself"
stats > "$TMP/s2.json"
[ "$(json_get "$TMP/s2.json" 'd["blocks"]')" -eq "$BLOCKS1" ] || fail "the server stored a second physical copy"
pass "other department: no dedup hit, still one physical copy per block"

# Round trips: prescriptions, a Bundle, a Patient, attachments (several chunks, and empty).
ID=$(json_get "$TMP/p2.json" 'd["records"][3]["id"]'); SRC=$(json_get "$TMP/p2.json" 'd["records"][3]["path"]')
"$MV" get --deployment "$DEP" --user "$TMP/card2" "$ID" -o "$TMP/back.json"
# The store stamps meta.versionId/lastUpdated on a resource with an id (docs/fhir.md).
"$MV" canon --versionless "$SRC" | cmp -s - <("$MV" canon --versionless "$TMP/back.json") || fail "get(put(x)) != canon(x) for a prescription"
# Standard output (not a terminal) gets the same bytes as -o FILE: no newline added.
"$MV" get --deployment "$DEP" --user "$TMP/card2" "$ID" > "$TMP/back.stdout"
cmp -s "$TMP/back.stdout" "$TMP/back.json" || fail "get ID > FILE differs from get ID -o FILE"
[ "$(tail -c 1 "$TMP/back.json")" = "}" ] || fail "get -o added bytes after the record"
# A duplicate key is called one (it used to be a bare "parse error"); the key is not echoed.
printf '{"resourceType":"Patient","id":"a","id":"b"}' > "$TMP/dupkey.json"
"$MV" put --deployment "$DEP" --user "$TMP/card1" "$TMP/dupkey.json" > /dev/null 2> "$TMP/dupkey.err" || true
grep -q "dupkey.json: invalid JSON at byte 44 (duplicate key" "$TMP/dupkey.err" \
  || fail "put does not say 'duplicate key': $(cat "$TMP/dupkey.err")"
cat > "$TMP/bundle.json" <<'JSON'
{ "resourceType": "Bundle", "type": "transaction", "id": "b-1",
  "entry": [
    {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "p1", "name": [{"family": "Testperson", "given": ["Ada"]}], "birthDate": "1970-01-01"}, "request": {"method": "POST", "url": "Patient"}},
    {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
      "subject": {"reference": "urn:uuid:1"}, "authoredOn": "2026-01-02",
      "medicationCodeableConcept": {"text": "Zolmitriptanix 2.5 mg tablet"},
      "dosageInstruction": [{"text": "1 tablet at onset", "doseAndRate": [{"doseQuantity": {"value": 2.50, "unit": "mg"}}]}]},
     "request": {"method": "POST", "url": "MedicationRequest"}}
  ] }
JSON
head -c 3000000 /dev/urandom > "$TMP/scan.dcm"
cp "$TMP/scan.dcm" "$TMP/scan2.dcm"
: > "$TMP/empty.bin"
head -c 700000 /dev/urandom > "$TMP/part"; cat "$TMP/part" "$TMP/part" "$TMP/part" > "$TMP/rep.bin"
put card1 "$TMP/bundle.json" "$TMP/scan.dcm" "$TMP/scan2.dcm" "$TMP/empty.bin" "$TMP/rep.bin" > "$TMP/p4.json"
# A transaction Bundle is stored entry by entry: records 0 and 1 are its two resources.
for k in 0 1 2 3 4 5; do
  id=$(json_get "$TMP/p4.json" "d['records'][$k]['id']"); src=$(json_get "$TMP/p4.json" "d['records'][$k]['path']")
  "$MV" get --deployment "$DEP" --user "$TMP/card1" "$id" -o "$TMP/out$k"
  if [ "$k" -le 1 ]; then
    [ "$src" = "$TMP/bundle.json#entry $((k + 1))" ] || fail "record $k is not the Bundle's entry $((k + 1)): $src"
    # Compared as JSON values (python would rewrite the number 2.50 as 2.5), without the meta the store stamps.
    python3 - "$TMP/bundle.json" "$k" "$TMP/out$k" <<'PY' || fail "Bundle entry $k round trip"
import json, sys
want = json.load(open(sys.argv[1]))["entry"][int(sys.argv[2])]["resource"]
got = json.load(open(sys.argv[3]))
assert set(got["meta"]) == {"versionId", "lastUpdated"}, got["meta"]
del got["meta"]
assert got == want, (got, want)
PY
    "$MV" canon "$TMP/out$k" | cmp -s - "$TMP/out$k" || fail "Bundle entry $k is not in canonical form"
  else cmp -s "$src" "$TMP/out$k" || fail "attachment round trip ($(basename "$src"))"; fi
done
[ "$(json_get "$TMP/p4.json" 'd["records"][2]["kind"]')" = attachment ] || fail "a binary file should be an attachment"
pass "round trips: prescription, a transaction Bundle's entries (each its canonical form), attachments incl. an empty one and one with repeated content"

# Batched restore of everything a doctor may read: the same multiset of canonical records.
"$MV" get --deployment "$DEP" --user "$TMP/card2" --all -o "$TMP/restore" > /dev/null
python3 - "$TMP/restore" "$TMP/b" <<'PY' || fail "get --all did not restore card2's records"
import collections, json, os, sys
def canon(p):
    d = json.load(open(p))
    m = d.get("meta", {})  # a FHIR store stamps meta.versionId/lastUpdated (docs/fhir.md)
    m.pop("versionId", None); m.pop("lastUpdated", None)
    if "meta" in d and not m: del d["meta"]
    return json.dumps(d, sort_keys=True, separators=(",", ":"))
got = collections.Counter(canon(os.path.join(sys.argv[1], f)) for f in os.listdir(sys.argv[1]))
want = collections.Counter(canon(os.path.join(sys.argv[2], f)) for f in os.listdir(sys.argv[2]))
assert got == want, (len(got), len(want))
PY
pass "get --all restores every record of the doctor (batched)"

# Only readers may read; unauthenticated requests are refused.
"$MV" get --deployment "$DEP" --user "$TMP/neuro1" "$ID" -o "$TMP/no" 2>/dev/null && fail "a non-reader read a record"
SURL=$(json_get "$DEP" 'd["storage_url"]')
# An unauthenticated read is answered from the decoy cloud with a 200
# (test_decoy_e2e.sh compares its status, headers and size with the real answer).
[ "$(curl -s -o "$TMP/decoy.env" -w '%{http_code}' "$SURL/v1/records/$ID")" = 200 ] || fail "unauthenticated read not answered by the decoy cloud"
pass "non-reader refused; an unauthenticated read gets a decoy"

# One key server down: uploads still work.
KS1=$(pgrep -f "keyserver run --dir $TMP/mv/ks1" | head -1)
[ -n "$KS1" ] || fail "key server 1 not found"
kill -STOP "$KS1"
printf '{"resourceType":"MedicationRequest","id":"late","status":"active","intent":"order","medicationCodeableConcept":{"text":"Brandnewdrugol 10 mg"},"subject":{"reference":"Patient/z"}}' > "$TMP/late.json"
put card1 --no-cache "$TMP/late.json" > "$TMP/p5.json" || { kill -CONT "$KS1"; fail "upload with one key server stopped"; }
kill -CONT "$KS1"
[ "$(json_get "$TMP/p5.json" 'd["stats"]["records"]')" -eq 1 ] || fail "record not stored with a key server down"
pass "one key server stopped: uploads still work"

# No plaintext anywhere in the storage directory.
python3 - "$TMP/emr/manifest.json" "$TMP/mv/storage" <<'PY' || fail "plaintext found in the storage directory"
import json, os, sys
words = json.load(open(sys.argv[1]))["drugs"] + ["Zolmitriptanix", "Brandnewdrugol", "Testperson"]
for root, _, files in os.walk(sys.argv[2]):
    for f in files:
        data = open(os.path.join(root, f), "rb").read().lower()
        for w in words:
            assert w.lower().encode() not in data, (w, f)
PY
pass "the storage directory contains none of the uploaded drug or patient names"

# Delete + gc frees exactly the blocks no other record references.
stats > "$TMP/s3.json"
SCAN_ID=$(json_get "$TMP/p4.json" 'd["records"][2]["id"]'); SCAN2_ID=$(json_get "$TMP/p4.json" 'd["records"][3]["id"]')
"$MV" rm --deployment "$DEP" --user "$TMP/card2" "$SCAN_ID" 2>/dev/null && fail "a non-owner deleted a record"
"$MV" rm --deployment "$DEP" --user "$TMP/card1" "$SCAN_ID" > /dev/null
stop_pid "$UP"; PIDS=()
# Uploads hold claims for an hour (a claim keeps a block from gc until its record is stored);
# shorten them so this test's gc sees only the references.
echo "claim_ttl_seconds = 1" > "$TMP/mv/storage/storage.conf"
sleep 1.2
"$MV" storage gc --dir "$TMP/mv/storage" --json > "$TMP/gc1.json"
[ "$(json_get "$TMP/gc1.json" 'd["blocks_freed"]')" -eq 0 ] || fail "gc freed blocks still referenced by scan2"
json_get "$TMP/gc1.json" '"{\"blocks_freed\":%d,\"bytes_freed\":%d,\"packs_rewritten\":%d,\"packs_deleted\":%d,\"claims_expired\":%d}" % (d["blocks_freed"], d["bytes_freed"], d["packs_rewritten"], d["packs_deleted"], d["claims_expired"])' \
  | cmp -s - "$TMP/gc1.json" || fail "storage gc --json: the bytes differ from the pinned format: $(cat "$TMP/gc1.json")"
"$MV" up --dir "$TMP/mv" > "$TMP/up2.out" 2> "$TMP/up2.err" &
UP=$!; PIDS+=("$UP")
wait_up "$TMP/up2.err"
"$MV" get --deployment "$DEP" --user "$TMP/card1" "$SCAN2_ID" -o "$TMP/scan2.back"
cmp -s "$TMP/scan2.dcm" "$TMP/scan2.back" || fail "scan2 lost after deleting scan and gc"
"$MV" rm --deployment "$DEP" --user "$TMP/card1" "$SCAN2_ID" > /dev/null
stop_pid "$UP"; PIDS=()
sleep 1.2
"$MV" storage gc --dir "$TMP/mv/storage" --json > "$TMP/gc2.json"
FREED=$(json_get "$TMP/gc2.json" 'd["blocks_freed"]')
WANT=$(json_get "$TMP/p4.json" 'd["records"][2]["blocks"]')
[ "$FREED" -eq "$WANT" ] || fail "gc freed $FREED blocks after both scans were deleted, expected exactly their $WANT"
"$MV" storage check --dir "$TMP/mv/storage" > /dev/null || fail "storage check not clean after gc"
pass "delete + gc: shared blocks kept while referenced, $FREED freed afterwards, check clean"
