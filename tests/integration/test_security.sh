#!/usr/bin/env bash
# test_security.sh - issue 11's findings that need a whole deployment (`medvault up`), through
# real processes and raw HTTP as an attacker on the network would send it:
#  6. a request signed for one service is valid at that service only: an admin-signed
#     GET /v1/audit for key server 1 is refused (421) by key servers 2 and 3, the storage
#     server and the hospital, and so is the same request replayed byte for byte;
#  6. a request signed for a service under its loopback name (localhost) is accepted there;
#  1. an unsigned listing that claims a doctor's key (MV-Key only) lists none of her records;
#  2. an unsigned read of her record carries none of its real metadata.
source "$(dirname "$0")/lib.sh"

start_up
export MEDVAULT_DEPLOYMENT=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
HURL=$(json_get "$TMP/up.json" 'd["hospital_url"]')
SURL=$(json_get "$TMP/up.json" 'd["storage_url"]')
K1=$(json_get "$TMP/up.json" 'd["keyservers"][0]')
K2=$(json_get "$TMP/up.json" 'd["keyservers"][1]')
K3=$(json_get "$TMP/up.json" 'd["keyservers"][2]')
key_of() { json_get "$1/public.json" 'd["sign_public_key"]'; }
pass "medvault up is ready"

# send URL HEADERS_FILE : the status of GET URL/v1/audit with the given MV-* header lines
send() {
  local args=() line
  while IFS= read -r line; do [ -n "$line" ] && args+=(-H "$line"); done < "$2"
  curl -s -o "$TMP/body" -w '%{http_code}' "${args[@]}" "$1/v1/audit"
}

# 6. One admin-signed request, meant for key server 1.
"$MV_SIGN_BIN" --user "$ADMIN" --target "$K1" GET /v1/audit > "$TMP/h1"
for url in "$K2" "$K3" "$SURL" "$HURL"; do
  st=$(send "$url" "$TMP/h1")
  [ "$st" = 421 ] || fail "a request signed for key server 1 got $st from $url (want 421)"
  grep -q "another service" "$TMP/body" || fail "the 421 from $url does not say why: $(cat "$TMP/body")"
done
st=$(send "$K1" "$TMP/h1")
[ "$st" = 200 ] || fail "key server 1 refused the admin's request meant for it: $st $(cat "$TMP/body")"
# The very same bytes again (the replay an untrusted peer would try) at every other service.
for url in "$K2" "$SURL" "$HURL"; do
  st=$(send "$url" "$TMP/h1")
  [ "$st" = 421 ] || fail "the replayed request got $st from $url"
done
[ "$(send "$K1" "$TMP/h1")" = 401 ] || fail "key server 1 accepted its own request twice"
pass "a request signed for key server 1 is refused by key servers 2 and 3, storage and the hospital (421), replayed or not"

# MV-Target rewritten after signing: a forgery (401).
"$MV_SIGN_BIN" --user "$ADMIN" --target "$K1" GET /v1/audit > "$TMP/h2"
sed "s|^MV-Target: .*|MV-Target: $K2|" "$TMP/h2" > "$TMP/h2b"
st=$(send "$K2" "$TMP/h2b")
[ "$st" = 401 ] || fail "a request whose MV-Target was rewritten got $st"
pass "rewriting MV-Target breaks the signature (401)"

# Loopback's other name: a client that calls http://localhost:PORT signs for that origin.
LK1=$(echo "$K1" | sed 's|127.0.0.1|localhost|')
"$MV_SIGN_BIN" --user "$ADMIN" --target "$LK1" GET /v1/audit > "$TMP/h3"
st=$(send "$LK1" "$TMP/h3")
[ "$st" = 200 ] || fail "key server 1 refused a request signed for http://localhost:PORT: $st $(cat "$TMP/body")"
pass "a request signed for the service's loopback name is accepted"

# 1 and 2: a doctor's records, then an attacker with her public key and no signature.
"$MV" user add --user "$ADMIN" --name secdoc --role doctor --department cardiology --out "$TMP/doc" > /dev/null
DOC=$(key_of "$TMP/doc")
cat > "$TMP/rx.json" <<JSON
{"resourceType":"MedicationRequest","status":"active","intent":"order","authoredOn":"2026-11-23T09:45:00Z",
 "medicationCodeableConcept":{"text":"Atorvastatin 20 mg tablet"},"dosageInstruction":[{"text":"1 tablet daily"}]}
JSON
"$MV" put --user "$TMP/doc" --json "$TMP/rx.json" "$TMP/rx.json" > "$TMP/w.json"
RIDS=$(json_get "$TMP/w.json" '",".join(r["id"] for r in d["records"])')
curl -s -H "MV-Key: $DOC" "$SURL/v1/records" > "$TMP/list.json"
python3 - "$TMP/list.json" "$RIDS" "$DOC" <<'PY' || fail "the unsigned listing with the doctor's key shows her records"
import json, sys
d = json.load(open(sys.argv[1]))
ids = {r["id"] for r in d["records"]}
assert not ids & set(sys.argv[2].split(",")), "a real record id"
assert all(sys.argv[3] not in (r["owner"], r["patient"]) for r in d["records"]), "her key in the listing"
PY
RID=${RIDS%%,*}
curl -s -D "$TMP/hdr" -o /dev/null -H "MV-Key: $DOC" "$SURL/v1/records/$RID"
grep -qi "^MV-Record-Owner: $DOC" "$TMP/hdr" && fail "the unsigned read carries the real owner"
grep -qi "^MV-Record-Owner:" "$TMP/hdr" || fail "the unsigned read is not a decoy of a record: $(cat "$TMP/hdr")"
pass "an unsigned listing claiming a doctor's key lists none of her records; an unsigned read of hers carries an invented owner"

stop_pid "$UP"
pass "medvault up stops cleanly"
