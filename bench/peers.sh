#!/usr/bin/env bash
# bench/peers.sh [BUILD_DIR] [--quick] [--imaging-mib M] [--write FILE] [--keep]
#
# The peer comparison of issue 3: the same generated data (gen-emr prescriptions, gen-imaging
# attachments) is backed up and restored by restic, borg and medvault in one run, and the
# script prints a markdown section with throughput, bytes stored, restore times and the
# medvault/restic and medvault/borg ratios, all computed here from the measurements.
# With --write FILE it replaces the section between <!-- peers:begin --> and
# <!-- peers:end --> in FILE (appending it if the markers are absent).
#
# The peers come from Debian: `bash scripts/setup.sh --bench` installs restic and borgbackup.
# Every process this script starts is stopped by its own pid. The machine may be shared and
# noisy, and the page cache is warm: compare the tools within one run, not across runs.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  sed -n '2,2p' "$0" | sed 's/^# /usage: /'
  exit "${1:-2}"
}

BUILD=build
QUICK=0
IMG_MIB=512
WRITE=""
KEEP=0
ARGS=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --imaging-mib) [ $# -ge 2 ] || usage; IMG_MIB=$2; shift ;;
    --write) [ $# -ge 2 ] || usage; WRITE=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage 0 ;;
    -*) echo "peers.sh: unknown option $1" >&2; usage ;;
    *) BUILD=$1 ;;
  esac
  shift
