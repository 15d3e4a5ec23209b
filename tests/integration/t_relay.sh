#!/usr/bin/env bash
# The district relay: a commune that reaches only the district office enrols,
# pushes and pulls through `dti-agent relay`; its envelopes wait at the
# district byte for byte while the district (or the hub) is offline, go up on
# the district's own sync exactly once, and the commune's batches clear only
# when the hub's own receipt reaches it. The hub checks the commune's
# signature: a relayed envelope altered at the district is refused, nothing
# is applied, and the commune is told why. A relay refuses units outside its
# district.
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
agent_new d 582 # Thành phố Phan Rang-Tháp Chàm: the district office
idd=$(agent_id d)

# ---- the relay: its own certificate, printed for communes to pin ----
RPORT=$(free_port)
RELAY_URL=https://127.0.0.1:$RPORT
agent_bg d "$T/relay.out" "$T/relay.err" relay --listen "127.0.0.1:$RPORT"
RELAY_PID=$BG_PID
for ((i = 0; i < 100; i++)); do
  [[ $(curl -sk --max-time 2 "$RELAY_URL/v1/health" 2>/dev/null) == ok ]] && break
  kill -0 "$RELAY_PID" 2>/dev/null || fail "the relay exited: $(cat "$T/relay.err")"
  sleep 0.1
done
assert_eq ok "$(curl -sk --max-time 2 "$RELAY_URL/v1/health")" "the relay answers /v1/health"
RFP=$(sed -n 's/^relay certificate: sha256 \([0-9a-f]\{64\}\).*$/\1/p' "$T/relay.out")
assert_eq 64 "${#RFP}" "the relay prints its certificate fingerprint"
assert_ne "$HUB_FP" "$RFP" "the relay has its own certificate"
assert_eq "$RFP" "$(openssl x509 -in "$T/d/relay.crt" -outform DER | sha256sum | cut -c1-64)" \
  "the printed fingerprint is relay.crt's"
assert_eq 600 "$(stat -c %a "$T/d/relay.key")" "the relay key is private"

# relayed_count SQL-WHERE: rows of the district's relay table
relayed_count() {
  sqlite3 "$T/d/agent.db" "SELECT count(*) FROM relayed WHERE $1"
}

# commune_new NAME UNIT: enrol through the relay (forwarded live to the hub)
commune_new() {
  local token
  token=$(hub enroll --unit "$2") || fail "dti-hub enroll --unit $2 failed"
  assert_exit 0 agent "$1" init --token "$token" --hub "$RELAY_URL" --fingerprint "$RFP"
  assert_contains "$OUT" "enrolled" "$1 enrols through the relay"
}

# ---- a commune enrols through the relay ----
commune_new c 22750
idc=$(agent_id c)
assert_eq 22750 "$(hub_agent_field "$idc" unit)" "the hub enrolled c for 22750"
assert_eq "$RELAY_URL" "$(agent_status c hub)" "c talks to the relay"

# a pin on the hub's certificate does not fit the relay: no fallback
token=$(hub enroll --unit 22741)
assert_refused agent wrongpin init --token "$token" --hub "$RELAY_URL"
assert_contains "$ERR" "pin" "a wrong pin is refused"

# ---- offline: the hub is down; c pushes to the relay ----
hub_stop
assert_exit 0 agent c set x 7 --period 2023 --comment "họp đủ 4 kỳ"
assert_exit 75 agent c sync
assert_contains "$ERR" "relay holds 1 batch" "c is told the relay holds its batch"
assert_eq 1 "$(agent_status c pending_batches)" "c's batch stays pending"
assert_eq 1 "$(relayed_count "agent = '$idc' AND seq = 1 AND receipt IS NULL")" "the relay holds c's batch 1"
sqlite3 "$T/c/agent.db" "SELECT writefile('$T/c1.env', envelope) FROM batches WHERE seq = 1" >/dev/null
sqlite3 "$T/d/agent.db" "SELECT writefile('$T/d1.env', envelope) FROM relayed WHERE agent = '$idc'" >/dev/null
assert_eq "$(hexdump_of "$T/c1.env")" "$(hexdump_of "$T/d1.env")" "held byte for byte"

