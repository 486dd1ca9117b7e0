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

# Identical content in one group is stored once.
stats() { "$MV" stats --deployment "$DEP" --user "$ADMIN" --json | json_get - 'd["blocks"]'; }
B1=$(stats)
g "$TMP/dave" put --group ward "$TMP/scan.bin" > /dev/null
[ "$(stats)" -eq "$B1" ] || fail "the same file stored twice in the group took new blocks ($B1 -> $(stats))"
pass "identical blocks of the group are stored once"

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

# Delete: not by another member, by the owner, by the manager.
g "$TMP/bob" rm --group ward "$ID" 2> "$TMP/rm.err" && fail "bob deleted alice's record"
op bob delete "$ID" 3 > "$TMP/del.out"
grep -q '^403 .*owner' "$TMP/del.out" || fail "the server let a non-owner delete: $(cat "$TMP/del.out")"
g "$TMP/alice" rm --group ward "$ID" --json > "$TMP/rm.json"
g "$TMP/bob" get --group ward "$ID" > /dev/null 2>&1 && fail "a deleted record is still readable"
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

# What an anonymous peer may cost: the body cap and the per-address rate limit.
op bob big > "$TMP/big.out"
grep -q '^413 .*within its cap' "$TMP/big.out" || fail "an over-cap body: $(cat "$TMP/big.out")"
op bob burst 64 > "$TMP/burst.out"
grep -q '^429 .*too many group operations from this address' "$TMP/burst.out" || fail "no rate limit: $(sort "$TMP/burst.out" | uniq -c)"
grep -q '^400 .*malformed MVGO' "$TMP/burst.out" || fail "malformed operations are not called malformed"
pass "the body cap and the rate limit answer with clear errors"
