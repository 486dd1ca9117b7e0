#!/usr/bin/env bash
# Group files through real processes (`medvault up`, docs/groups.md): members store, read and
# modify anonymously (the storage server's audit log and log name no member), every version's
# ring signature is kept and the manager's history lists them; a bit-flipped, stale-epoch,
# replayed or out-of-time operation is refused; the owner deletes, another member cannot, the
# manager can; a removed member is refused and cannot read what is stored afterwards while
# current members can; identical content is stored once per group; the body cap and the
# per-address rate limit answer with clear errors.
source "$(dirname "$0")/lib.sh"
OP=${MV_GROUP_OP_BIN:?MV_GROUP_OP_BIN must point at the mv_group_op test helper}

start_up
DEP=$TMP/mv/deployment.json
ADMIN=$TMP/mv/admin
pass "medvault up is ready"

for u in alice bob carol dave; do
  "$MV" user add --deployment "$DEP" --user "$ADMIN" --name "$u" --role doctor --department ward --out "$TMP/$u" > /dev/null
done
g() { local who=$1; shift; "$MV" group "$@" --deployment "$DEP" --user "$who"; }
G=$(g "$ADMIN" create ward --json | json_get - 'd["id"]')
g "$ADMIN" add ward alice bob carol dave > /dev/null
for u in alice bob carol dave; do g "$TMP/$u" join ward > /dev/null; done
pass "group ward ($G) with four joined members"

# Store, read back, modify.
head -c 3000000 /dev/urandom > "$TMP/scan.bin"
printf 'ward round notes\n' > "$TMP/notes.txt"
g "$TMP/alice" put --group ward "$TMP/scan.bin" --json > "$TMP/put1.json"
ID=$(json_get "$TMP/put1.json" 'd["id"]')
[ "$(json_get "$TMP/put1.json" 'd["version"]')" -eq 1 ] || fail "a put is version 1"
g "$TMP/bob" get --group ward "$ID" -o "$TMP/back1.bin"
cmp -s "$TMP/back1.bin" "$TMP/scan.bin" || fail "bob does not read back what alice stored"
g "$TMP/carol" modify --group ward "$ID" "$TMP/notes.txt" --json > "$TMP/mod.json"
[ "$(json_get "$TMP/mod.json" 'd["version"]')" -eq 2 ] || fail "a modify is version 2"
g "$TMP/alice" get --group "$G" "$ID" > "$TMP/back2.txt"
cmp -s "$TMP/back2.txt" "$TMP/notes.txt" || fail "the modified content is not what alice reads"
g "$TMP/dave" files --group ward --json > "$TMP/ls.json"
[ "$(json_get "$TMP/ls.json" '[r["version"] for r in d["records"] if r["id"] == "'"$ID"'"][0]')" -eq 2 ] \
  || fail "the listing does not show version 2"
pass "members put, get and modify; the listing shows the latest version"

# A modify destroys nothing: every version's content is kept, and members read it by number.
g "$TMP/dave" get --group ward "$ID" --version 1 -o "$TMP/v1.bin"
cmp -s "$TMP/v1.bin" "$TMP/scan.bin" || fail "version 1 is not readable after a modify"
g "$TMP/dave" get --group ward "$ID" --version 2 | cmp -s - "$TMP/notes.txt" || fail "version 2 by number"
g "$TMP/dave" get --group ward "$ID" --version 3 2> "$TMP/v3.err" && fail "a version the record lacks was read"
grep -q "no such version" "$TMP/v3.err" || fail "reading a missing version: $(cat "$TMP/v3.err")"
pass "every version's content is kept and readable by members"

