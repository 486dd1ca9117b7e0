#!/usr/bin/env bash
# bench/peers.sh [BUILD_DIR] [--quick] [--imaging-mib M] [--write FILE] [--keep]
#
# The peer comparison of issues 3 and 12: the same generated data is backed up and restored by
# restic, borg and medvault in one run, and the script prints a markdown section with records/s,
# bytes added, restore times, where medvault's bytes go per record, and the medvault/restic and
# medvault/borg ratios, all computed here from the measurements. Data: prescriptions from
# bench/gen_fhir.py (an independent generator in the layout of common synthetic-patient
# exports: 500 for cardiology, 10,000 over four departments), the same counts from
# `medvault gen-emr`, and `medvault gen-imaging` attachments.
# medvault's bytes are those added to the WHOLE deployment (du -sb of every server's directory:
# the three key servers, the hospital, the storage server and its identity, the decoy cloud).
# Restores are done as a user would: a doctor whose `get --all` is stopped by the access
# profile ("step-up required") steps up with her registered device (`medvault stepup
# --device-key`) and runs the restore again; the restore time includes all of that.
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
FHIR_SIZES=(500 10000)
EMR_SIZES=(500 10000)
if [ "$QUICK" = 1 ]; then
  FHIR_SIZES=(200)
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
# discard PATH... : moves each PATH aside (into $TMP/discarded, deleted with $TMP at the end)
# instead of deleting it now. ext4 without a journal does not reuse an inode freed in the last
# 30 seconds, so deleting one tool's 10,000 restored files just before the next tool restores
# made the next tool's file creation scan past them (the kernel's recently_deleted): a cost
# that fell on borg and medvault, never on restic, which runs first.
discard() {
  local p
  mkdir -p "$TMP/discarded"
  for p in "$@"; do
    if [ -e "$p" ]; then mv "$p" "$TMP/discarded/$(date +%s%N)-$RANDOM"; fi
  done
  return 0
}
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
    for conv in (int, float, json.loads, str):
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
#         the canonical form of each record, not the exporter's layout, with the
#         meta.versionId/lastUpdated a FHIR store stamps on each version: left out on both sides);
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
def versionless(b):
    d = json.loads(b)
    m = d.get("meta") if isinstance(d, dict) else None
    if isinstance(m, dict):
        m.pop("versionId", None); m.pop("lastUpdated", None)
        if not m:
            del d["meta"]
    return json.dumps(d, sort_keys=True)
key = versionless if mode == "json" else (lambda b: hashlib.sha256(b).hexdigest())
got = collections.Counter(key(open(f, "rb").read()) for f in files(out))
want = collections.Counter(key(open(f, "rb").read()) for f in src)
sys.exit(0 if got == want else 1)
PY
}

