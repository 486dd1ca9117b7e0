#!/usr/bin/env bash
# bench/guard_fp.sh [BUILD_DIR] [--doctors N] [--rounds R] [--write FILE]
#
# False positives of the decoy guard (docs/guard.md, issue 5), two ways:
#  1. bench_guard_fp: eight simulated weeks of a hospital (about a million reads by ward,
#     emergency and outpatient doctors and patients) through the guard's own decision code with
#     injected time: step-up demands on legitimate users, and how many records a thief with a
#     stolen credential reads before the demand.
#  2. Real processes (`medvault up`, default profile): N doctors (default 10), each with a
#     patient who delegated an appointment, write 10 records each; then every doctor and every
#     patient reads their records with `medvault get` in R rounds (default 11, batched): at
#     least 1,000 reads. Every answer is compared with the original; the storage server's
#     metrics and the hospital's alert log must show no step-up demand, no decoy, no alert.
# With --write FILE the section between <!-- guard:begin --> and <!-- guard:end --> in FILE is
# replaced (appended if absent). Every process started here is stopped by its own pid.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build
DOCTORS=10
ROUNDS=11
WRITE=""
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --doctors) DOCTORS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --write) WRITE=$2; shift ;;
    -h|--help) sed -n '2,2p' "$0" | sed 's/^# /usage: /'; exit 0 ;;
    -*) echo "guard_fp: unknown option $1" >&2; exit 2 ;;
    *) BUILD=$1 ;;
  esac
  shift
done
MV=$(realpath "$BUILD/medvault")
SIM=$(realpath "$BUILD/bench/bench_guard_fp")
TMP=$(mktemp -d /tmp/mv-guardfp.XXXXXX)
export MV_LOG=warn
UP=
cleanup() {
  if [ -n "$UP" ] && kill -0 "$UP" 2>/dev/null; then kill -TERM "$UP"; wait "$UP" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
progress() { [ -t 2 ] && [ "${CI:-}" != true ] && printf '\r%s' "$*" >&2 || true; }

SIM_JSON=$("$SIM" --json)
SIM_LOW=$("$SIM" --json --floor 100 --factor 3)
echo "simulation: $SIM_JSON"

"$MV" up --dir "$TMP/mv" > "$TMP/up.out" 2> "$TMP/up.err" &
UP=$!
for _ in $(seq 900); do [ -f "$TMP/mv/ready" ] && break; kill -0 "$UP" 2>/dev/null || break; sleep 0.1; done
[ -f "$TMP/mv/ready" ] || { cat "$TMP/up.err" >&2; echo "guard_fp: medvault up failed" >&2; exit 1; }
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
SURL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["storage_url"])' "$MEDVAULT_DEPLOYMENT")
key_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/public.json"))["sign_public_key"])' "$1"; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

for i in $(seq "$DOCTORS"); do
  progress "setting up doctor $i/$DOCTORS"
  "$MV" user add --user "$ADMIN" --name "dr-$i" --role doctor --department cardiology --out "$TMP/dr$i" > /dev/null
  "$MV" user add --user "$ADMIN" --name "pat-$i" --role patient --department cardiology --out "$TMP/pat$i" > /dev/null
  "$MV" directory --user "$ADMIN" --role patient --name "pat-$i" --json > "$TMP/d.json"
  MRN=$(jget "$TMP/d.json" 'd["users"][0]["mrn"]')
  "$MV" appointment request --user "$TMP/pat$i" --department cardiology --reason visit --json > "$TMP/a.json"
  APPT=$(jget "$TMP/a.json" 'd["id"]')
  "$MV" appointment update "$APPT" --user "$ADMIN" --doctor "$(key_of "$TMP/dr$i")" --at 2026-11-23T09:30 --place R1 > /dev/null
  "$MV" delegate grant --user "$TMP/pat$i" --appointment "$APPT" > /dev/null
  mkdir -p "$TMP/in$i"
  for k in $(seq 10); do
    cat > "$TMP/in$i/r$k.json" <<JSON
{"resourceType":"Observation","status":"final","subject":{"reference":"Patient/$MRN"},
 "effectiveDateTime":"2026-11-23T09:$((10 + k)):00Z","code":{"text":"Heart rate"},
 "valueQuantity":{"value":$((60 + i + k)),"unit":"beats/min"}}
JSON
  done
  "$MV" put --user "$TMP/dr$i" --patient "$MRN" --appointment "$APPT" --json "$TMP/in$i"/r*.json > "$TMP/w$i.json"
  python3 - "$TMP/w$i.json" "$TMP/ids$i" <<'PY'
import json, sys
open(sys.argv[2], "w").write(" ".join(r["id"] for r in json.load(open(sys.argv[1]))["records"]))
PY
done
progress ""
READS=0
START=$(date +%s.%N)
for r in $(seq "$ROUNDS"); do
  for i in $(seq "$DOCTORS"); do
    progress "round $r/$ROUNDS, doctor $i"
    # shellcheck disable=SC2046
    rm -rf "$TMP/o-dr$i"
    "$MV" get --user "$TMP/dr$i" -o "$TMP/o-dr$i" $(cat "$TMP/ids$i") > /dev/null || { echo "guard_fp: a doctor's read failed" >&2; exit 1; }
    READS=$((READS + 10))
    if [ $((r % 3)) = 1 ]; then
      rm -rf "$TMP/o-pat$i"
      # shellcheck disable=SC2046
      "$MV" get --user "$TMP/pat$i" -o "$TMP/o-pat$i" $(cat "$TMP/ids$i") > /dev/null || { echo "guard_fp: a patient's read failed" >&2; exit 1; }
      READS=$((READS + 10))
    fi
  done
