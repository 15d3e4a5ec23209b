#!/usr/bin/env bash
# Commune agents enrol and record figures while the hub is down; sync fails
# with 75 and loses nothing; once the hub is up every figure arrives exactly
# once, as typed; a second sync changes nothing.
source "$(dirname "$0")/lib.sh"

hub_setup # the hub is initialised but NOT serving

declare -A UNIT=([a1]=22738 [a2]=22741 [a3]=22744)
declare -A EDITS # records each agent has pending
for a in a1 a2 a3; do
  agent_new "$a" "${UNIT[$a]}"
  assert_contains "$OUT" "enrolment will complete on the first sync" "init of $a with the hub down"
  assert_eq false "$(agent_status "$a" enrolled)" "$a is not enrolled yet"
done

# expected.tsv: unit, element, period, value as JSON, author, comment
: >"$T/expected.tsv"
expect() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$T/expected.tsv"
}

# a1: set, including an overwrite of a pending value (the hub must end with the last)
assert_exit 0 agent a1 set meetings 3 --period 2023
assert_exit 0 agent a1 set meetings 4 --period 2023 --comment "Đã họp đủ" --author "Nguyễn Văn A"
expect 22738 meetings 2023 4 "Nguyễn Văn A" "Đã họp đủ"
assert_exit 0 agent a1 set minutes "Đã họp đủ" --period 2023 --author "Nguyễn Văn A"
expect 22738 minutes 2023 '"Đã họp đủ"' "Nguyễn Văn A" ""
assert_exit 0 agent a1 set fibre.households_pct 12.5 --period 2023
expect 22738 fibre.households_pct 2023 12.5 "" ""
assert_exit 0 agent a1 set portal_online có --period 2023Q4
expect 22738 portal_online 2023Q4 true "" ""
cat >"$T/a1.csv" <<'EOF'
unit,element,period,value,comment,author
22738,docs_issued,2023,120,"Văn bản điện tử, có ký số",Trần Thị B
22738,staff_trained,2023-06,0,,
22738,e-gov_score,2023,0.75
EOF
assert_exit 0 agent a1 import "$T/a1.csv"
assert_contains "$OUT" "recorded 3 values" "a1 import"
expect 22738 docs_issued 2023 120 "Trần Thị B" "Văn bản điện tử, có ký số"
expect 22738 staff_trained 2023-06 0 "" ""
expect 22738 e-gov_score 2023 0.75 "" ""
EDITS[a1]=8

# a2: import only
cat >"$T/a2.csv" <<'EOF'
22741,meetings,2023,2,Đã họp đủ,Nguyễn Văn A
22741,fibre,2023,false,,
22741,note,2023,"Chưa có ""cổng"" dịch vụ",,
EOF
assert_exit 0 agent a2 import "$T/a2.csv"
expect 22741 meetings 2023 2 "Nguyễn Văn A" "Đã họp đủ"
expect 22741 fibre 2023 false "" ""
expect 22741 note 2023 '"Chưa có \"cổng\" dịch vụ"' "" ""
EDITS[a2]=3

# a3: set only, one value negative and one large
assert_exit 0 agent a3 set budget_delta -1500 --period 2023
expect 22744 budget_delta 2023 -1500 "" ""
assert_exit 0 agent a3 set population 1234567 --period 2023 --author "Nguyễn Văn A"
expect 22744 population 2023 1234567 "Nguyễn Văn A" ""
EDITS[a3]=2

# with the hub down: 75, and everything still pending
for a in a1 a2 a3; do
  assert_exit 75 agent "$a" sync
  assert_contains "$ERR" "nothing is lost" "sync of $a with the hub down says so"
  assert_eq "${EDITS[$a]}" "$(agent_status "$a" pending_records)" "$a pending records after a failed sync"
  assert_ne 0 "$(agent_status "$a" pending_batches)" "$a has sealed batches waiting"
  assert_ne null "$(agent_status "$a" last_error)" "$a status shows the last error"
done

hub_start
for a in a1 a2 a3; do
  assert_exit 0 agent "$a" sync
  assert_contains "$OUT" "in sync" "sync of $a"
  assert_eq "" "$ERR" "sync of $a writes nothing on stderr"
  assert_eq true "$(agent_status "$a" enrolled)" "$a enrolled on its first sync"
  assert_eq 0 "$(agent_status "$a" pending_records)" "$a pending records after sync"
  assert_eq 0 "$(agent_status "$a" pending_batches)" "$a pending batches after sync"
  assert_eq null "$(agent_status "$a" last_error)" "$a last error after sync"
  assert_eq "$(agent_status "$a" acknowledged_batches)" "$(hub_agent_field "$(agent_id "$a")" last_seq)" \
    "hub's last_seq for $a equals the batches it acknowledged"
done

# the hub holds every value exactly once, as typed, from the right agent
hub_values >"$T/values.json"
jq -r '.[] | [.unit, .element, .period, (.value | tojson), (.author // ""), (.comment // "")] | join("\t")' \
  "$T/values.json" | sort >"$T/actual.tsv"
sort -o "$T/expected.tsv" "$T/expected.tsv"
assert_eq "$(cat "$T/expected.tsv")" "$(cat "$T/actual.tsv")" "hub values (unit, element, period, value, author, comment)"
assert_eq "$(wc -l <"$T/expected.tsv")" "$(jq length "$T/values.json")" "number of values on the hub"
assert_eq 0 "$(jq '[group_by([.unit, .element, .period])[] | select(length > 1)] | length' "$T/values.json")" \
  "no key is held twice"
for a in a1 a2 a3; do
  id=$(agent_id "$a")
  assert_eq "[\"$id\"]" "$(jq -c --arg u "${UNIT[$a]}" '[.[] | select(.unit == $u) | .agent] | unique' "$T/values.json")" \
    "values of unit ${UNIT[$a]} come from $a"
  assert_eq '["synced"]' "$(agent "$a" values --json | jq -c '[.[].state] | unique')" "$a's values are all synced"
done

# a second sync changes nothing
hub agents --json | jq -c '[.[] | {id, last_seq}]' >"$T/agents.before"
for a in a1 a2 a3; do
  assert_exit 0 agent "$a" sync
  assert_not_contains "$OUT" "pushed" "second sync of $a pushes nothing"
done
assert_eq "$(cat "$T/values.json")" "$(hub_values)" "hub values after a second sync"
assert_eq "$(cat "$T/agents.before")" "$(hub agents --json | jq -c '[.[] | {id, last_seq}]')" \
  "agents' last_seq after a second sync"

hub_stop
done_ok
