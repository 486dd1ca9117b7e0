# cluster.sh - bring up medvault services on loopback with the CLI. Sourced by scripts/run.sh
# (make run) and tests/integration/lib.sh. Needs: MV (the medvault binary), TMP (a work
# directory), PIDS (an array that collects every started process id, for the caller to stop).

# A free loopback port, chosen by the kernel.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# json_get FILE_OR_- EXPR : evaluates a Python expression on the parsed JSON `d`.
json_get() {
  local src=$1 expr=$2
  if [ "$src" = - ]; then python3 -c "import json,sys; d=json.load(sys.stdin); print($expr)"
  else python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($expr)" "$src"; fi
}

wait_http() { # URL [tries of 0.1 s]
  local url=$1 tries=${2:-100}
  for _ in $(seq "$tries"); do
    curl -s -o /dev/null -w '%{http_code}' "$url" 2>/dev/null | grep -q '^200$' && return 0
    sleep 0.1
  done
  return 1
}

# make_hospital : creates $TMP/hospital, sets HK (hospital public key hex).
make_hospital() {
  "$MV" hospital init --dir "$TMP/hospital" --json > "$TMP/hospital.json"
  HK=$(json_get "$TMP/hospital.json" 'd["sign_public_key"]')
}

# make_user NAME ROLE [DEPT] : a user directory $TMP/NAME holding keys and a credential.
make_user() {
  local name=$1 role=$2 dept=${3:-} pk
  "$MV" keygen --out "$TMP/$name" > "$TMP/$name.pub.json"
  pk=$(json_get "$TMP/$name.pub.json" 'd["sign_public_key"]')
  local args=(--hospital-dir "$TMP/hospital" --subject "$pk" --role "$role" --out "$TMP/$name/credential")
  [ -n "$dept" ] && args+=(--department "$dept")
  "$MV" credential issue "${args[@]}" > /dev/null
}

# start_keyserver I [ARGS...] : starts key server I from $TMP/ks$I on port ${PORT[I]}.
declare -A PORT KSPID KSKEY
start_keyserver() {
  local i=$1; shift
  "$MV" keyserver run --dir "$TMP/ks$i" --listen "127.0.0.1:${PORT[$i]}" --hospital-key "$HK" "$@" \
    2>> "$TMP/ks$i.log" &
  KSPID[$i]=$!
  PIDS+=("${KSPID[$i]}")
}

# dkg_cluster N T : N key servers run their DKG among themselves; writes $TMP/deployment.json.
# Returns non-zero if the DKG does not finish within 90 s.
dkg_cluster() {
  local n=$1 t=$2 i args=()
  for i in $(seq "$n"); do
    "$MV" keyserver init --dir "$TMP/ks$i" --json > "$TMP/ks$i.pub.json"
    KSKEY[$i]=$(json_get "$TMP/ks$i.pub.json" 'd["sign_public_key"]')
    "$MV" credential issue --hospital-dir "$TMP/hospital" --subject "${KSKEY[$i]}" --role keyserver \
      --out "$TMP/ks$i/credential" > /dev/null
    PORT[$i]=$(free_port)
    args+=(--peer "http://127.0.0.1:${PORT[$i]},${KSKEY[$i]}")
  done
  "$MV" keyserver peers --threshold "$t" "${args[@]}" --out "$TMP/peers.json"
  for i in $(seq "$n"); do cp "$TMP/peers.json" "$TMP/ks$i/peers.json"; start_keyserver "$i"; done
  args=()
  for i in $(seq "$n"); do args+=(--keyserver "http://127.0.0.1:${PORT[$i]}"); done
  "$MV" deployment create --hospital-dir "$TMP/hospital" "${args[@]}" --out "$TMP/deployment.json" --wait 90 > /dev/null
}

# stop_all : SIGTERM every recorded process, SIGKILL what is still there after 5 s.
stop_all() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] || continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}