done
END=$(date +%s.%N)
progress ""
# The last answers of every doctor and patient are the originals (real data, not decoys).
python3 - "$TMP"/o-* <<'PY' || { echo "guard_fp: an answer is not an original record" >&2; exit 1; }
import json, os, sys
n = 0
for d in sys.argv[1:]:
    for f in os.listdir(d):
        r = json.load(open(os.path.join(d, f)))
        assert r["code"]["text"] == "Heart rate" and r["valueQuantity"]["unit"] == "beats/min", f
        n += 1
assert n == 10 * len(sys.argv[1:]), n
PY
# The guard's counters are private metrics: the storage server's bearer token unlocks them.
curl -s -H "Authorization: Bearer $(cat "$TMP/mv/storage/metrics.token")" "$SURL/metrics" > "$TMP/metrics"
grep -q '^medvault_storage_requests_total' "$TMP/metrics" || { echo "guard_fp: the storage metrics were refused" >&2; exit 1; }
metric() { awk -v m="$1" '$1==m {s+=$2} END {print s+0}' "$TMP/metrics"; }
DEMANDS=$(metric medvault_storage_stepup_demands_total)
DECOYS=$(metric medvault_storage_decoys_served_total)
"$MV" alerts --user "$ADMIN" --json > "$TMP/alerts.json"
ALERTS=$(jget "$TMP/alerts.json" 'len(d["alerts"])')
SECS=$(python3 -c "print(round($END - $START, 1))")
echo "real processes: $READS reads by $DOCTORS doctors and $DOCTORS patients in ${SECS}s: $DEMANDS step-up demands, $DECOYS decoys, $ALERTS alerts"
kill -TERM "$UP"; wait "$UP" || true; UP=

SECTION=$(python3 - "$SIM_JSON" "$SIM_LOW" "$READS" "$DOCTORS" "$SECS" "$DEMANDS" "$DECOYS" "$ALERTS" "${ARGS[*]:-}" <<'PY'
import json, sys
s, low = json.loads(sys.argv[1]), json.loads(sys.argv[2])
reads, doctors, secs, demands, decoys, alerts, args = sys.argv[3:10]
o = []
o.append("## Decoy guard: false positives (issue 5)\n")
o.append("Produced by `bash bench/guard_fp.sh%s` (part of `make bench`). See `docs/guard.md` for the rules.\n"
         % ((" " + args) if args.strip() else ""))
o.append("**Real processes** (`medvault up`, default profile: floor 300 reads/hour, factor 5): "
         f"{doctors} doctors and their {doctors} patients read their own delegated records with `medvault get`: "
         f"**{reads} reads** in {secs} s, every answer checked against the original. "
         f"Step-up demands: **{demands}**; decoys served: **{decoys}**; alerts: **{alerts}**. "
         "False positives: " + ("**0**." if demands == decoys == alerts == "0" else f"**{int(demands) + int(decoys)}**.") + "\n")
o.append(f"**Simulation** (`bench_guard_fp`, the guard's own decision functions with injected time): "
         f"{s['weeks']} weeks, {s['users']} users, {s['reads']:,} reads. A false positive here is a step-up demand "
         "on a legitimate user (they pass it with their device and get real data; decoys never reach them).\n")
o.append("| users | count | reads | step-up demands (floor 300, x5) | demands (floor 100, x3) |")
o.append("|---|---:|---:|---:|---:|")
for a, b in zip(s["kinds"], low["kinds"]):
    o.append(f"| {a['kind']} | {a['users']} | {a['reads']:,} | {a['demands']} | {b['demands']} |")
o.append(f"| **all** | {s['users']} | {s['reads']:,} | **{s['demands']}** ({s['demands_per_1000_reads']:.3f} per 1000 reads) "
         f"| {low['demands']} ({low['demands_per_1000_reads']:.3f} per 1000 reads) |\n")
o.append("A thief with a ward doctor's stolen credential (that doctor's learnt baseline), reading at night:\n")
o.append("| thief's rate (reads/hour) | records read | step-up demanded |")
o.append("|---:|---:|---|")
for t in s["thief"]:
    o.append(f"| {t['reads_per_hour']:.0f} | {t['records']:,} | {'yes' if t['demanded'] else 'no, within a week'} |")
o.append("\nThe hourly profile stops a fast thief after the limit (max(floor, 5 x baseline)); a thief "
         "who reads slower than the limit is not caught by it: honeytokens, reads outside one's "
         "departments and delegations, and revocation are what catch them.")
print("\n".join(o))
PY
)
echo "$SECTION"
if [ -n "$WRITE" ]; then
  printf '%s\n' "$SECTION" | python3 bench/write_section.py "$WRITE" guard
  echo "wrote $WRITE"
fi