# ---- data ---------------------------------------------------------------------------------
# Each dataset: DS_PATHS[name] = the payload paths, DS_ITEMS[name] = records or files,
# DS_DEPTS[name] = the departments (one doctor each uploads DS_DIR[name]/<department>).
declare -A DS_PATHS DS_ITEMS DS_KIND DS_DEPTS DS_DIR
DATASETS=()
GEN=$TMP/gen
mkdir -p "$GEN"
EMR_DEPTS=(cardiology neurology oncology endocrinology)
# add_dataset NAME KIND ITEMS DEPTS... : registers GEN/NAME/<dept> for each department.
add_dataset() {
  local ds=$1 kind=$2 items=$3 d
  shift 3
  local -a paths=()
  for d in "$@"; do paths+=("$GEN/$ds/$d"); done
  DS_PATHS[$ds]="${paths[*]}"
  DS_ITEMS[$ds]=$items
  DS_KIND[$ds]=$kind
  DS_DEPTS[$ds]="$*"
  DS_DIR[$ds]=$GEN/$ds
  DATASETS+=("$ds")
}
for n in "${FHIR_SIZES[@]}"; do
  ds=fhir-$n
  log "generating $ds (bench/gen_fhir.py)"
  if [ "$n" -le 1000 ]; then depts=(cardiology); else depts=("${EMR_DEPTS[@]}"); fi
  per=$((n / ${#depts[@]}))
  for d in "${depts[@]}"; do
    python3 bench/gen_fhir.py --out "$GEN/$ds/$d" --count "$per" --type MedicationRequest --seed $SEED --department "$d"
  done
  add_dataset "$ds" fhir "$((per * ${#depts[@]}))" "${depts[@]}"
done
for n in "${EMR_SIZES[@]}"; do
  ds=emr-$n
  log "generating $ds (medvault gen-emr)"
  "$MV" gen-emr "$GEN/$ds" "$n" --seed $SEED > /dev/null
  add_dataset "$ds" emr "$n" "${EMR_DEPTS[@]}"
done
ds=imaging-$IMG_MIB
log "generating $ds"
mkdir -p "$GEN/$ds"
"$MV" gen-imaging "$GEN/$ds/${EMR_DEPTS[0]}" --mib "$IMG_MIB" --seed $SEED > /dev/null
rm -f "$GEN/$ds/${EMR_DEPTS[0]}"/*.json  # gen-imaging's manifest, if any: attachments only
add_dataset "$ds" imaging "$(ls "$GEN/$ds/${EMR_DEPTS[0]}" | wc -l)" "${EMR_DEPTS[0]}"

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
  [ "$KEEP" = 1 ] || discard "$repo" "$out" "$RESTIC_CACHE_DIR"
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
  [ "$KEEP" = 1 ] || discard "$repo" "$out" "$BORG_BASE_DIR"
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
# servers_du DIR : du -sb of every server's directory of the deployment in DIR, as JSON:
# {"ks": ..., "hospital": ..., "storage": ..., "decoy": ..., "total": ...} plus the storage
# directory split into packs (files under a packs/ directory or named *.pack), index (LMDB
# *.mdb files) and the rest. The client's user directories, logs and run files are not servers'.
servers_du() {
  python3 - "$1" <<'PY'
import json, os, subprocess, sys
d = sys.argv[1]
def du(paths):
    paths = [p for p in paths if os.path.exists(p)]
    if not paths:
        return 0
    # A file the decoy cloud renames while du walks is skipped (du then exits 1 with a total).
    out = subprocess.run(["du", "-sbc"] + paths, capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1].split()[0])
ks = sorted(os.path.join(d, n) for n in os.listdir(d) if n.startswith("ks"))
r = {"ks": du(ks), "hospital": du([os.path.join(d, "hospital")]),
     "storage": du([os.path.join(d, "storage"), os.path.join(d, "storage-id")]), "decoy": du([os.path.join(d, "decoy")])}
r["total"] = r["ks"] + r["hospital"] + r["storage"] + r["decoy"]
packs = index = 0
for root, _, names in os.walk(os.path.join(d, "storage")):
    for n in names:
        try:
            size = os.lstat(os.path.join(root, n)).st_size
        except FileNotFoundError:
            continue
        if n.endswith(".pack") or os.path.basename(root) == "packs":
            packs += size
        elif n.endswith(".mdb") and n != "lock.mdb":
            index += size
r["storage_packs"], r["storage_index"] = packs, index
print(json.dumps(r))
PY
}
# get_all_as_user D OUT : `medvault get --all -o OUT` as department D's doctor. When the
# access profile stops her ("step-up required"), she steps up with her device and restores
# again into a fresh OUT, as a user would. Counts step-ups in STEPUPS.
get_all_as_user() {
  local d=$1 o=$2 err=$TMP/$ds/get-$1.err
  "$MV" get --deployment "$F" --user "$users/$d" --all -o "$o" >> "$logf" 2> "$err" && return 0
  cat "$err" >> "$logf"
  grep -q 'step-up required' "$err" || return 1
  "$MV" stepup --deployment "$F" --user "$users/$d" --device-key "$users/$d-phone" >> "$logf" 2>&1 || return 1
  STEPUPS=$((STEPUPS + 1))
  rm -rf "$o"
  "$MV" get --deployment "$F" --user "$users/$d" --all -o "$o" >> "$logf" 2>&1
}
run_medvault_steps() {
  local ds=$1 dir=$TMP/$1/mv users=$TMP/$1/users logf=$TMP/$1/medvault.log t0 tp tg n=0 stats d key
  local F=$TMP/$1/mv/deployment.json ADMIN=$TMP/$1/mv/admin before after late at1 settle
  local -a depts
  read -r -a depts <<< "${DS_DEPTS[$ds]}"
  STEPUPS=0
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
  # One doctor per department, each with a device key registered by the admin (for step-up).
  for d in "${depts[@]}"; do
    "$MV" user add --deployment "$F" --user "$ADMIN" --name "dr-$d" --role doctor --department "$d" \
      --out "$users/$d" >> "$logf" 2>&1 || { mv_fail "'medvault user add' failed" "$logf"; return 1; }
    "$MV" keygen --out "$users/$d-phone" >> "$logf" 2>&1 || { mv_fail "'medvault keygen' failed" "$logf"; return 1; }
    key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sign_public_key"])' "$users/$d/public.json") \
      || { mv_fail "no public key in $users/$d/public.json" "$logf"; return 1; }
    "$MV" user device add "$key" --device-key "$users/$d-phone" --deployment "$F" --user "$ADMIN" >> "$logf" 2>&1 \
      || { mv_fail "'medvault user device add' failed" "$logf"; return 1; }
  done
  before=$(servers_du "$dir") || { mv_fail "cannot measure the deployment" "$logf"; return 1; }
  # Upload: each department's files with its own doctor.
  t0=$(now)
  for d in "${depts[@]}"; do
    "$MV" put --deployment "$F" --user "$users/$d" --json "${DS_DIR[$ds]}/$d" > "$TMP/$ds/put-$d.json" 2>> "$logf" \
      || { mv_fail "'medvault put' failed" "$logf"; return 1; }
  done
  tp=$(since "$t0")
  # Decoy work may trail `put` by at most a second (issue 12): measure one second after, then
  # until the deployment stops growing (two equal measurements half a second apart, at most
  # 120 s), and count the settled bytes.
  sleep 1
  at1=$(servers_du "$dir") || { mv_fail "cannot measure the deployment" "$logf"; return 1; }
  t0=$(now)
  after=$at1
  local settled=0
  for _ in $(seq 240); do
    sleep 0.5
    late=$(servers_du "$dir") || { mv_fail "cannot measure the deployment" "$logf"; return 1; }
    [ "$late" = "$after" ] && { settled=1; break; }
    after=$late
  done
  settle=$(since "$t0")
  "$MV" stats --deployment "$F" --user "$ADMIN" --json > "$TMP/$ds/stats.json" 2>> "$logf" \
    || { mv_fail "'medvault stats' failed" "$logf"; return 1; }
  stats=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(d["physical_bytes"]), int(d["logical_bytes"]), int(d.get("envelope_bytes", -1)), int(d.get("block_bytes", d.get("pack_bytes", -1))))' \
    "$TMP/$ds/stats.json" 2>> "$logf") || { mv_fail "'medvault stats --json' lacks physical_bytes/logical_bytes" "$logf"; return 1; }
  read -r st_phys st_log st_env st_blk <<< "$stats"
  # Restore: every record each doctor may read, with one batched `medvault get --all` each.
  t0=$(now)
  for d in "${depts[@]}"; do
    get_all_as_user "$d" "$TMP/$ds/mv-restore/$d" || { mv_fail "'medvault get --all' failed" "$logf"; return 1; }
  done
  tg=$(since "$t0")
  late=$(servers_du "$dir") || { mv_fail "cannot measure the deployment" "$logf"; return 1; }
  n=$(find "$TMP/$ds/mv-restore" -type f | wc -l)
  [ "$n" -eq "${DS_ITEMS[$ds]}" ] || { mv_fail "restored $n records of ${DS_ITEMS[$ds]}" "$logf"; return 1; }
  local -a payload
  read -r -a payload <<< "${DS_PATHS[$ds]}"
  local mode=json ok=1
  [ "${DS_KIND[$ds]}" != imaging ] || mode=bytes
  verify "$mode" "$TMP/$ds/mv-restore" "${payload[@]}" 2>> "$logf" || { ok=0; log "medvault's restore of $ds differs from the data"; }
  record "$ds" medvault backup_s="$tp" restore_s="$tg" verified=$ok stepups="$STEPUPS" doctors="${#depts[@]}" \
    physical_bytes="$st_phys" logical_bytes="$st_log" envelope_bytes="$st_env" block_bytes="$st_blk" \
    "du_before=$before" "du_after_1s=$at1" "du_after=$after" settle_s="$settle" settled=$settled "du_after_restore=$late"
  mv_stop
}
run_medvault() {
  local ds=$1
  MV_WHY=""
  run_medvault_steps "$ds" || { mv_stop; record "$ds" medvault unavailable="$MV_WHY"; }
  [ "$KEEP" = 1 ] || discard "$TMP/$ds/mv" "$TMP/$ds/mv-restore" "$TMP/$ds/users"
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
w("## Peers: restic and borg (issues 3 and 12)\n")
w(f"Produced by `{cmd}` on {datetime.date.today()}, commit {commit}; machine: {os.cpu_count()} CPUs, {cpu}; "
  f"restic {restic_v}, borg {borg_v}, medvault {mv_v}. The machine is shared and noisy and the page cache is warm: "
  "compare the tools within this run, not across runs.\n")
w(f"Data (seed {seed}): `fhir-N`: MedicationRequests from `bench/gen_fhir.py`, an independent generator in the layout "
  "of common synthetic-patient exports (US Core profiles, RxNorm codings, urn:uuid references, requesters, zoned "
  "times; a few hundred patients per department on about thirty drugs, repeat prescriptions), 500 for cardiology and "
  "10,000 over four departments; `emr-N`: `medvault gen-emr` prescriptions (four departments); `imaging-M`: "
  "`medvault gen-imaging` DICOM-like attachments (2-16 MiB each, about 30% shifted duplicates). Every file is one "
  "pretty-printed resource. restic: `restic init` (repository v2, compression auto), `restic backup` with a fresh "
  "cache directory, `restic restore latest`. borg: `borg init --encryption=repokey`, `borg create` (lz4), `borg "
  "extract`. medvault: `medvault up` on loopback (3 key servers, t = 2, hospital, storage, decoy cloud), one doctor "
  "per department uploading its department's files with `medvault put`, and one batched `medvault get --all` per "
  "doctor to restore; a doctor stopped by the access profile (`step-up required`) steps up with her registered "
  "device (`medvault stepup --device-key`) and restores again, all inside the restore time. Every restore is checked "
  "against the data (restic, borg: byte-identical trees; medvault: the same records as parsed JSON, since it returns "
  "each record's canonical form, and the same attachment bytes). Times are wall clock of the backup and restore "
  "commands only (repository creation and `medvault up` excluded). Bytes added: `du -sb` of the repository for the "
  "peers; for medvault the growth of the WHOLE deployment, every server's directory (three key servers, hospital, "
  "storage server, decoy cloud), measured once it stopped growing after the last `put` (the decoy cloud may "
  "still be writing; how long it took is in the notes).\n")
w("| dataset | items | logical MB | tool | backup s | records/s | MB/s | bytes added | added / logical | restore s | restore records/s |")
w("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
notes = []
def added(r):
    if "du_after" in r:
        return r["du_after"]["total"] - r["du_before"]["total"]
    return r.get("stored_bytes")
def ok(r):
    return r is not None and "unavailable" not in r
for ds, d in data.items():
    for t in tools:
        r = get(ds, t)
        head = f"| {ds} | {d['items']:,} | {d['logical_bytes'] / MB:,.1f} | {t} |"
        if not ok(r):
            why = r.get("unavailable", "not run") if r else "not run"
            w(head + f" {t}: not available | | | | | | |")
            notes.append(f"- {ds}: {t}: not available ({why}).")
            continue
        b, a, rs = r["backup_s"], added(r), r["restore_s"]
        w(head + f" {b:.2f} | {d['items'] / b:,.0f} | {d['logical_bytes'] / MB / b:,.1f} | {a:,} | "
          f"{a / d['logical_bytes']:.3f} | {rs:.2f} | {d['items'] / rs:,.0f} |")
        if not r.get("verified"):
            notes.append(f"- {ds}: {t}'s restore was NOT identical to the data (see its log with --keep).")
        if t == "medvault":
            saving = 1 - r["physical_bytes"] / r["logical_bytes"] if r["logical_bytes"] else 0
            notes.append(f"- {ds}: medvault stats: physical_bytes {r['physical_bytes']:,}, logical_bytes "
                         f"{r['logical_bytes']:,} (saving {saving:.1%}); {r.get('stepups', 0)} of "
                         f"{r.get('doctors', 0)} doctors' `get --all` asked for step-up and was run again after a device step-up.")
            trail = r["du_after"]["total"] - r["du_after_1s"]["total"]
            if trail:
                notes.append(f"- {ds}: the deployment was still growing one second after `put` returned: "
                             f"{trail:,} more bytes (decoy cloud {r['du_after']['decoy'] - r['du_after_1s']['decoy']:,}) " +
                             (f"until it settled {1 + r['settle_s']:.1f} s after `put`; the settled bytes are counted." if r.get("settled", 1)
                                else f"and it was STILL growing {1 + r['settle_s']:.1f} s after `put`, when the bytes were counted."))
            late = r["du_after_restore"]["total"] - r["du_after"]["total"]
            if late:
                notes.append(f"- {ds}: the deployment's directories changed by {late:,} bytes during the restore "
                             "(audit logs, rate-limiter and guard state).")
w("")
w("Ratios medvault / peer. Bytes: below 1 means medvault stores less. Speeds (records/s, MB/s, restore): "
  "above 1 means medvault is faster.\n")
w("| dataset | bytes / restic | bytes / borg | ingest speed / restic | ingest speed / borg | restore speed / restic | restore speed / borg |")
w("|---|---:|---:|---:|---:|---:|---:|")
def inv(a, b):
    return f"{b / a:.2f}" if a and b else "n/a"
for ds in data:
    m, rs, bg = get(ds, "medvault"), get(ds, "restic"), get(ds, "borg")
    if not (ok(m) and ok(rs) and ok(bg)):
        w(f"| {ds} | n/a | n/a | n/a | n/a | n/a | n/a |")
        continue
    w(f"| {ds} | {ratio(added(m), added(rs))} | {ratio(added(m), added(bg))} | "
      f"{inv(m['backup_s'], rs['backup_s'])} | {inv(m['backup_s'], bg['backup_s'])} | "
      f"{inv(m['restore_s'], rs['restore_s'])} | {inv(m['restore_s'], bg['restore_s'])} |")
w("")
w("Where medvault's bytes go, per record (bytes added / records). Envelope and blocks are what `medvault stats "
  "--json` reports (`envelope_bytes`, `block_bytes`); packs and index are the growth of the storage server's "
  "pack files and LMDB index file (`data.mdb`) on disk; the decoy cloud, the key servers and the hospital are "
  "the growth of their directories.\n")
w("| dataset | records | envelope (stats) | blocks (stats) | packs on disk | index on disk | storage, all | decoy cloud | key servers | hospital | whole deployment |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for ds, d in data.items():
    m = get(ds, "medvault")
    if not ok(m):
        continue
    n = d["items"]
    a, b = m["du_after"], m["du_before"]
    g = lambda k: (a[k] - b[k]) / n
    st = lambda k: f"{m[k] / n:,.0f}" if m.get(k, -1) >= 0 else "n/a"
    w(f"| {ds} | {n:,} | {st('envelope_bytes')} | {st('block_bytes')} | {g('storage_packs'):,.0f} | "
      f"{g('storage_index'):,.0f} | {g('storage'):,.0f} | {g('decoy'):,.0f} | {g('ks'):,.0f} | {g('hospital'):,.0f} | "
      f"{g('total'):,.0f} |")
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
    import subprocess
    subprocess.run([sys.executable, "bench/write_section.py", write, "peers"], input=section, text=True, check=True)
    print(f"peers.sh: wrote the section into {write}", file=sys.stderr)
PY
