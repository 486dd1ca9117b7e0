#!/usr/bin/env bash
# test_fhir_server.sh - `medvault fhir serve` over a real deployment (`medvault up`), driven by
# a real FHIR client library from npm (tests/browser/fhir_client.mjs, fhir-kit-client), plus
# what a client library does not exercise: the token file's mode, the Host check, loopback
# only, body caps, /healthz and /metrics, and a clean SIGTERM. Needs node and
# tests/browser/node_modules (`bash scripts/setup.sh --browser`, which `make check` runs).
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
export MEDVAULT_BIN="${MEDVAULT_BIN:-${MV_BUILD_DIR:-$repo/build}/medvault}"
source "$here/lib.sh"
command -v node > /dev/null || fail "node is missing (bash scripts/setup.sh --browser)"
[ -d "$repo/tests/browser/node_modules/fhir-kit-client" ] || fail "fhir-kit-client is missing (bash scripts/setup.sh --browser)"

start_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
"$MV" user add --name drfhir --role doctor --department cardiology --out "$TMP/dr" --user "$TMP/mv/admin" > /dev/null

# Only loopback: a decrypted record must never be served to the network.
rc=0
"$MV" fhir serve --user "$TMP/dr" --listen 0.0.0.0:0 > /dev/null 2> "$TMP/wide.err" || rc=$?
[ "$rc" -eq 2 ] || fail "fhir serve on 0.0.0.0 exited $rc, expected 2"
grep -q "loopback" "$TMP/wide.err" || fail "the refusal of 0.0.0.0 does not say why"

"$MV" fhir serve --user "$TMP/dr" --token-file "$TMP/token" --port-file "$TMP/port" > "$TMP/serve.out" 2> "$TMP/serve.err" &
SERVE=$!
PIDS+=("$SERVE")
wait_for 20 nonempty "$TMP/port" || { cat "$TMP/serve.err" >&2; fail "fhir serve did not start"; }
BASE="http://127.0.0.1:$(cat "$TMP/port")"
grep -qx "medvault fhir: serving $BASE token-file $TMP/token" "$TMP/serve.out" || fail "unexpected banner: $(cat "$TMP/serve.out")"
[ "$(stat -c %a "$TMP/token")" = 600 ] || fail "the token file is not 0600"
TOKEN=$(cat "$TMP/token")
[[ "$TOKEN" =~ ^[0-9a-f]{64}$ ]] || fail "the token is not 32 random bytes in hex"
grep -q "$TOKEN" "$TMP/serve.out" "$TMP/serve.err" && fail "the token appears in the output although --token-file was given"
AUTH="Authorization: Bearer $TOKEN"
pass "fhir serve listens on loopback only, token in a 0600 file"

# status URL [CURL ARGS...] : the HTTP status of one request.
status() { local u=$1; shift; curl -s -m 60 -o "$TMP/body" -w '%{http_code}' "$@" "$u"; }
[ "$(status "$BASE/healthz")" = 200 ] || fail "/healthz"
[ "$(status "$BASE/metadata")" = 401 ] || fail "/metadata without the token was not refused"
grep -q '"resourceType":"OperationOutcome"' "$TMP/body" || fail "the 401 is not an OperationOutcome"
[ "$(status "$BASE/metadata" -H "$AUTH" -H "Host: rebound.example:80")" = 421 ] || fail "a foreign Host was served"
[ "$(status "$BASE/metadata" -H "$AUTH" -H "Host: localhost:$(cat "$TMP/port")")" = 200 ] || fail "Host localhost was refused"
# Bodies: over 64 KiB only with the token, never over 16 MiB.
head -c $((100 << 10)) /dev/zero | tr '\0' ' ' > "$TMP/100k"
[ "$(status "$BASE/Patient" -X POST -H 'Content-Type: application/fhir+json' --data-binary @"$TMP/100k")" = 413 ] \
  || fail "a 100 KiB body without the token was buffered"
[ "$(status "$BASE/Patient" -X POST -H "$AUTH" -H 'Content-Type: application/fhir+json' --data-binary @"$TMP/100k")" = 400 ] \
  || fail "a 100 KiB body with the token was not read (blank JSON must be 400)"
head -c $((17 << 20)) /dev/zero | tr '\0' ' ' > "$TMP/17m"
[ "$(status "$BASE/Patient" -X POST -H "$AUTH" -H 'Content-Type: application/fhir+json' --data-binary @"$TMP/17m")" = 413 ] \
  || fail "a 17 MiB body was not refused with 413"
[ "$(status "$BASE/Patient" -X POST -H "$AUTH" -H 'Content-Type: application/fhir+xml' -d '<Patient/>')" = 415 ] \
  || fail "an XML body is not 415"
grep -q '"resourceType":"OperationOutcome"' "$TMP/body" || fail "the 415 is not an OperationOutcome"
for u in Patient/_history 'Patient/$everything' Patient/_search; do
  [ "$(status "$BASE/$u" -H "$AUTH")" = 405 ] || fail "GET /$u is not 405"
done
[ "$(status "$BASE/Patient/_search" -X POST -H "$AUTH" -H 'Content-Type: application/x-www-form-urlencoded' -d 'a=b')" = 405 ] \
  || fail "POST /Patient/_search is not 405"
grep -q '"code":"not-supported"' "$TMP/body" || fail "the 405 is not an OperationOutcome"
pass "401/421/413 before any record is touched; 405 for what is not offered"

MV_FHIR_BASE="$BASE" MV_FHIR_TOKEN="$TOKEN" node "$repo/tests/browser/fhir_client.mjs" || fail "tests/browser/fhir_client.mjs"
pass "fhir-kit-client session: capabilities, create, read, If-Match 412, update, vread, paged search, history, OperationOutcome"

# /metrics: only for the token's holder, and then the HTTP server's own counters (requests,
# latencies, refusals), nothing about the records.
[ "$(status "$BASE/metrics")" = 401 ] || fail "/metrics without the token was served"
curl -s -m 60 -H "$AUTH" "$BASE/metrics" > "$TMP/metrics"
grep -q '^medvault_fhir_http_requests_total{code="201"}' "$TMP/metrics" || fail "/metrics lacks the request counter"
others=$(grep -v '^#' "$TMP/metrics" | grep -v '^medvault_fhir_http_' || true)
[ -z "$others" ] || fail "/metrics shows more than the HTTP server's own counters: $(echo "$others" | head -3)"

stop_pid "$SERVE"
pass "fhir serve stops cleanly on SIGTERM"