done
[[ "$IMG_MIB" =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: --imaging-mib needs a positive number" >&2; exit 2; }
SEED=42
EMR_SIZES=(500 10000)
if [ "$QUICK" = 1 ]; then
  EMR_SIZES=(200)
  IMG_MIB=32
fi

MV=$(cd "$BUILD" 2>/dev/null && pwd)/medvault
[ -x "$MV" ] || { echo "peers.sh: no medvault binary in $BUILD (build first: make build)" >&2; exit 1; }
for tool in restic borg python3; do
  command -v "$tool" > /dev/null || { echo "peers.sh: $tool not found (run: bash scripts/setup.sh --bench)" >&2; exit 1; }
done

TMP=$(mktemp -d /tmp/mvpeers.XXXXXX)
RESULTS=$TMP/results.jsonl
: > "$RESULTS"
MVPID=""
cleanup() {
  if [ -n "$MVPID" ] && kill -0 "$MVPID" 2>/dev/null; then
    kill -TERM "$MVPID" 2>/dev/null || true
    wait "$MVPID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then echo "peers.sh: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

log() { echo "peers.sh: $*" >&2; }
# must LOGFILE CMD... : runs CMD (output appended to LOGFILE); on failure shows the log and stops.
must() {
  local logf=$1
  shift
  "$@" >> "$logf" 2>&1 || { log "failed: $*"; tail -n 20 "$logf" >&2; exit 1; }
}
now() { date +%s.%N; }
since() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$1" "$(now)"; }
du_b() { du -sb "$@" | awk '{s += $1} END {print s + 0}'; }
# record DATASET TOOL KEY=VALUE... : appends one JSON result line (values are numbers or strings).
record() {
  python3 - "$RESULTS" "$@" <<'PY'
import json, sys
out, ds, tool, kv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
r = {"dataset": ds, "tool": tool}
for item in kv:
    k, v = item.split("=", 1)
    for conv in (int, float, str):
        try:
            r[k] = conv(v)
            break
        except ValueError:
            pass
open(out, "a").write(json.dumps(r) + "\n")
PY
}

# verify MODE OUT PATHS... : 0 if the restore in OUT holds the payload PATHS.
#   tree: OUT/<absolute path> is byte-identical to each path (restic, borg);
#   json: OUT's files, parsed, are the payload's files parsed (as a multiset: medvault returns
#         the canonical form of each record, not the exporter's layout);
#   bytes: OUT's files are the payload's files (as a multiset of contents).
verify() {
  python3 - "$@" <<'PY'
import collections, hashlib, json, os, sys
mode, out, paths = sys.argv[1], sys.argv[2], sys.argv[3:]
def files(p):
    if os.path.isfile(p):
        yield p
    for root, _, names in os.walk(p):
        for n in names:
            yield os.path.join(root, n)
src = [f for p in paths for f in files(p)]
if mode == "tree":
    bad = [f for f in src if not os.path.isfile(out + f) or open(f, "rb").read() != open(out + f, "rb").read()]
    sys.exit(1 if bad else 0)
key = (lambda b: json.dumps(json.loads(b), sort_keys=True)) if mode == "json" else (lambda b: hashlib.sha256(b).hexdigest())
got = collections.Counter(key(open(f, "rb").read()) for f in files(out))
want = collections.Counter(key(open(f, "rb").read()) for f in src)
sys.exit(0 if got == want else 1)
PY
}

# ---- data ---------------------------------------------------------------------------------
# Each dataset: DS_PATHS[name] = the payload paths, DS_ITEMS[name] = records or files.
declare -A DS_PATHS DS_ITEMS DS_KIND
DATASETS=()
GEN=$TMP/gen
mkdir -p "$GEN"
EMR_DEPTS=(cardiology neurology oncology endocrinology)
for n in "${EMR_SIZES[@]}"; do
  ds=emr-$n
  log "generating $ds"
  "$MV" gen-emr "$GEN/$ds" "$n" --seed $SEED > /dev/null
  paths=()
  for d in "${EMR_DEPTS[@]}"; do paths+=("$GEN/$ds/$d"); done
  DS_PATHS[$ds]="${paths[*]}"
  DS_ITEMS[$ds]=$n
  DS_KIND[$ds]=emr
  DATASETS+=("$ds")
done
ds=imaging-$IMG_MIB
log "generating $ds"
"$MV" gen-imaging "$GEN/$ds" --mib "$IMG_MIB" --seed $SEED > /dev/null
DS_PATHS[$ds]=$(ls -d "$GEN/$ds"/img-*.dcm | tr '\n' ' ')
DS_ITEMS[$ds]=$(ls "$GEN/$ds"/img-*.dcm | wc -l)
DS_KIND[$ds]=imaging
DATASETS+=("$ds")

# ---- restic -------------------------------------------------------------------------------
run_restic() {
  local ds=$1 repo=$TMP/$1/restic-repo out=$TMP/$1/restic-restore t0 tb tr
  local -a paths
  read -r -a paths <<< "${DS_PATHS[$ds]}"
  export RESTIC_PASSWORD=peers-bench RESTIC_CACHE_DIR=$TMP/$ds/restic-cache
  local logf=$TMP/$ds/restic.log
  must "$logf" restic -r "$repo" init
  t0=$(now)
  must "$logf" restic -r "$repo" backup --quiet "${paths[@]}"
  tb=$(since "$t0")
  t0=$(now)
  must "$logf" restic -r "$repo" restore latest --target "$out"
  tr=$(since "$t0")
  verify tree "$out" "${paths[@]}" || { log "restic's restore of $ds differs from the data"; exit 1; }
  record "$ds" restic backup_s="$tb" stored_bytes="$(du_b "$repo")" restore_s="$tr" verified=1
  [ "$KEEP" = 1 ] || rm -rf "$repo" "$out" "$RESTIC_CACHE_DIR"
}

# ---- borg ---------------------------------------------------------------------------------
run_borg() {
  local ds=$1 repo=$TMP/$1/borg-repo out=$TMP/$1/borg-restore t0 tb tr
  local -a paths
  read -r -a paths <<< "${DS_PATHS[$ds]}"
  export BORG_PASSPHRASE=peers-bench BORG_BASE_DIR=$TMP/$ds/borg-base
  export BORG_CONFIG_DIR=$BORG_BASE_DIR/config BORG_CACHE_DIR=$BORG_BASE_DIR/cache
  export BORG_SECURITY_DIR=$BORG_BASE_DIR/security BORG_KEYS_DIR=$BORG_BASE_DIR/keys
  local logf=$TMP/$ds/borg.log
  must "$logf" borg init --encryption=repokey "$repo"
  t0=$(now)
  must "$logf" borg create "$repo::bench" "${paths[@]}"
  tb=$(since "$t0")
  mkdir -p "$out"
  t0=$(now)
  must "$logf" bash -c 'cd "$1" && borg extract "$2::bench"' _ "$out" "$repo"
  tr=$(since "$t0")
  verify tree "$out" "${paths[@]}" || { log "borg's restore of $ds differs from the data"; exit 1; }
  record "$ds" borg backup_s="$tb" stored_bytes="$(du_b "$repo")" restore_s="$tr" verified=1
  [ "$KEEP" = 1 ] || rm -rf "$repo" "$out" "$BORG_BASE_DIR"
}

# ---- medvault -----------------------------------------------------------------------------
# Every step is checked; the first that fails makes the dataset's medvault row say why
# ("medvault: not available") instead of stopping the run.
MV_WHY=""
mv_fail() {
  local first
  first=$(grep -m1 -i 'medvault' "$2" 2>/dev/null | cut -c1-160 || true)
  MV_WHY="$1${first:+: $first}"
  log "medvault: not available ($1); see $2"
  return 1
}
mv_stop() {
  if [ -n "$MVPID" ] && kill -0 "$MVPID" 2>/dev/null; then
    kill -TERM "$MVPID"
    for _ in $(seq 300); do kill -0 "$MVPID" 2>/dev/null || break; sleep 0.1; done
    wait "$MVPID" 2>/dev/null || true
  fi
  MVPID=""
}
# ids_of FILE : the record ids in `medvault ls --json` output, one per line.
ids_of() {
  python3 - "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
if isinstance(d, dict):
    d = next((d[k] for k in ("records", "items", "entries", "ids") if isinstance(d.get(k), list)), [])
for r in d:
    print(r if isinstance(r, str) else r["id"])
PY
}
run_medvault_steps() {
  local ds=$1 dir=$TMP/$1/mv users=$TMP/$1/users logf=$TMP/$1/medvault.log t0 tp tg n=0 stats
  local F=$TMP/$1/mv/deployment.json ADMIN=$TMP/$1/mv/admin
  local -a depts
  mkdir -p "$users" "$TMP/$ds/mv-restore"
  : > "$logf"
  "$MV" up --dir "$dir" >> "$logf" 2>&1 &
  MVPID=$!
  for _ in $(seq 1200); do
    [ -f "$F" ] && [ -e "$dir/ready" ] && break
    kill -0 "$MVPID" 2>/dev/null || { MVPID=""; mv_fail "'medvault up' exited before it was ready" "$logf"; return 1; }
    sleep 0.1
  done
  [ -f "$F" ] && [ -e "$dir/ready" ] || { mv_fail "'medvault up' not ready after 120 s" "$logf"; return 1; }
  if [ "${DS_KIND[$ds]}" = emr ]; then depts=("${EMR_DEPTS[@]}"); else depts=("${EMR_DEPTS[0]}"); fi
  for d in "${depts[@]}"; do
    "$MV" user add --deployment "$F" --user "$ADMIN" --name "dr-$d" --role doctor --department "$d" \
      --out "$users/$d" >> "$logf" 2>&1 || { mv_fail "'medvault user add' failed" "$logf"; return 1; }
  done
  # Upload: each department's files with its own doctor (imaging: the first department's).
  t0=$(now)
  if [ "${DS_KIND[$ds]}" = emr ]; then
    for d in "${depts[@]}"; do
      "$MV" put --deployment "$F" --user "$users/$d" --json "$GEN/$ds/$d" > "$TMP/$ds/put-$d.json" 2>> "$logf" \
        || { mv_fail "'medvault put' failed" "$logf"; return 1; }
    done
  else
    local -a paths
    read -r -a paths <<< "${DS_PATHS[$ds]}"
    "$MV" put --deployment "$F" --user "$users/${depts[0]}" --json "${paths[@]}" > "$TMP/$ds/put.json" 2>> "$logf" \
      || { mv_fail "'medvault put' failed" "$logf"; return 1; }
  fi
  tp=$(since "$t0")
  "$MV" stats --deployment "$F" --user "$ADMIN" --json > "$TMP/$ds/stats.json" 2>> "$logf" \
    || { mv_fail "'medvault stats' failed" "$logf"; return 1; }
  stats=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(d["physical_bytes"]), int(d["logical_bytes"]))' \
    "$TMP/$ds/stats.json" 2>> "$logf") || { mv_fail "'medvault stats --json' lacks physical_bytes/logical_bytes" "$logf"; return 1; }
  # Restore: every record each doctor may read, with one batched `medvault get --all` each.
  t0=$(now)
  for d in "${depts[@]}"; do
    "$MV" get --deployment "$F" --user "$users/$d" --all -o "$TMP/$ds/mv-restore/$d" >> "$logf" 2>&1 \
      || { mv_fail "'medvault get --all' failed" "$logf"; return 1; }
  done
  tg=$(since "$t0")
  n=$(find "$TMP/$ds/mv-restore" -type f | wc -l)
  [ "$n" -eq "${DS_ITEMS[$ds]}" ] || { mv_fail "restored $n records of ${DS_ITEMS[$ds]}" "$logf"; return 1; }
  local -a payload
  read -r -a payload <<< "${DS_PATHS[$ds]}"
  local mode=json ok=1
  [ "${DS_KIND[$ds]}" = emr ] || mode=bytes
  verify "$mode" "$TMP/$ds/mv-restore" "${payload[@]}" 2>> "$logf" || { ok=0; log "medvault's restore of $ds differs from the data"; }
  record "$ds" medvault backup_s="$tp" stored_bytes="$(du_b "$dir/storage")" restore_s="$tg" verified=$ok \
    physical_bytes="${stats% *}" logical_bytes="${stats#* }"
  mv_stop
}
run_medvault() {
  local ds=$1
  MV_WHY=""
  run_medvault_steps "$ds" || { mv_stop; record "$ds" medvault unavailable="$MV_WHY"; }
  [ "$KEEP" = 1 ] || rm -rf "$TMP/$ds/mv" "$TMP/$ds/mv-restore" "$TMP/$ds/users"
}

# ---- run ----------------------------------------------------------------------------------
for ds in "${DATASETS[@]}"; do
  mkdir -p "$TMP/$ds"
  payload=()
  read -r -a payload <<< "${DS_PATHS[$ds]}"
  record "$ds" data items="${DS_ITEMS[$ds]}" logical_bytes="$(du_b "${payload[@]}")" kind="${DS_KIND[$ds]}"
  log "$ds: restic"; run_restic "$ds"
  log "$ds: borg"; run_borg "$ds"
  log "$ds: medvault"; run_medvault "$ds"
done

# ---- report -------------------------------------------------------------------------------
CMD="bash bench/peers.sh"
for a in "${ARGS[@]}"; do CMD+=" $(printf '%q' "$a")"; done
python3 - "$RESULTS" "$CMD" "$(restic version | awk '{print $2}')" "$(borg --version | awk '{print $2}')" \
  "$("$MV" --version | awk '{print $2}')" "$SEED" "$WRITE" <<'PY'
import datetime, json, os, subprocess, sys
res, cmd, restic_v, borg_v, mv_v, seed, write = sys.argv[1:8]
rows = [json.loads(l) for l in open(res)]
data = {r["dataset"]: r for r in rows if r["tool"] == "data"}
tools = ["restic", "borg", "medvault"]
get = lambda ds, t: next((r for r in rows if r["dataset"] == ds and r["tool"] == t), None)
cpu = "unknown"
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    pass
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
MB = 1e6
def num(x, fmt="{:,.0f}"):
    return fmt.format(x)
def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"

out = []
w = out.append
w("## Peers: restic and borg (issue 3)\n")
w(f"Produced by `{cmd}` on {datetime.date.today()}, commit {commit}; machine: {os.cpu_count()} CPUs, {cpu}; "
  f"restic {restic_v}, borg {borg_v}, medvault {mv_v}. The machine is shared and noisy and the page cache is warm: "
  "compare the tools within this run, not across runs.\n")
w(f"Data (seed {seed}): `medvault gen-emr` prescriptions (four departments, one pretty-printed FHIR R4 "
  "MedicationRequest per file) and `medvault gen-imaging` DICOM-like attachments (2-16 MiB each, about 30% shifted "
  "duplicates). restic: `restic init` (repository v2, compression auto), `restic backup` with a fresh cache "
  "directory, `restic restore latest`. borg: `borg init --encryption=repokey`, `borg create` (lz4), `borg extract`. "
  "medvault: `medvault up` on loopback (3 key servers, t = 2), one doctor per department uploading its department's "
  "files with `medvault put`, and one batched `medvault get --all` per doctor to restore. Every restore is checked against the "
  "data (restic, borg: byte-identical trees; medvault: the same records as parsed JSON, since it returns each "
  "record's canonical form, and the same attachment bytes). Times are wall clock of the backup and "
  "restore commands only (repository creation and `medvault up` excluded); stored bytes are `du -sb` of the "
  "repository or of medvault's storage directory.\n")
w("| dataset | items | logical MB | tool | backup s | items/s | MB/s | stored bytes | stored / logical | restore s |")
w("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
notes = []
for ds, d in data.items():
    for t in tools:
        r = get(ds, t)
        head = f"| {ds} | {d['items']:,} | {d['logical_bytes'] / MB:,.1f} | {t} |"
        if r is None or "unavailable" in r:
            why = r.get("unavailable", "not run") if r else "not run"
            w(head + " medvault: not available | | | | | |")
            notes.append(f"- {ds}: medvault: not available ({why}).")
            continue
        b = r["backup_s"]
        w(head + f" {b:.2f} | {d['items'] / b:,.0f} | {d['logical_bytes'] / MB / b:,.1f} | {r['stored_bytes']:,} | "
          f"{r['stored_bytes'] / d['logical_bytes']:.3f} | {r['restore_s']:.2f} |")
        if not r.get("verified"):
            notes.append(f"- {ds}: {t}'s restore was NOT identical to the data (see its log with --keep).")
        if t == "medvault":
            saving = 1 - r["physical_bytes"] / r["logical_bytes"] if r["logical_bytes"] else 0
            notes.append(f"- {ds}: medvault stats: physical_bytes {r['physical_bytes']:,}, logical_bytes "
                         f"{r['logical_bytes']:,} (saving {saving:.1%}).")
w("")
w("Ratios medvault / peer (below 1 means medvault is faster or smaller):\n")
w("| dataset | backup time / restic | backup time / borg | stored bytes / restic | stored bytes / borg | restore time / restic | restore time / borg |")
w("|---|---:|---:|---:|---:|---:|---:|")
for ds in data:
    m, rs, bg = get(ds, "medvault"), get(ds, "restic"), get(ds, "borg")
    if m is None or "unavailable" in m:
        w(f"| {ds} | n/a | n/a | n/a | n/a | n/a | n/a |")
        continue
    w(f"| {ds} | {ratio(m['backup_s'], rs['backup_s'])} | {ratio(m['backup_s'], bg['backup_s'])} | "
      f"{ratio(m['stored_bytes'], rs['stored_bytes'])} | {ratio(m['stored_bytes'], bg['stored_bytes'])} | "
      f"{ratio(m['restore_s'], rs['restore_s'])} | {ratio(m['restore_s'], bg['restore_s'])} |")
if notes:
    w("")
    out.extend(notes)
w("")
w("Raw measurements of this run:\n")
w("```json")
out.extend(json.dumps(r) for r in rows)
w("```")
section = "\n".join(out) + "\n"
print(section)
if write:
    begin, end = "<!-- peers:begin -->", "<!-- peers:end -->"
    old = open(write).read() if os.path.exists(write) else ""
    block = f"{begin}\n{section}{end}"
    if begin in old and end in old and old.index(begin) < old.index(end):
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old + ("" if old.endswith("\n") or not old else "\n") + ("\n" if old else "") + block + "\n"
    with open(write, "w") as f:
        f.write(new)
    print(f"peers.sh: wrote the section into {write}", file=sys.stderr)
PY
