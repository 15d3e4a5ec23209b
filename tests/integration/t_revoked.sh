#!/usr/bin/env bash
# A revoked agent's later batches are refused for good (not "try again"),
# change nothing on the hub, and stay in the agent's outbox.
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
agent_new a 22738
agent_new b 22741 # an unrelated agent that must keep working
id=$(agent_id a)
assert_exit 0 agent a set meetings 4 --period 2023
assert_exit 0 agent a sync
assert_exit 0 agent b set meetings 1 --period 2023
assert_exit 0 agent b sync

assert_exit 0 hub revoke "$id"
assert_contains "$OUT" "$id" "revoke names the agent"
assert_eq true "$(hub_agent_field "$id" revoked)" "agents --json shows a revoked"
assert_eq false "$(hub_agent_field "$(agent_id b)" revoked)" "agents --json shows b active"
assert_contains "$(hub agents)" "revoked" "the agents table shows the state"
hub_values >"$T/values.before"

assert_exit 0 agent a set meetings 5 --period 2023
assert_exit 0 agent a set docs 120 --period 2023
assert_refused agent a sync
assert_contains "$ERR" "revoked" "a's sync says why"
assert_eq 2 "$(agent_status a pending_records)" "a's refused records stay pending"
assert_contains "$(agent_status a last_error)" "revoked" "a's status shows the refusal"
assert_eq "$(cat "$T/values.before")" "$(hub_values)" "hub values after the revoked agent's sync"
assert_eq 1 "$(hub_agent_field "$id" last_seq)" "a's last_seq on the hub"

# the refused batch, posted directly: 403 revoked
agent_blob a envelope 2 "$T/env2"
post_file /v1/batches "$T/env2"
assert_eq "403 revoked" "$HTTP_STATUS $HTTP_REASON" "a revoked agent's batch posted directly"
# and its earlier, accepted batch is not replayed for it either
agent_blob a envelope 1 "$T/env1"
post_file /v1/batches "$T/env1"
assert_eq "403 revoked" "$HTTP_STATUS $HTTP_REASON" "a revoked agent's old batch posted again"
assert_eq "$(cat "$T/values.before")" "$(hub_values)" "hub values after the direct posts"

# revoking an unknown agent is an error
assert_refused hub revoke 0123456789abcdef
# the other agent is unaffected
assert_exit 0 agent b set meetings 2 --period 2023
assert_exit 0 agent b sync
assert_eq 2 "$(hub values --json --unit 22741 | jq '.[] | select(.element == "meetings") | .value')" \
  "b's value after a was revoked"

hub_stop
done_ok
