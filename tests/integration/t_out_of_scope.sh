#!/usr/bin/env bash
# An agent writes only inside its unit (and, for a district, the units under
# it): refused locally at `set`, and refused by the hub when a tampered agent
# sends it anyway - the whole batch, nothing applied.
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
agent_new a 22738 # Phường Đô Vinh, under district 582
agent_new d 582   # Thành phố Phan Rang-Tháp Chàm
assert_exit 0 agent a set meetings 4 --period 2023
assert_exit 0 agent a sync
hub_values >"$T/values.before"

# without tampering: refused at once, nothing recorded
assert_refused agent a set meetings 1 --period 2023 --unit 22741
assert_contains "$ERR" "outside this agent's scope" "set for another unit says why"
assert_contains "$ERR" "22741" "set for another unit names the unit"
assert_eq 0 "$(agent_status a pending_records)" "nothing recorded by the refused set"
cat >"$T/other.csv" <<'EOF'
unit,element,period,value
22738,docs,2023,10
22741,docs,2023,11
EOF
assert_refused agent a import "$T/other.csv"
assert_contains "$ERR" "outside this agent's scope" "import with another unit's row says why"
assert_contains "$ERR" "other.csv:3" "import names the offending line"
assert_eq 0 "$(agent_status a pending_records)" "nothing recorded by the refused import"

# a district writes for its communes, not for another district's
assert_exit 0 agent d set meetings 3 --period 2023 --unit 22741
assert_exit 0 agent d sync
assert_eq 3 "$(hub values --json --unit 22741 | jq '.[] | select(.element == "meetings") | .value')" \
  "district 582 wrote for its commune 22741"
assert_refused agent d set meetings 3 --period 2023 --unit 22783
assert_contains "$ERR" "outside this agent's scope" "district 582 may not write for 22783 (district 584)"
hub_values >"$T/values.before"

# a tampered agent: widen the local scope table, record, sync
sqlite3 "$T/a/agent.db" "INSERT INTO scope(unit) VALUES ('22741')"
assert_exit 0 agent a set meetings 9 --period 2023 # in scope, same batch
assert_exit 0 agent a set meetings 7 --period 2023 --unit 22741
assert_refused agent a sync
assert_contains "$ERR" "out_of_scope" "the hub's refusal reason reaches the officer"
assert_contains "$ERR" "22741" "the refusal names the unit"
assert_eq "$(cat "$T/values.before")" "$(hub_values)" "hub values after the out-of-scope batch"
assert_eq 1 "$(hub_agent_field "$(agent_id a)" last_seq)" "a's last_seq on the hub"
assert_eq 2 "$(agent_status a pending_records)" "the refused records stay in a's outbox"

# the same batch posted directly: 403 out_of_scope
agent_blob a envelope 2 "$T/env2"
post_file /v1/batches "$T/env2"
assert_eq "403 out_of_scope" "$HTTP_STATUS $HTTP_REASON" "the out-of-scope batch posted directly"

# a tampered district agent: a commune of another district
sqlite3 "$T/d/agent.db" "INSERT INTO scope(unit) VALUES ('22783')"
assert_exit 0 agent d set meetings 8 --period 2023 --unit 22783
assert_refused agent d sync
assert_contains "$ERR" "out_of_scope" "the district's out-of-scope batch is refused"
assert_eq "$(cat "$T/values.before")" "$(hub_values)" "hub values after the district's out-of-scope batch"

hub_stop
done_ok
