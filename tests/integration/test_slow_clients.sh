#!/usr/bin/env bash
# test_slow_clients.sh - issue 11, finding 4, through real processes (`medvault up`): 1,100
# connections on each of the storage server, the hospital and a key server, from 127.0.0.1 and
# 127.0.0.2, each trickling one header byte every 3 s and never finishing its request (and
# reopened when the server closes it, as an attacker would). For 20 s, /healthz of all six
# daemons must answer 200 within 3 s every 2 s; a connection trickling a byte a second must
# be closed by the server at the 15 s head deadline although it never stops sending. The
# servers' shutdown counters (private metrics) show why connections were closed. Loopback only,
# about 30 s in all. On the code before this test (connection limit 1024, an idle timeout
# that each byte renews) the probes fail while the connections are held.
source "$(dirname "$0")/lib.sh"

start_up
HURL=$(json_get "$TMP/up.json" 'd["hospital_url"]')
SURL=$(json_get "$TMP/up.json" 'd["storage_url"]')
DURL=$(json_get "$TMP/up.json" 'd["decoy_url"]')
read -r K1 K2 K3 < <(json_get "$TMP/up.json" '" ".join(d["keyservers"])')
pass "medvault up is ready"

hp() { echo "${1#http://}"; }
probes=()
for u in "$SURL" "$HURL" "$K1" "$K2" "$K3" "$DURL"; do probes+=(--probe "$u/healthz"); done
python3 "$(dirname "$0")/slow_clients.py" --target "$(hp "$SURL")" --target "$(hp "$HURL")" --target "$(hp "$K1")" \
  --conns 1100 --hold 20 --step 3 --deadline 15 "${probes[@]}" \
  || { tail -n 20 "$TMP"/mv/logs/*.log >&2; fail "slow clients starved /healthz or held a slot past the deadline"; }

# Every daemon is still healthy, and says (to its token only) why it closed connections.
for u in "$SURL" "$HURL" "$K1" "$K2" "$K3" "$DURL"; do
  [ "$(curl -s -m 3 "$u/healthz")" = ok ] || fail "$u/healthz after the attack"
done
closed() { # URL DIR REASON
  curl -s -m 5 -H "Authorization: Bearer $(cat "$2/metrics.token")" "$1/metrics" \
    | awk -v r="reason=\"$3\"" 'index($1, r) {s += $2} END {print s + 0}'
}
for pair in "$SURL storage medvault_storage" "$HURL hospital medvault_hospital" "$K1 ks1 medvault_keyserver"; do
  read -r url dir comp <<< "$pair"
  ev=$(closed "$url" "$TMP/mv/$dir" evicted_per_address)
  to=$(closed "$url" "$TMP/mv/$dir" head_timeout)
  [ "$ev" -gt 0 ] || fail "$comp evicted no connection of the flooding addresses"
  echo "  $comp: $ev connections evicted per address, $to closed at the head deadline"
done
[ "$(closed "$SURL" "$TMP/mv/storage" head_timeout)" -gt 0 ] || fail "storage closed no connection at the head deadline"
pass "the servers shut down evicted and overdue connections and still answer"
# Connections cost memory only as data arrives: the storage server's peak RSS stays small.
SPID=$(python3 "$(dirname "$0")/http_hardening.py" child "$UP" storage run "$TMP/mv/storage")
HWM=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$SPID/status")
echo "  storage peak RSS with 1,100 slow connections: $((HWM / 1024)) MB"
[ "$HWM" -lt $((96 * 1024)) ] || fail "storage peak RSS ${HWM} kB under 1,100 slow connections"
stop_pid "$UP"
pass "medvault up stopped cleanly with slow clients around"
