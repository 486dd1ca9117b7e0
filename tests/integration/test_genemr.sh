#!/usr/bin/env bash
# medvault gen-emr: the synthetic prescription workload is deterministic per seed, split over
# departments as asked, valid JSON in FHIR R4 shapes, skewed towards a few popular regimens,
# and its manifest names every drug the files contain (tests grep storage for those names).
source "$(dirname "$0")/lib.sh"

N=2000
"$MV" gen-emr "$TMP/a" $N --seed 7 --bundles --json > "$TMP/a.json"
"$MV" gen-emr "$TMP/b" $N --seed 7 --bundles > /dev/null
"$MV" gen-emr "$TMP/c" $N --seed 8 --bundles > /dev/null
diff -r -q "$TMP/a" "$TMP/b" > /dev/null || fail "two runs with the same seed differ"
diff -r -q "$TMP/a" "$TMP/c" > /dev/null && fail "two seeds gave the same workload"
[ "$(cmp -s "$TMP/a/cardiology/rx-1.json" "$TMP/c/cardiology/rx-1.json"; echo $?)" = 1 ] \
  || fail "rx-1 is the same under two seeds"
pass "same seed gives identical trees, another seed differs"

# Golden digests: gen-emr's bytes for these arguments never change (test data, benchmarks and
# their baselines depend on it), whether the vocabulary lives in C or in data/gen-emr. Taken
# from the build before the vocabulary moved to data/; a change here is a change of workload.
tree_digest() { (cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-64); }
"$MV" gen-emr "$TMP/g1" 2000 --seed 42 --bundles --departments cardiology,neurology,oncology,endocrinology,er \
  --patients 300 --doctors 5 > /dev/null
[ "$(tree_digest "$TMP/g1")" = 5d1def75e8bf0aea44ad766b33b11c1604fa2f9cc5f1fb684bea2428967ddf72 ] \
  || fail "gen-emr output changed (seed 42, five departments, bundles)"
"$MV" gen-emr "$TMP/g2" 500 --seed 1 > /dev/null
[ "$(tree_digest "$TMP/g2")" = 18ff30554007ffb450778918d3a50e52cab1d44166f5c353958a412f9281f087 ] \
  || fail "gen-emr output changed (seed 1, default departments)"
pass "gen-emr output matches its golden digests"

python3 - "$TMP/a" "$TMP/a.json" $N <<'PY' || fail "workload checks (above)"
import collections, glob, json, os, sys
root, summary, n = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
man = json.load(open(os.path.join(root, "manifest.json")))
depts = ["cardiology", "neurology", "oncology", "endocrinology"]
def die(msg):
    print("FAIL:", msg); sys.exit(1)
if list(man["departments"]) != depts: die(f"departments {list(man['departments'])}")
if man["seed"] != 7 or man["prescriptions"] != n: die("manifest seed/count")
if summary["prescriptions"] != n or summary["files"] != n + man["patients"] + 1: die(f"summary {summary}")

RXNORM, UCUM, SCT = "http://www.nlm.nih.gov/research/umls/rxnorm", "http://unitsofmeasure.org", "http://snomed.info/sct"
def check_quantity(q, what):
    if set(q) != {"value", "unit", "system", "code"} or q["system"] != UCUM: die(f"{what} not a UCUM Quantity: {q}")
    if not isinstance(q["value"], (int, float)) or q["value"] <= 0: die(f"{what} value {q['value']}")
def check_rx(r, f):
    need = ["resourceType", "id", "meta", "identifier", "status", "intent", "medicationCodeableConcept", "subject",
            "encounter", "authoredOn", "requester", "dosageInstruction", "dispenseRequest"]
    for k in need:
        if k not in r: die(f"{f}: no {k}")
    if r["resourceType"] != "MedicationRequest" or r["status"] != "active" or r["intent"] != "order": die(f"{f}: kind")
    c = r["medicationCodeableConcept"]["coding"][0]
    if c["system"] != RXNORM or not c["code"].isdigit() or not c["display"]: die(f"{f}: coding {c}")
    if not r["subject"]["reference"].startswith("Patient/") or not r["subject"]["display"]: die(f"{f}: subject")
    if not r["requester"]["reference"].startswith("Practitioner/"): die(f"{f}: requester")
    if not r["encounter"]["reference"].startswith("Encounter/"): die(f"{f}: encounter")
    if not r["authoredOn"].startswith("2025-") or not r["meta"]["lastUpdated"].endswith("Z"): die(f"{f}: dates")
    d = r["dosageInstruction"][0]
    rep = d["timing"]["repeat"]
    if rep["periodUnit"] not in ("s", "min", "h", "d", "wk", "mo", "a") or rep["frequency"] < 1: die(f"{f}: timing {rep}")
    if d["route"]["coding"][0]["system"] != SCT: die(f"{f}: route")
    check_quantity(d["doseAndRate"][0]["doseQuantity"], f + " doseQuantity")
    dr = r["dispenseRequest"]
    if dr["validityPeriod"]["start"] != r["authoredOn"][:10] or dr["validityPeriod"]["end"] <= dr["validityPeriod"]["start"]:
        die(f"{f}: validityPeriod")
    if not isinstance(dr["numberOfRepeatsAllowed"], int) or dr["numberOfRepeatsAllowed"] < 0: die(f"{f}: repeats")
    check_quantity(dr["quantity"], f + " quantity")
    check_quantity(dr["expectedSupplyDuration"], f + " expectedSupplyDuration")
    for note in r.get("note", []):
        if set(note) != {"text"}: die(f"{f}: note")

