#!/usr/bin/env bash
# test_http_hardening.sh - issue 11, findings 3, 8 (and part of 7) and 13, through real
# processes (`medvault up`), each check written to fail on the code before it:
#  - three parallel unsigned 200 MiB uploads to the storage server leave its peak RSS (VmHWM)
#    and the decoy cloud's under 96 MB, each upload gets an answer, /healthz still answers;
#    eight parallel unsigned 15 MiB bodies (its cap is 16 MiB) leave the hospital's under 96 MB;
#  - malformed framing (negative, listed, overflowing, repeated Content-Length; Content-Length
#    with Transfer-Encoding; Transfer-Encoding gzip) and bodies without an accepted
#    Content-Type get exactly one well-formed 400/413/415/501 from storage, hospital and a key
#    server (libmicrohttpd used to send two status lines for a negative Content-Length);
#  - JSON nested deeper than the hospital's cap gets 400 saying so (it was 413);
#  - /metrics without credentials shows only the request counter and duration histogram on
#    storage, hospital and key server, and nothing on the decoy cloud; with the daemon's
#    DIR/metrics.token it shows records, blocks, registrations and the guard's counters.
source "$(dirname "$0")/lib.sh"
H="python3 $(dirname "$0")/http_hardening.py"

start_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
HURL=$(json_get "$TMP/up.json" 'd["hospital_url"]')
SURL=$(json_get "$TMP/up.json" 'd["storage_url"]')
DURL=$(json_get "$TMP/up.json" 'd["decoy_url"]')
KURL=$(json_get "$TMP/up.json" 'd["keyservers"][0]')
SPID=$($H child "$UP" storage run "$TMP/mv/storage")
DPID=$($H child "$UP" storage run "$TMP/mv/decoy")
HPID=$($H child "$UP" hospital run "$TMP/mv/hospital")
pass "medvault up is ready (storage pid $SPID, decoy cloud pid $DPID)"

# --- finding 3: unauthenticated bodies are not buffered ---
kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
statuses=$($H bigbody "$SURL/v1/blocks" 3 200) || fail "unsigned 200 MiB uploads"
S_HWM=$(kb "$SPID" VmHWM)
D_HWM=$(kb "$DPID" VmHWM)
echo "  3 x 200 MiB unsigned: answers $statuses; storage peak RSS $((S_HWM / 1024)) MB, decoy cloud $((D_HWM / 1024)) MB"
[ "$S_HWM" -lt $((96 * 1024)) ] || fail "storage peak RSS ${S_HWM} kB after unsigned 200 MiB uploads"
[ "$D_HWM" -lt $((96 * 1024)) ] || fail "decoy cloud peak RSS ${D_HWM} kB after unsigned 200 MiB uploads"
[ "$(curl -s -m 3 "$SURL/healthz")" = ok ] || fail "storage /healthz after the uploads"
pass "unsigned 200 MiB bodies cost the storage server and the decoy cloud under 96 MB"
statuses=$($H bigbody "$HURL/v1/tokens" 8 15) || fail "unsigned 15 MiB bodies to the hospital"
H_HWM=$(kb "$HPID" VmHWM)
echo "  8 x 15 MiB unsigned to the hospital: answers $statuses; peak RSS $((H_HWM / 1024)) MB"
[ "$H_HWM" -lt $((96 * 1024)) ] || fail "hospital peak RSS ${H_HWM} kB after unsigned 15 MiB bodies"
[ "$(curl -s -m 3 "$HURL/healthz")" = ok ] || fail "hospital /healthz after the uploads"
pass "unsigned bodies at the hospital's cap cost it under 96 MB"

# --- finding 13: one framing, one response ---
for target in "$SURL/v1/records" "$HURL/v1/register" "$KURL/v1/evaluate"; do
  hp=${target#http://}
  $H framing "${hp%%/*}" "/${hp#*/}" > "$TMP/framing.out" || fail "framing on $target"
done
cat "$TMP/framing.out"
pass "storage, hospital and key server answer malformed framing and content types with one response"
$H deepjson "$HURL/v1/register" || fail "deep JSON"

# --- findings 8 and 7: private metrics need the token ---
# Activity that moves private counters: a registration, an unsigned read the guard forwards.
"$MV" user add --user "$TMP/mv/admin" --name metricsdoc --role doctor --department cardiology \
  --out "$TMP/doc" > /dev/null
curl -s -o /dev/null -m 5 "$SURL/v1/records"
metrics() { # URL [DIR]: the exposition text (status in $TMP/status)
  local auth=()
  [ -n "${2:-}" ] && auth=(-H "Authorization: Bearer $(cat "$2/metrics.token")")
  curl -s -m 5 -o "$TMP/metrics" -w '%{http_code}' "${auth[@]}" "$1/metrics" > "$TMP/status"
  cat "$TMP/metrics"
}
for pair in "$SURL storage medvault_storage" "$HURL hospital medvault_hospital" "$KURL ks1 medvault_keyserver"; do
  read -r url dir comp <<< "$pair"
  metrics "$url" > "$TMP/public"
  [ "$(cat "$TMP/status")" = 200 ] || fail "$comp /metrics without credentials: $(cat "$TMP/status")"
  grep -q "^${comp}_http_requests_total" "$TMP/public" || fail "$comp public metrics lack the request counter"
  others=$(grep -v '^#' "$TMP/public" | grep -v "^${comp}_http_request" || true)
  [ -z "$others" ] || fail "$comp /metrics without credentials shows: $(echo "$others" | head -3)"
  metrics "$url" "$TMP/mv/$dir" > "$TMP/private"
  [ "$(cat "$TMP/status")" = 200 ] || fail "$comp /metrics with the token: $(cat "$TMP/status")"
done
metrics "$SURL" "$TMP/mv/storage" > "$TMP/private"
for m in medvault_storage_records medvault_storage_blocks medvault_storage_forwarded_total \
  medvault_storage_decoys_served_total medvault_storage_http_connections_open; do
  grep -q "^$m" "$TMP/private" || fail "storage metrics with the token lack $m"
done
metrics "$HURL" "$TMP/mv/hospital" > "$TMP/private"
grep -q '^medvault_hospital_registrations_total' "$TMP/private" || fail "hospital metrics with the token lack registrations"
metrics "$SURL" > /dev/null
[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer 0000000000000000' "$SURL/metrics")" = 401 ] \
  || fail "storage /metrics accepted a wrong token"
metrics "$DURL" > "$TMP/public"
[ "$(cat "$TMP/status")" = 401 ] || fail "decoy cloud /metrics without credentials: $(cat "$TMP/status")"
grep -q medvault_decoy "$TMP/public" && fail "decoy cloud metrics leaked without credentials"
metrics "$DURL" "$TMP/mv/decoy" > "$TMP/private"
grep -q '^medvault_decoy_http_requests_total' "$TMP/private" || fail "decoy cloud metrics with the token"
[ "$(stat -c %a "$TMP/mv/storage/metrics.token")" = 600 ] || fail "metrics.token is not 0600"
pass "/metrics: request counts only without credentials (nothing on the decoy cloud), everything with the token"
stop_pid "$UP"
