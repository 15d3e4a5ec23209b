#!/usr/bin/env bash
# A batch the hub already applied, posted again byte for byte, gets its
# original receipt (byte-identical) and changes nothing - also after a hub
# restart. The same sequence number with other content is refused.
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
agent_new a 22738
assert_exit 0 agent a set meetings 4 --period 2023 --author "Nguyễn Văn A"
assert_exit 0 agent a set docs 120 --period 2023
assert_exit 0 agent a sync
cp -a "$T/a" "$T/fork" # the same agent, key and all, as it stood after batch 1
assert_exit 0 agent a set meetings 5 --period 2023
assert_exit 0 agent a sync
assert_eq 2 "$(agent_status a acknowledged_batches)" "batches acknowledged"

agent_blob a envelope 1 "$T/env1"
agent_blob a receipt 1 "$T/rc1"
agent_blob a envelope 2 "$T/env2"
agent_blob a receipt 2 "$T/rc2"

hub_values >"$T/values.before"
hub agents --json | jq -c '[.[] | {id, last_seq, revoked}]' >"$T/agents.before"
assert_eq 2 "$(hub_agent_field "$(agent_id a)" last_seq)" "hub's last_seq before the replays"

replay() { # ENVELOPE RECEIPT WHAT
  post_file /v1/batches "$1"
  assert_eq 200 "$HTTP_STATUS" "HTTP status of $3"
  assert_eq "" "$HTTP_REASON" "X-DTI-Reason of $3"
  if ! cmp -s "$2" "$T/.body"; then
    _fail "the answer to $3 is the stored receipt, byte for byte" \
      "$(hexdump_of "$2")" "$(hexdump_of "$T/.body")"
  fi
  _pass
  assert_eq "$(cat "$T/values.before")" "$(hub_values)" "hub values after $3"
  assert_eq "$(cat "$T/agents.before")" "$(hub agents --json | jq -c '[.[] | {id, last_seq, revoked}]')" \
    "agents after $3"
}

replay "$T/env1" "$T/rc1" "a replay of batch 1"
replay "$T/env2" "$T/rc2" "a replay of batch 2 (the latest)"
replay "$T/env1" "$T/rc1" "a second replay of batch 1"
hub_stop
hub_start
replay "$T/env1" "$T/rc1" "a replay of batch 1 after a hub restart"
replay "$T/env2" "$T/rc2" "a replay of batch 2 after a hub restart"

# the agent itself is untroubled: nothing to push, still in sync
assert_exit 0 agent a sync
assert_not_contains "$OUT" "pushed" "the agent's next sync pushes nothing"
assert_eq 0 "$(agent_status a pending_records)" "pending records"

# the same agent and sequence number with other content: refused, nothing applied
assert_exit 0 agent fork set meetings 99 --period 2023
assert_refused agent fork sync
assert_contains "$ERR" "broken_chain" "a forked batch 2 is refused as a broken chain"
assert_eq 1 "$(agent_status fork pending_batches)" "the fork's batch stays pending"
assert_eq "$(cat "$T/values.before")" "$(hub_values)" "hub values after the forked batch"
assert_eq 5 "$(hub values --json --unit 22738 | jq '.[] | select(.element == "meetings") | .value')" \
  "meetings on the hub"

hub_stop
done_ok