seen_ids, drugs, by_id, total = set(), set(), {}, 0
for dept in depts:
    files = glob.glob(os.path.join(root, dept, "rx-*.json"))
    info = man["departments"][dept]
    if len(files) != n // 4 or info["prescriptions"] != n // 4: die(f"{dept}: {len(files)} files, manifest {info['prescriptions']}")
    if len(info["doctors"]) != 8: die(f"{dept}: doctors {len(info['doctors'])}")
    docs = {d["reference"] for d in info["doctors"]}
    regimens = collections.Counter()
    for f in files:
        raw = open(f).read()
        r = json.loads(raw)
        if raw != json.dumps(r, indent=2) + "\n": die(f"{f}: not pretty-printed with 2 spaces")
        check_rx(r, f)
        if r["requester"]["reference"] not in docs: die(f"{f}: requester not a {dept} doctor")
        if r["id"] in seen_ids: die(f"{f}: duplicate id")
        seen_ids.add(r["id"]); by_id[r["id"]] = r
        drugs.add(r["medicationCodeableConcept"]["text"])
        d, dr = r["dosageInstruction"][0], r["dispenseRequest"]
        regimens[(r["medicationCodeableConcept"]["coding"][0]["code"], d["text"], dr["quantity"]["value"],
                  dr["numberOfRepeatsAllowed"])] += 1
    total += len(files)
    top = regimens.most_common(1)[0][1] / len(files)
    uniform = 1 / len(regimens)
    print(f"  {dept}: {len(regimens)} regimens seen, top share {top:.3f} vs uniform {uniform:.3f}")
    if top < 0.10 or top < 5 * uniform: die(f"{dept}: no popularity skew (top {top:.3f}, uniform {uniform:.3f})")
    top5 = sum(c for _, c in regimens.most_common(5)) / len(files)
    if top5 < 0.4: die(f"{dept}: top five regimens only {top5:.2f} of prescriptions")
if total != n: die(f"{total} prescriptions")
if sorted(drugs) != man["drugs"]: die("manifest drugs differ from the drugs in the files")

bundles = glob.glob(os.path.join(root, "bundles", "bundle-*.json"))
if len(bundles) != man["patients"]: die(f"{len(bundles)} bundles for {man['patients']} patients")
in_bundles = 0
for f in bundles:
    b = json.load(open(f))
    if b["resourceType"] != "Bundle" or b["type"] != "transaction": die(f"{f}: not a transaction Bundle")
    p = b["entry"][0]["resource"]
    if p["resourceType"] != "Patient" or b["entry"][0]["request"] != {"method": "PUT", "url": "Patient/" + p["id"]}:
        die(f"{f}: first entry")
    if not p["identifier"][0]["value"].startswith("MRN") or p["gender"] not in ("male", "female"): die(f"{f}: patient")
    for e in b["entry"][1:]:
        r = e["resource"]
        if r != by_id.get(r["id"]): die(f"{f}: {r['id']} differs from its rx file")
        if r["subject"]["reference"] != "Patient/" + p["id"]: die(f"{f}: prescription of another patient")
        if e["fullUrl"] != "urn:uuid:" + r["id"] or e["request"]["url"] != "MedicationRequest/" + r["id"]: die(f"{f}: entry")
        in_bundles += 1
if in_bundles != n: die(f"bundles hold {in_bundles} prescriptions")
PY
pass "counts, department split, FHIR shapes, 2-space layout, Zipf skew, bundles, manifest drug list"

# Custom departments (unknown names get the general formulary), patient and doctor counts.
"$MV" gen-emr "$TMP/d" 7 --departments er,icu --patients 3 --doctors 2 --seed 0 > /dev/null
[ "$(ls "$TMP/d/er" | wc -l)" = 4 ] && [ "$(ls "$TMP/d/icu" | wc -l)" = 3 ] || fail "7 prescriptions not split 4/3"
[ -e "$TMP/d/bundles" ] && fail "bundles written without --bundles"
[ "$(json_get "$TMP/d/manifest.json" 'len(d["departments"]["er"]["doctors"])')" = 2 ] || fail "--doctors ignored"
[ "$(json_get "$TMP/d/manifest.json" 'd["patients"]')" = 3 ] || fail "--patients ignored"
pass "custom departments, patients and doctors"

# Usage errors exit 2, a non-empty OUTDIR is refused with 1 and left alone.
rc() { "$@" > /dev/null 2>&1 && echo 0 || echo $?; }
[ "$(rc "$MV" gen-emr "$TMP/e")" = 2 ] || fail "missing N accepted"
[ "$(rc "$MV" gen-emr "$TMP/e" 0)" = 2 ] || fail "N = 0 accepted"
[ "$(rc "$MV" gen-emr "$TMP/e" 10 --departments 'Bad Name')" = 2 ] || fail "bad department name accepted"
[ "$(rc "$MV" gen-emr "$TMP/e" 10 --departments a,a)" = 2 ] || fail "duplicate department accepted"
[ "$(rc "$MV" gen-emr "$TMP/e" 10 --departments a,b,c --patients 2)" = 2 ] || fail "fewer patients than departments"
[ "$(rc "$MV" gen-emr "$TMP/d" 5)" = 1 ] || fail "non-empty OUTDIR accepted"
[ "$(ls "$TMP/d/er" | wc -l)" = 4 ] || fail "non-empty OUTDIR was modified"
"$MV" gen-emr --help | grep -q "usage: medvault gen-emr" || fail "--help"
pass "usage errors and a non-empty OUTDIR are refused"
