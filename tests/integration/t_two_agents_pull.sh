#!/usr/bin/env bash
# Two agents of the same commune: what one pushes, the other pulls (with its
# origin); an edit based on the pulled value is accepted, not a conflict, and
# comes back to the first agent.
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
agent_new a 22738
agent_new b 22738
ida=$(agent_id a)
idb=$(agent_id b)
assert_ne "$ida" "$idb" "two agents, two identities"

assert_exit 0 agent a set x 1 --period 2023 --author "Nguyễn Văn A" --comment "Đã họp đủ"
assert_exit 0 agent a sync
assert_contains "$OUT" "1 accepted" "a's push"

assert_exit 0 agent b sync
assert_contains "$OUT" "pulled 1 values" "b's pull"
agent b values --json >"$T/b.values"
assert_eq 1 "$(jq length "$T/b.values")" "b holds one value"
assert_eq "[\"22738\",\"x\",\"2023\",1,\"$ida\",\"synced\",\"Nguyễn Văn A\",\"Đã họp đủ\"]" \
  "$(jq -c '.[0] | [.unit, .element, .period, .value, .agent, .state, .author, .comment]' "$T/b.values")" \
  "b sees a's x=1, from a"
assert_eq "$(hub values --json | jq -r '.[0].version')" "$(jq -r '.[0].version' "$T/b.values")" \
  "b holds the hub's version of x"

# b edits on top of what it pulled
assert_exit 0 agent b set x 2 --period 2023
assert_exit 0 agent b sync
assert_contains "$OUT" "1 accepted" "b's edit based on a's value is accepted"
assert_not_contains "$OUT" "1 conflict" "b's edit is not a conflict"
assert_eq "[[\"x\",2,\"$idb\"]]" "$(hub values --json | jq -c '[.[] | [.element, .value, .agent]]')" "the hub holds b's x=2"

assert_exit 0 agent a sync
assert_contains "$OUT" "pulled 1 values" "a's pull"
assert_eq "[[\"x\",2,\"$idb\",\"synced\"]]" "$(agent a values --json | jq -c '[.[] | [.element, .value, .agent, .state]]')" \
  "a sees b's x=2"
assert_eq 0 "$(agent_status a conflicts)" "a has no conflicts"
assert_eq 0 "$(agent_status b conflicts)" "b has no conflicts"

# a pull is idempotent: nothing new the second time
assert_exit 0 agent a sync
assert_not_contains "$OUT" "pulled" "a's second sync pulls nothing"
assert_exit 0 agent b sync
assert_not_contains "$OUT" "pulled" "b's own value does not come back to it"

# more than one page of changes (the hub pages 2000 at a time): b gets every
# one, once; the pull is bounded in time (timeout turns a loop into a failure)
seq 1 4500 | awk 'BEGIN { print "unit,element,period,value" } { printf "22738,p%04d,2023-03,%d\n", $1, $1 * 3 }' \
  >"$T/pages.csv"
assert_exit 0 agent a import "$T/pages.csv"
assert_exit 0 agent a sync
assert_exit 0 timeout 60 "$DTI_AGENT_BIN" --dir "$T/b" sync
assert_contains "$OUT" "pulled 4500 values" "b pulls 4500 values over several pages"
agent b values --json --period 2023-03 | jq -r '.[] | "\(.element),\(.value),\(.agent),\(.state)"' | sort >"$T/b.pages"
tail -n +2 "$T/pages.csv" | awk -F, -v id="$ida" '{ print $2 "," $4 "," id ",synced" }' | sort >"$T/expected.pages"
assert_eq "$(cat "$T/expected.pages")" "$(cat "$T/b.pages")" "b holds a's 4500 values"
assert_exit 0 timeout 60 "$DTI_AGENT_BIN" --dir "$T/b" sync
assert_not_contains "$OUT" "pulled" "b's next sync pulls nothing"

hub_stop
done_ok
