#!/usr/bin/env bash
# Hospital key pinning (issue 11, finding 14) through real processes (`medvault up`): every
# way of making a user directory (the first admin, `user add`, the kiosk's `user register`)
# pins the hospital key; a client command given a deployment file whose hospital key was
# altered fails with a clear error and sends nothing; a directory from before pins existed is
# pinned on first use, but only to the hospital that signed its credential.
source "$(dirname "$0")/lib.sh"

start_up
D=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
HK=$(json_get "$D" 'd["hospital_public_key"]')
pinned() { json_get "$1/hospital.pin" 'd["hospital_public_key"]'; }
PIN_MSG="hospital key is not the one this user registered with"

# Registration pins the key.
[ "$(pinned "$ADMIN")" = "$HK" ] || fail "the first admin's directory does not pin the hospital key"
"$MV" user add --deployment "$D" --user "$ADMIN" --name dr-a --role doctor --department cardiology --out "$TMP/dr-a" > /dev/null
[ "$(pinned "$TMP/dr-a")" = "$HK" ] || fail "user add did not pin the hospital key"
"$MV" user register --deployment "$D" --name "Kiosk Kim" --out "$TMP/kim" > /dev/null
[ "$(pinned "$TMP/kim")" = "$HK" ] || fail "the kiosk registration did not pin the hospital key"
pass "the first admin, user add and the kiosk each pin the hospital key"

cat > "$TMP/rx.json" <<'EOF'
{"resourceType":"MedicationRequest","id":"rx-1","status":"active","intent":"order","subject":{"reference":"Patient/p1"},"medicationCodeableConcept":{"text":"aspirin 100 mg"}}
EOF
"$MV" put --deployment "$D" --user "$TMP/dr-a" "$TMP/rx.json" > /dev/null || fail "put with the genuine deployment failed"

# A copy whose hospital key was altered (another hospital's key; the services stay the same).
"$MV" hospital init --dir "$TMP/evil" --json > "$TMP/evil.json"
EK=$(json_get "$TMP/evil.json" 'd["sign_public_key"]')
python3 - "$D" "$TMP/altered.json" "$EK" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); d["hospital_public_key"] = sys.argv[3]; json.dump(d, open(sys.argv[2], "w"))
EOF
expect_refused() { # WHAT CMD... : fails, names the pin, exit status 1
  local what=$1 rc=0; shift
  "$@" > "$TMP/refused.out" 2> "$TMP/refused.err" || rc=$?
  [ "$rc" -ne 0 ] || fail "$what: an altered hospital key was accepted"
  grep -q "$PIN_MSG" "$TMP/refused.err" || fail "$what: no clear error: $(cat "$TMP/refused.err")"
}
expect_refused "ls" "$MV" ls --deployment "$TMP/altered.json" --user "$TMP/dr-a"
expect_refused "put" "$MV" put --deployment "$TMP/altered.json" --user "$TMP/dr-a" "$TMP/rx.json"
expect_refused "oprf" "$MV" oprf --deployment "$TMP/altered.json" --user "$TMP/dr-a" 00
expect_refused "user add" "$MV" user add --deployment "$TMP/altered.json" --user "$ADMIN" --name dr-b --role doctor \
  --department cardiology --out "$TMP/dr-b"
[ ! -e "$TMP/dr-b" ] || fail "user add with an altered deployment created a directory"
expect_refused "kiosk user" "$MV" ls --deployment "$TMP/altered.json" --user "$TMP/kim"
[ "$(pinned "$TMP/dr-a")" = "$HK" ] || fail "a refused deployment changed the pin"
pass "an altered hospital key is refused with a clear error (ls, put, oprf, user add, a kiosk user)"

# Nothing is sent: the same altered file pointing every URL at a listener that counts
# connections (an attacker's services) gets none.
python3 - "$TMP/listener.port" "$TMP/listener.count" <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
open(sys.argv[2], "w").write("0")
s.settimeout(60); n = 0
try:
    while True:
        c, _ = s.accept(); n += 1; open(sys.argv[2], "w").write(str(n)); c.close()
except OSError:
    pass