assert_exit 75 agent c sync
assert_eq 1 "$(relayed_count "agent = '$idc'")" "a resend is not stored twice"

# the district's own sync with the hub down: nothing lost
assert_exit 75 agent d sync
assert_eq 1 "$(relayed_count "agent = '$idc' AND receipt IS NULL AND problem IS NULL")" \
  "still held after the district's failed sync"
assert_eq "[]" "$(hub_values)" "the hub holds nothing yet"

# ---- the hub is back: the district forwards, the commune collects ----
hub_start
assert_exit 0 agent d sync
assert_contains "$OUT" "relayed 1 batches for 1 communes" "the district forwards c's batch"
assert_eq "[[\"22750\",\"x\",7,\"$idc\"]]" \
  "$(hub_values | jq -c '[.[] | [.unit, .element, .value, .agent]]')" \
  "the hub applied x=7 with c's own agent id as origin"
assert_eq 1 "$(hub_agent_field "$idc" last_seq)" "the hub counts c's batch 1"
assert_eq 1 "$(relayed_count "agent = '$idc' AND receipt IS NOT NULL")" "the relay holds the hub's receipt"
assert_eq '{"road":"relay","unit":"582"}' \
  "$(hub gaps --json | jq -c --arg a "$idc" '.[] | select(.agent == $a) | .via | {road, unit}')" \
  "gaps knows c's batches come through district 582"

assert_exit 0 agent d sync
assert_not_contains "$OUT" "relayed" "forwarded exactly once"

assert_eq 1 "$(agent_status c pending_batches)" "c's batch is pending until the receipt reaches it"
assert_exit 0 agent c sync
assert_contains "$OUT" "1 accepted" "c gets the hub's receipt through the relay"
assert_eq 0 "$(agent_status c pending_batches)" "c's outbox is clear"
assert_eq 0 "$(agent_status c pending_records)" "c has no pending records"
sqlite3 "$T/c/agent.db" "SELECT writefile('$T/c1.rc', receipt) FROM batches WHERE seq = 1" >/dev/null
sqlite3 "$T/d/agent.db" "SELECT writefile('$T/d1.rc', receipt) FROM relayed WHERE agent = '$idc'" >/dev/null
assert_eq "$(hexdump_of "$T/d1.rc")" "$(hexdump_of "$T/c1.rc")" "c holds the hub's receipt, unchanged"

# ---- pull through the relay: what the district records for c's unit reaches c ----
assert_exit 0 agent d set y 5 --period 2023 --unit 22750
assert_exit 0 agent d sync
assert_exit 0 agent c sync
assert_contains "$OUT" "pulled 1 values" "c pulls through the relay"
assert_eq "[[\"y\",5,\"$idd\",\"synced\"]]" \
  "$(agent c values --json | jq -c '[.[] | select(.element == "y") | [.element, .value, .agent, .state]]')" \
  "c holds the district's y=5"

# ---- a unit outside the district: refused at the relay ----
commune_new far 22783 # Xã Phước Bình, Huyện Bác Ái (584)
assert_exit 0 agent far set x 1 --period 2023
assert_refused agent far sync
assert_contains "$ERR" "out_of_scope" "a relay refuses a unit outside its district"
assert_eq 0 "$(relayed_count "agent = '$(agent_id far)'")" "nothing held for it"
# the same, straight at the relay's endpoint
sqlite3 "$T/far/agent.db" "SELECT writefile('$T/far1.env', envelope) FROM batches WHERE seq = 1" >/dev/null
HUB_URL_SAVED=$HUB_URL
HUB_URL=$RELAY_URL post_file /v1/batches "$T/far1.env"
assert_eq "403 out_of_scope" "$HTTP_STATUS $HTTP_REASON" "403 out_of_scope from the relay"
HUB_URL=$RELAY_URL post_file /v1/batches "$T/c1.env" text/plain
assert_eq "415" "$HTTP_STATUS" "the relay checks the content type"
printf 'not an envelope' >"$T/junk"
HUB_URL=$RELAY_URL post_file /v1/batches "$T/junk"
assert_eq "400 malformed" "$HTTP_STATUS $HTTP_REASON" "the relay parses envelopes before holding them"
HUB_URL=$HUB_URL_SAVED