# Anonymity towards the manager: a member whose group id and keys are kept in her directory
# (bob's get above kept them) makes no signed call to the hospital and none to the key servers
# when she puts, modifies or reads; only the public roster is fetched, unsigned. Otherwise the
# manager (or whoever reads the key servers' logs) could match the times of her calls with the
# storage history.
BOBKEY=$(json_get "$TMP/bob/public.json" 'd["sign_public_key"]')
hosp_calls() { grep -c "\"principal\":\"$BOBKEY\"" "$TMP/mv/hospital/audit/audit.log" || true; }
ks_calls() { cat "$TMP"/mv/ks*/audit/audit.log | grep -c "\"principal\":\"$BOBKEY\"" || true; }
H0=$(hosp_calls); K0=$(ks_calls)
head -c 200000 /dev/urandom > "$TMP/bob-scan.bin"
BID=$(g "$TMP/bob" put --group ward "$TMP/bob-scan.bin" --json | json_get - 'd["id"]')
g "$TMP/bob" modify --group ward "$BID" "$TMP/notes.txt" > /dev/null
g "$TMP/bob" get --group ward "$BID" -o "$TMP/bob-back.txt"
cmp -s "$TMP/bob-back.txt" "$TMP/notes.txt" || fail "bob does not read back his modification"
[ "$(hosp_calls)" -eq "$H0" ] || fail "bob's put, modify and get made signed calls to the hospital: \
$(grep "\"principal\":\"$BOBKEY\"" "$TMP/mv/hospital/audit/audit.log" | tail -n +$((H0 + 1)))"
[ "$(ks_calls)" -eq "$K0" ] || fail "bob's put, modify and get called the key servers ($K0 -> $(ks_calls))"
grep -q '"principal":"","address":"127.0.0.1","action":"GET /v1/groups/[0-9a-f]*/roster"' \
  "$TMP/mv/hospital/audit/audit.log" || fail "the roster is not fetched unsigned"
pass "a member with her keys kept makes no signed call to the hospital or the key servers for put, modify and get"

# Identical content in one group is stored once.
stats() { "$MV" stats --deployment "$DEP" --user "$ADMIN" --json | json_get - 'd["blocks"]'; }
group_blocks() { # KIND: blocks of group versions that arrived so (uploaded, referenced)
  curl -s -m 5 -H "Authorization: Bearer $(cat "$TMP/mv/storage/metrics.token")" "$(json_get "$DEP" 'd["storage_url"]')/metrics" \
    | awk -v k="medvault_storage_group_blocks_total{kind=\"$1\"}" '$1 == k {v = $2} END {print v + 0}'
}
B1=$(stats)
U0=$(group_blocks uploaded); R0=$(group_blocks referenced)
g "$TMP/dave" put --group ward "$TMP/scan.bin" > /dev/null
[ "$(stats)" -eq "$B1" ] || fail "the same file stored twice in the group took new blocks ($B1 -> $(stats))"
# However many chunks the random scan cut into, dave's copy sent every one by reference.
[ "$(group_blocks uploaded)" -eq "$U0" ] && [ "$(group_blocks referenced)" -gt "$R0" ] \
  || fail "dave's copy of the scan was uploaded again (uploaded $U0 -> $(group_blocks uploaded), referenced $R0 -> $(group_blocks referenced))"
"$OP" "$DEP" "$TMP/bob" ward ref > "$TMP/ref.out"
grep -q '^409 .*"missing":\[0\]' "$TMP/ref.out" || fail "a reference to a block the group does not hold: $(cat "$TMP/ref.out")"
pass "identical blocks of the group are stored once; a member's copy is not uploaded again, and only blocks the group holds can be referenced"

# The manager traces: every version with its signature and signed message.
g "$ADMIN" history --group "$G" "$ID" --json > "$TMP/hist.json"
python3 - "$TMP/hist.json" <<'PY' || fail "the history does not keep every version's signature"
import base64, json, sys
h = json.load(open(sys.argv[1]))
v = h["versions"]
assert [e["op"] for e in v] == ["put", "modify"], v
msgs = [base64.b64decode(e["msg"]) for e in v]
sigs = [base64.b64decode(e["sig"]) for e in v]
assert all(len(m) == 126 and m.startswith(b"medvault-group-op-v1\n") for m in msgs), msgs
assert all(len(s) > 400 for s in sigs) and sigs[0] != sigs[1]
assert all(e["epoch"] >= 1 for e in v)
PY
g "$TMP/bob" history --group "$G" "$ID" 2> "$TMP/hist.err" && fail "a member read the history"
grep -q "403" "$TMP/hist.err" || fail "the history refusal is unclear: $(cat "$TMP/hist.err")"
pass "the manager's history lists every version with its signature; members cannot read it"