EOF
LST=$!
PIDS+=("$LST")
wait_for 5 nonempty "$TMP/listener.port" || fail "the listener did not start"
LP=$(cat "$TMP/listener.port")
python3 - "$TMP/altered.json" "$TMP/attacker.json" "$LP" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); u = "http://127.0.0.1:" + sys.argv[3]
d["hospital_url"] = d["storage_url"] = u
for k in d["keyservers"]: k["url"] = u
json.dump(d, open(sys.argv[2], "w"))
EOF
expect_refused "attacker ls" "$MV" ls --deployment "$TMP/attacker.json" --user "$TMP/dr-a"
expect_refused "attacker put" "$MV" put --deployment "$TMP/attacker.json" --user "$TMP/dr-a" "$TMP/rx.json"
expect_refused "attacker oprf" "$MV" oprf --deployment "$TMP/attacker.json" --user "$TMP/dr-a" 00
[ "$(cat "$TMP/listener.count")" = 0 ] || fail "a refused deployment still sent $(cat "$TMP/listener.count") connections"
pass "nothing is sent to the services an altered deployment names"

# The genuine file still works.
"$MV" ls --deployment "$D" --user "$TMP/dr-a" > "$TMP/ls.out" || fail "ls with the genuine deployment failed"
grep -q cardiology "$TMP/ls.out" || fail "the record put earlier is not listed"
pass "the genuine deployment still works"

# A directory from before pins existed (keys and a credential, no pin): trust on first use,
# but only for the hospital that signed its credential.
"$MV" keygen --out "$TMP/old" > "$TMP/old.pub.json"
"$MV" credential issue --hospital-dir "$TMP/mv/hospital" --subject "$(json_get "$TMP/old.pub.json" 'd["sign_public_key"]')" \
  --role doctor --department cardiology --out "$TMP/old/credential" > /dev/null
[ ! -e "$TMP/old/hospital.pin" ] || fail "keygen wrote a pin"
# keygen prints public.json's bytes; `credential issue --json` is pinned byte for byte.
cmp -s "$TMP/old.pub.json" "$TMP/old/public.json" || fail "keygen's output differs from public.json"
"$MV" credential issue --hospital-dir "$TMP/mv/hospital" --subject "$(json_get "$TMP/old.pub.json" 'd["sign_public_key"]')" \
  --role doctor --department cardiology --out "$TMP/cred2" --json > "$TMP/cred2.json" || fail "credential issue --json failed"
python3 - "$TMP/cred2.json" "$TMP/cred2" <<'EOF' || fail "credential issue --json: the bytes differ from the pinned format"
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
cred = open(sys.argv[2], encoding="utf-8").read().strip()
d = json.loads(raw)
want = '{"credential":"%s","role":"doctor","expires_at":%d}\n' % (cred, d["expires_at"])
assert raw == want, (raw, want)
EOF
# `credential show --json` byte for byte: member order, compact, one line.
"$MV" credential show --json "$TMP/old/credential" > "$TMP/old.cred.json" || true
python3 - "$TMP/old.cred.json" <<'EOF' || fail "credential show --json: the bytes differ from the pinned format"
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
d = json.loads(raw)
keys = ["subject", "issuer", "role", "departments", "issued_at", "expires_at", "status"]
assert d["departments"] == ["cardiology"] and d["role"] == "doctor", d
want = "{" + ",".join('"%s":%s' % (k, json.dumps(d[k], ensure_ascii=False, separators=(",", ":"))) for k in keys) + "}\n"
assert raw == want, (raw, want)
EOF
expect_refused "unpinned directory, altered deployment" "$MV" ls --deployment "$TMP/altered.json" --user "$TMP/old"
[ ! -e "$TMP/old/hospital.pin" ] || fail "an altered deployment was pinned on first use"
"$MV" ls --deployment "$D" --user "$TMP/old" > /dev/null || fail "an unpinned directory cannot use the genuine deployment"
[ "$(pinned "$TMP/old")" = "$HK" ] || fail "first use did not pin the genuine hospital key"
expect_refused "directory pinned on first use" "$MV" ls --deployment "$TMP/altered.json" --user "$TMP/old"
pass "an unpinned directory is pinned on first use to the hospital that signed its credential, never to another"

kill "$LST" 2>/dev/null || true
stop_pid "$UP"
PIDS=()
pass "medvault up stopped cleanly"