# ---- the district offline for weeks: many batches held, forwarded exactly once ----
commune_new e 22738
ide=$(agent_id e)
hub_stop
for i in 1 2 3 4 5 6; do
  assert_exit 0 agent e set "w$i" "$i" --period 2023
  assert_exit 75 agent e sync
done
assert_contains "$ERR" "relay holds 6 batches" "every sync offers all of e's batches"
assert_eq 6 "$(relayed_count "agent = '$ide'")" "the relay holds e's 6 batches"
assert_eq 6 "$(agent_status e pending_batches)" "e's 6 batches are pending"
assert_exit 75 agent d sync
assert_exit 75 agent d sync
assert_eq 6 "$(relayed_count "agent = '$ide' AND receipt IS NULL AND problem IS NULL")" "nothing lost"
hub_start
assert_exit 0 agent d sync
assert_contains "$OUT" "relayed 6 batches for 1 communes" "six batches forwarded"
assert_exit 0 agent d sync
assert_not_contains "$OUT" "relayed" "and only once"
assert_eq 6 "$(hub_agent_field "$ide" last_seq)" "the hub applied e's batches 1-6"
assert_eq 6 "$(hub_values --unit 22738 | jq "[.[] | select(.agent == \"$ide\")] | length")" \
  "the hub holds e's six values"
assert_exit 0 agent e sync
assert_contains "$OUT" "pushed 6 batches" "e collects six receipts"
assert_eq 0 "$(agent_status e pending_batches)" "e's outbox is clear"

# ---- a forged relayed envelope: the district alters c's batch ----
hub_stop
assert_exit 0 agent c set z 9 --period 2023
assert_exit 75 agent c sync
assert_eq 1 "$(relayed_count "agent = '$idc' AND seq = 2 AND receipt IS NULL")" "the relay holds c's batch 2"
# flip the last byte (inside the signature) of the stored envelope
sqlite3 "$T/d/agent.db" "SELECT writefile('$T/c2.env', envelope) FROM relayed WHERE agent = '$idc' AND seq = 2" >/dev/null
size=$(stat -c %s "$T/c2.env")
last=$(od -An -tu1 -j $((size - 1)) -N 1 "$T/c2.env" | tr -d ' ')
printf "$(printf '\\%03o' $((last ^ 1)))" | dd of="$T/c2.env" bs=1 seek=$((size - 1)) conv=notrunc status=none
sqlite3 "$T/d/agent.db" "UPDATE relayed SET envelope = readfile('$T/c2.env') WHERE agent = '$idc' AND seq = 2"
hub_start
assert_exit 0 agent d sync
assert_contains "$OUT" "1 refused by the hub" "the hub refuses the altered envelope"
assert_contains "$(tail -n 5 "$HUB_LOG")" "bad_signature" "refused for its signature"
assert_eq "[]" "$(hub_values | jq -c '[.[] | select(.element == "z")]')" "nothing of it was applied"
assert_eq 1 "$(hub_agent_field "$idc" last_seq)" "c's chain at the hub did not advance"
assert_refused agent c sync
assert_contains "$ERR" "bad_signature" "c is told why its batch was refused"
assert_eq 1 "$(agent_status c pending_batches)" "c's batch stays pending, never cleared by a refusal"

kill -TERM "$RELAY_PID"
wait_rc "$RELAY_PID"
assert_eq 0 "$RC" "the relay stops cleanly on SIGTERM"
hub_stop
done_ok