# Tracing: the manager's case file of the disputed modification, opened (the admin is the only
# opener of this group) and judged: it names carol, and a case of alice's put names alice.
g "$ADMIN" case "$G" "$ID" --version 2 --out "$TMP/case2.json" > /dev/null
g "$ADMIN" open "$TMP/case2.json" --out "$TMP/opening2.json" --json > "$TMP/open2.json"
[ "$(json_get "$TMP/open2.json" 'd["member"]["name"]')" = carol ] || fail "the opening of version 2 does not name carol: $(cat "$TMP/open2.json")"
"$MV" group judge "$TMP/case2.json" "$TMP/opening2.json" --deployment "$DEP" > /dev/null || fail "the judge refused a true opening"
g "$ADMIN" case "$G" "$ID" --version 1 --out "$TMP/case1.json" > /dev/null
g "$ADMIN" open "$TMP/case1.json" --out "$TMP/opening1.json" --json | json_get - 'd["member"]["name"]' | grep -qx alice \
  || fail "the opening of version 1 does not name alice"
"$MV" group judge "$TMP/case1.json" "$TMP/opening2.json" --deployment "$DEP" > /dev/null 2>&1 \
  && fail "the judge accepted another version's opening"
g "$TMP/bob" case ward "$ID" --version 2 > /dev/null 2>&1 && fail "a member made a case file"
pass "the manager traces each version to its signer and the judge checks it"

# Anonymity: the storage server's audit log and log never name a member for group ops.
AUDIT=$TMP/mv/storage/audit/audit.log
grep -q '/ops"' "$AUDIT" || fail "group operations are not in the audit log"
grep '/ops"' "$AUDIT" > "$TMP/ops.audit"
grep -vq '"principal":""' "$TMP/ops.audit" && fail "a group operation's audit entry names a principal"
for u in alice bob carol dave; do
  for k in sign_public_key box_public_key; do
    key=$(json_get "$TMP/$u/public.json" "d[\"$k\"]")
    # (bob's refused history request above is a signed request: the audit log names him there)
    grep -q "$key" "$TMP/ops.audit" "$TMP"/mv/logs/storage.log && fail "the storage server logged $u's $k for a group operation"
  done
done
pass "the storage server's audit log and log name no member"

# Forged, stale, replayed and out-of-time operations are refused.
op() { "$OP" "$DEP" "$TMP/$1" ward "${@:2}"; }
op bob flip 777 > "$TMP/flip.out"
grep -q '^401 .*does not verify' "$TMP/flip.out" || fail "a bit-flipped signature: $(cat "$TMP/flip.out")"
op bob list > "$TMP/list.out"
grep -q '^200 ' "$TMP/list.out" || fail "a valid operation was refused: $(cat "$TMP/list.out")"
op bob replay > "$TMP/replay.out"
[ "$(sed -n 1p "$TMP/replay.out" | cut -c1-3)" = 200 ] || fail "replay's first send: $(cat "$TMP/replay.out")"
sed -n 2p "$TMP/replay.out" | grep -q '^401 .*replayed' || fail "a replay was not refused: $(cat "$TMP/replay.out")"
op bob skew 1000 > "$TMP/skew.out"
grep -q '^401 .*clock skew' "$TMP/skew.out" || fail "an old operation: $(cat "$TMP/skew.out")"
E=$(g "$TMP/bob" roster ward --json | json_get - 'd["epoch"]')
op bob epoch $((E - 1)) > "$TMP/stale.out"
grep -q '^409 .*stale roster' "$TMP/stale.out" || fail "a stale-epoch signature: $(cat "$TMP/stale.out")"
pass "bit-flipped, replayed, out-of-time and stale-epoch operations are refused"

# Group ids are the peer's to choose: 12 operations at once for a group the hospital does not
# know make the storage server ask the hospital once (one fetch per group at a time, the 404
# remembered), and each is answered 404 or 503.
op bob unknown 12 > "$TMP/unknown.out"
UG=$(sed -n 1p "$TMP/unknown.out")
[ "$(tail -n +2 "$TMP/unknown.out" | grep -cE '^(404|503) ')" -eq 12 ] || fail "operations for an unknown group: $(cat "$TMP/unknown.out")"
op bob unknown 1 > /dev/null # another id: the answers above are all in
N_FETCH=$(grep -c "\"action\":\"GET /v1/groups/$UG/roster\"" "$TMP/mv/hospital/audit/audit.log" || true)
[ "$N_FETCH" -eq 1 ] || fail "12 operations for an unknown group made $N_FETCH roster fetches"
pass "operations for an unknown group cost the hospital one roster fetch"

