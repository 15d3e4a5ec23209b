#!/usr/bin/env bash
# SIGKILL the agent at several instants of a large sync (sealing, pushing);
# the next sync completes: every value on the hub exactly once, equal to the
# last input, nothing pending, and no error reported except the kill itself.
source "$(dirname "$0")/lib.sh"

N=30000
hub_setup
hub_start
agent_new a 22738
id=$(agent_id a)

# round R: the same N keys, values R*1000000 + i
make_csv() { # ROUND FILE
  seq 1 "$N" | awk -v r="$1" 'BEGIN { print "unit,element,period,value" }
    { printf "22738,e%05d,2023,%d\n", $1, r * 1000000 + $1 }' >"$2"
}

# three rounds of new input, each sync killed early (sealing) to later
# (pushing); then two more kills of resumed syncs, in the middle of pushing
round=0
k=0
for step in new:0.05 new:0.2 new:0.5 resume:0.3 resume:0.6; do
  delay=${step#*:}
  k=$((k + 1))
  if [[ $step == new:* ]]; then
    round=$((round + 1))
    make_csv "$round" "$T/in$round.csv"
    assert_exit 0 agent a import "$T/in$round.csv"
  fi
  agent_bg a "$T/sync$k.out" "$T/sync$k.err" sync
  sleep "$delay"
  kill -KILL "$BG_PID" 2>/dev/null || true
  wait_rc "$BG_PID"
  rc=$RC
  case $rc in
  137 | 0) _pass ;;
  *) _fail "exit status of a sync killed after $delay s" "137 (killed) or 0 (done first)" "$rc" ;;
  esac
  assert_eq "" "$(cat "$T/sync$k.err")" "stderr of the sync killed after $delay s"
  kill -0 "$HUB_PID" 2>/dev/null || fail "the hub died when an agent was killed"
  assert_eq ok "$(hub_health)" "the hub answers after the agent was killed at $delay s"
  # the store is intact and the hub is at most one receipt ahead of it
  run agent a status --json
  assert_eq 0 "$RC" "status after the kill at $delay s (stderr: $ERR)"
  acked=$(jq -r .acknowledged_batches <<<"$OUT")
  pending=$(jq -r .pending_records <<<"$OUT")
  seq=$(hub_agent_field "$id" last_seq)
  if [[ $seq != "$acked" && $seq != $((acked + 1)) ]]; then
    _fail "hub last_seq after the kill at $delay s (agent: $acked acknowledged, $pending records pending)" \
      "$acked or $((acked + 1))" "$seq"
  fi
  _pass
  echo "kill after $delay s: exit $rc, $acked batches acknowledged, hub at $seq, $pending records pending"
done

assert_exit 0 agent a sync
assert_eq "" "$ERR" "stderr of the completing sync"
assert_contains "$OUT" "in sync" "the completing sync"
assert_eq 0 "$(agent_status a pending_records)" "pending records"
assert_eq 0 "$(agent_status a pending_batches)" "pending batches"
assert_eq "$(agent_status a acknowledged_batches)" "$(hub_agent_field "$id" last_seq)" \
  "hub last_seq equals the batches the agent acknowledged"

hub values --json --unit 22738 >"$T/values.json"
assert_eq "$N" "$(jq length "$T/values.json")" "values on the hub for 22738"
jq -r '.[] | "\(.element),\(.value),\(.period),\(.agent)"' "$T/values.json" | sort >"$T/actual"
tail -n +2 "$T/in$round.csv" | awk -F, -v id="$id" '{ print $2 "," $4 "," $3 "," id }' | sort >"$T/expected"
if ! cmp -s "$T/expected" "$T/actual"; then
  _fail "hub values equal the last input ($(diff "$T/expected" "$T/actual" | grep -c '^[<>]') lines differ)" \
    "$(diff "$T/expected" "$T/actual" | grep '^<' | head -n 3 | tr '\n' ' ')" \
    "$(diff "$T/expected" "$T/actual" | grep '^>' | head -n 3 | tr '\n' ' ')"
fi
_pass
assert_eq "[\"synced\"]" "$(agent a values --json | jq -c '[.[].state] | unique')" "the agent's values are all synced"

hub_stop
done_ok