# Delete: not by another member, by the owner, by the manager.
g "$TMP/bob" rm --group ward "$ID" 2> "$TMP/rm.err" && fail "bob deleted alice's record"
op bob delete "$ID" 3 > "$TMP/del.out"
grep -q '^403 .*owner' "$TMP/del.out" || fail "the server let a non-owner delete: $(cat "$TMP/del.out")"
g "$TMP/alice" rm --group ward "$ID" --json > "$TMP/rm.json"
g "$TMP/bob" get --group ward "$ID" > /dev/null 2>&1 && fail "a deleted record is still readable"
g "$TMP/bob" get --group ward "$ID" --version 1 > /dev/null 2>&1 && fail "a deleted record's version 1 is still readable"
g "$ADMIN" history --group "$G" "$ID" --json | json_get - 'd["versions"][-1]["op"], d["deleted"]' | grep -q "delete.*True" \
  || fail "the owner's delete is not in the history"
g "$TMP/dave" put --group ward "$TMP/notes.txt" --json > "$TMP/put2.json"
ID2=$(json_get "$TMP/put2.json" 'd["id"]')
g "$TMP/bob" rm --group "$G" "$ID2" --manager 2> /dev/null && fail "a member deleted as the manager"
g "$ADMIN" rm --group "$G" "$ID2" --manager > /dev/null || fail "the manager could not delete"
g "$ADMIN" history --group "$G" "$ID2" --json | json_get - 'd["versions"][-1]["op"]' | grep -qx admin_delete \
  || fail "the manager's delete is not in the history"
pass "the owner and the manager delete; another member cannot"

# Removal: carol's operations are refused, and she cannot read what is stored afterwards.
E_BEFORE=$(g "$TMP/carol" roster ward --json | json_get - 'd["epoch"]')
g "$ADMIN" remove ward carol > /dev/null
g "$TMP/alice" put --group ward "$TMP/notes.txt" --json > "$TMP/put3.json"
ID3=$(json_get "$TMP/put3.json" 'd["id"]')
g "$TMP/bob" get --group ward "$ID3" | cmp -s - "$TMP/notes.txt" || fail "a current member cannot read after the removal"
g "$TMP/carol" get --group ward "$ID3" > /dev/null 2>&1 && fail "a removed member read a record stored after her removal"
g "$TMP/carol" put --group ward "$TMP/notes.txt" > /dev/null 2>&1 && fail "a removed member stored a record"
op carol epoch "$E_BEFORE" > "$TMP/removed.out"
grep -q '^409 .*stale roster' "$TMP/removed.out" || fail "the storage server took a removed member's signature: $(cat "$TMP/removed.out")"
pass "a removed member's operations are refused and she cannot read newer records; members can"

# Memory an anonymous peer may hold: bodies announced but not yet sent hold their reservation.
# One address gets two large ones in flight, a third is refused with 503 at once; across
# addresses (127.0.0.2-4) the global budget (128 MiB) refuses the sixth body of 24 MiB; when
# the requests end their bytes are free again.
python3 - "$(json_get "$DEP" 'd["storage_url"]')" "$G" <<'PY' || fail "anonymous bodies in flight are not bounded"
# Which of several connections the server gates first is up to its threads (and slow under
# ASan), so each check asks how many of a set were refused, not which one.
import select, socket, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); g = sys.argv[2]
def start(src, n):
    s = socket.create_connection((u.hostname, u.port), timeout=5, source_address=(src, 0))
    s.sendall(("POST /v1/groups/%s/ops HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
               "Content-Length: %d\r\n\r\n" % (g, n)).encode() + b"x" * 1024)
    return s
def refused(socks, want, wait=8.0):
    """The sockets answered 503 once `want` of them have, or after `wait` seconds; then a
    grace period shows that no other one answers."""
    got, deadline = {}, time.time() + wait
    while time.time() < deadline and len(got) < want:
        r, _, _ = select.select([x for x in socks if x not in got], [], [], 0.2)
        for x in r:
            got[x] = x.recv(4096).decode(errors="replace").split("\r\n")[0]
    r, _, _ = select.select([x for x in socks if x not in got], [], [], 0.5)
    for x in r:
        got[x] = x.recv(4096).decode(errors="replace").split("\r\n")[0]
    return got
big = 24 << 20
one = [start("127.0.0.1", big) for _ in range(3)]
got = refused(one, 1)
assert len(got) == 1 and all(" 503 " in v for v in got.values()), "three large bodies from one address: %r" % got
held = [x for x in one if x not in got]
more = [start(src, big) for src in ("127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.4")]
got = refused(more, 1)
# Two held from .1 and four new ones: 6 x 24 MiB is over the 128 MiB budget by one body.
assert len(got) == 1 and all(" 503 " in v for v in got.values()), "six 24 MiB bodies over the global budget: %r" % got
for x in one + more:
    x.close()
deadline = time.time() + 10
while True:
    again = start("127.0.0.4", big)
    r, _, _ = select.select([again], [], [], 0.5)
    if not r:
        again.close()
        break
    again.close()
    assert time.time() < deadline, "the budget was not released when the requests ended"
    time.sleep(0.2)
PY
pass "anonymous bodies in flight are bounded per address and in all"

# What an anonymous peer may cost: the body cap and the per-address rate limit.
op bob big > "$TMP/big.out"
grep -q '^413 .*within its cap' "$TMP/big.out" || fail "an over-cap body: $(cat "$TMP/big.out")"
op bob burst 64 > "$TMP/burst.out"
grep -q '^429 .*too many group operations from this address' "$TMP/burst.out" || fail "no rate limit: $(sort "$TMP/burst.out" | uniq -c)"
grep -q '^400 .*malformed MVGO' "$TMP/burst.out" || fail "malformed operations are not called malformed"
pass "the body cap and the rate limit answer with clear errors"


# Metrics count group operations by operation and outcome, and name nobody.
SURL=$(json_get "$DEP" 'd["storage_url"]')
curl -s -m 5 -H "Authorization: Bearer $(cat "$TMP/mv/storage/metrics.token")" "$SURL/metrics" \
  | grep '^medvault_storage_group_ops_total' > "$TMP/metrics.txt" || true
for want in 'op="put",outcome="ok"' 'op="modify",outcome="ok"' 'op="list",outcome="bad_signature"' \
            'op="delete",outcome="forbidden"' 'op="unknown",outcome="rate_limited"'; do
  grep -q "{$want} [1-9]" "$TMP/metrics.txt" || fail "no metric $want: $(cat "$TMP/metrics.txt")"
done
pass "group operations are counted by operation and outcome"

# Durability: after every service restarts, the versions' signatures and the content are there.
stop_pid "$UP"
rm -f "$TMP/mv/ready"
start_up
g "$ADMIN" history --group "$G" "$ID" --json | json_get - '[v["op"] for v in d["versions"]]' \
  | grep -qx "\['put', 'modify', 'delete'\]" || fail "the history did not survive a restart"
g "$TMP/bob" get --group ward "$ID3" | cmp -s - "$TMP/notes.txt" || fail "a record did not survive a restart"
pass "versions, signatures and content survive a restart"

# kill -9 the storage server while a member stores: `up` restarts it on its port, and every
# version it acknowledged is there with its signature, byte for byte.
ACKED=$TMP/acked.txt
: > "$ACKED"
(
  for i in $(seq 1 40); do
    printf 'crash round %s\n' "$i" > "$TMP/c$i.txt"
    id=$(g "$TMP/dave" put --group "$G" "$TMP/c$i.txt" --json 2> /dev/null | json_get - 'd["id"]' 2> /dev/null) \
      && echo "$i $id" >> "$ACKED"
  done
) &
LOOP=$!
wait_for 30 test -s "$ACKED" || fail "no put was acknowledged before the crash"
SPID=$(cat "$TMP/mv/run/storage.pid")
kill -KILL "$SPID"
wait "$LOOP" || true
storage_back() { [ "$(cat "$TMP/mv/run/storage.pid" 2>/dev/null)" != "$SPID" ] && curl -sf -m 2 "$(json_get "$DEP" 'd["storage_url"]')/healthz" > /dev/null; }
wait_for 30 storage_back || fail "the storage server did not come back after kill -9"
[ "$(wc -l < "$ACKED")" -ge 1 ] || fail "nothing acknowledged"
while read -r i id; do
  g "$TMP/bob" get --group "$G" "$id" | cmp -s - "$TMP/c$i.txt" || fail "acknowledged put $i ($id) lost after kill -9"
  g "$ADMIN" history --group "$G" "$id" --json | json_get - 'd["versions"][0]["op"]' | grep -qx put \
    || fail "acknowledged put $i lost its signature after kill -9"
done < "$ACKED"
pass "kill -9 of the storage server loses no acknowledged version ($(wc -l < "$ACKED") checked)"
