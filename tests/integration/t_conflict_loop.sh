#!/usr/bin/env bash
# The whole reconciliation loop with three real agents: A and B for commune
# 22750 (Phường Thanh Sơn), D for its district 582 (Phan Rang-Tháp Chàm).
# Concurrent offline edits -> an open conflict (equal authority) and one
# decided by authority; the operator resolves; every office ends with the
# same value and is told what became of its own; a late edit based on the
# version before the resolution is superseded (MERGE.md rule 6); an edit
# based on the hub's version is a fast-forward.
source "$(dirname "$0")/lib.sh"

P=2023
U=22750
OP="Lê Thị Hoa"
NOTE="Theo biên bản"

hub_setup
hub_start
agent_new a $U
agent_new b $U
agent_new d 582
ida=$(agent_id a)
idb=$(agent_id b)
idd=$(agent_id d)

# [element, value, agent, state] of one key in an agent's store
agent_val() { # NAME ELEMENT
  agent "$1" values --json --period $P |
    jq -c --arg e "$2" --arg u $U '[.[] | select(.unit == $u and .element == $e) | [.value, .agent, .state]]'
}
# the outcome counts of the last sync's receipt(s), from its stdout
outcomes() {
  sed -n 's/.*records: \([0-9]*\) accepted, \([0-9]*\) duplicate, \([0-9]*\) superseded, \([0-9]*\) conflict, \([0-9]*\) rejected, \([0-9]*\) amendment).*/accepted=\1 duplicate=\2 superseded=\3 conflict=\4 rejected=\5 amendment=\6/p' <<<"$OUT"
}
hub_val() { # ELEMENT: [value, agent] on the hub
  hub values --json --unit $U --period $P | jq -c --arg e "$1" '[.[] | select(.element == $e) | [.value, .agent]]'
}

# ---- round 1: everyone offline (nobody has synced since enrolment) ----
assert_exit 0 agent a set so_cuoc_hop 3 --period $P --author "Nguyễn Văn A"
assert_exit 0 agent a set so_can_bo 10 --period $P
assert_exit 0 agent b set so_cuoc_hop 5 --period $P --author "Trần Thị B"
assert_exit 0 agent d set so_can_bo 12 --period $P --unit $U --author "Phòng Nội vụ"

assert_exit 0 agent a sync
assert_eq "accepted=2 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "A's sync: both figures are new to the hub"

assert_exit 0 agent b sync
assert_contains "$OUT" "1 conflict" "B's so_cuoc_hop was based on nothing while the hub held A's"
assert_eq "accepted=0 duplicate=0 superseded=0 conflict=1 rejected=0 amendment=0" "$(outcomes)" "B's receipt"
assert_eq '[[5,"'"$idb"'","conflict"]]' "$(agent_val b so_cuoc_hop)" "B keeps its figure, in state conflict"
agent b conflicts --json >"$T/b.conflicts"
assert_eq '[["so_cuoc_hop",5,"conflict"]]' "$(jq -c '[.open[] | [.element, .value, .state]]' "$T/b.conflicts")" \
  "B's open items: its so_cuoc_hop"
assert_eq '["conflict"]' "$(jq -c '[.decisions[] | select(.element == "so_cuoc_hop") | .decision]' "$T/b.conflicts")" \
  "B's receipt outcome is logged"

hub conflicts --json >"$T/open.json"
assert_eq 1 "$(jq length "$T/open.json")" "one open conflict"
cid=$(jq -r '.[0].id' "$T/open.json")
assert_eq "[\"$U\",\"so_cuoc_hop\",\"$P\",\"open\",3,\"$ida\",\"Nguyễn Văn A\",5,\"$idb\",\"Trần Thị B\"]" \
  "$(jq -c '.[0] | [.unit, .element, .period, .status, .current.value, .current.agent, .current.author,
                   .incoming.value, .incoming.agent, .incoming.author]' "$T/open.json")" \
  "the conflict: current is A's 3, incoming is B's 5, with their authors"
assert_eq '[1,1]' "$(jq -c '[.[0].current.batch, .[0].incoming.batch]' "$T/open.json")" \
  "both sides name their batch"

# the deterministic winner (MERGE.md): both clocks are sane, so the later
# HLC wins, then the greater origin
expected_winner=$(jq -r '.[0] | def k: (.version | split("Z+")) as $p | [$p[0], ($p[1] | tonumber), .agent];
  if (.current | k) > (.incoming | k) then .current.agent else .incoming.agent end' "$T/open.json")
hub conflict show "$cid" --json >"$T/show.json"
scoring=$(jq -r '.used_for_scoring.agent' "$T/show.json")
assert_eq "$expected_winner" "$scoring" "conflict show: the version used for scoring is the rule's winner"
winner_val=$(hub_val so_cuoc_hop)
if [[ $scoring == "$ida" ]]; then
  assert_eq "[[3,\"$ida\"]]" "$winner_val" "hub values holds the winner (A)"
  loser=$idb
else
  assert_eq "[[5,\"$idb\"]]" "$winner_val" "hub values holds the winner (B)"
  loser=$ida
fi
assert_eq "$(hub values --json --unit $U | jq -r '.[] | select(.element == "so_cuoc_hop") | .version')" \
  "$(jq -r '.used_for_scoring.version' "$T/show.json")" "values and conflict show name the same version"
assert_eq null "$(jq -c '.base' "$T/show.json")" "the base: nothing (neither had seen a value)"
assert_eq 2 "$(jq '.history | length' "$T/show.json")" "conflict show lists both versions in the key's history"

assert_exit 0 agent d sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "D's so_can_bo wins by authority: accepted"
assert_eq "[[12,\"$idd\"]]" "$(hub_val so_can_bo)" "the hub holds the district's so_can_bo"
hub conflicts --status resolved --json >"$T/resolved.json"
assert_eq "[[\"so_can_bo\",\"resolved\",\"authority\",10,\"$ida\",12,\"$idd\",\"$idd\"]]" \
  "$(jq -c '[.[] | [.element, .status, .resolution, .current.value, .current.agent, .incoming.value,
                    .incoming.agent, .used_for_scoring.agent]]' "$T/resolved.json")" \
  "so_can_bo: a conflict resolved by authority, A's 10 outranked by D's 12"
assert_eq 1 "$(hub conflicts --json | jq length)" "still one open conflict (authority left none)"
assert_contains "$(agent d values --json | jq -c '[.[] | [.element, .value, .agent]]')" \
  "[\"so_cuoc_hop\",$(jq -c '.[0][0]' <<<"$winner_val"),\"$scoring\"]" "D pulled the commune's so_cuoc_hop (the winner)"

# round 2: D first, then A's concurrent edit (based on nothing) is superseded
assert_exit 0 agent d set so_ho_so 40 --period $P --unit $U
assert_exit 0 agent d sync
assert_exit 0 agent a set so_ho_so 30 --period $P
assert_exit 0 agent a sync
assert_eq "accepted=0 duplicate=0 superseded=1 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "A's so_ho_so, concurrent with the district's, is superseded"
assert_eq "[[40,\"$idd\"]]" "$(hub_val so_ho_so)" "the hub keeps the district's so_ho_so"
assert_eq "[[40,\"$idd\",\"synced\"]]" "$(agent_val a so_ho_so)" "A pulled the district's so_ho_so"
assert_eq "[[12,\"$idd\",\"synced\"]]" "$(agent_val a so_can_bo)" "A pulled the district's so_can_bo"
# A's receipts said "accepted" for so_can_bo and so_cuoc_hop; both were displaced later by
# concurrent edits, and A is told so - no figure disappears without a person seeing it
agent a conflicts --json >"$T/a.early"
assert_eq "[[\"overruled\",\"$idd\"]]" \
  "$(jq -c '[.decisions[] | select(.element == "so_can_bo") | [.decision, .by]]' "$T/a.early")" \
  "A is told the district's so_can_bo overruled its accepted figure"
assert_contains "$(jq -r '.decisions[] | select(.element == "so_can_bo") | .comment' "$T/a.early")" \
  "higher authority" "and why"
assert_eq "[[\"conflict\",\"$idb\"]]" \
  "$(jq -c '[.decisions[] | select(.element == "so_cuoc_hop") | [.decision, .by]]' "$T/a.early")" \
  "A is told B's concurrent so_cuoc_hop is in use until the operator decides"
assert_eq "[\"so_ho_so\",\"outranked\"]" \
  "$(hub history --unit $U --element so_ho_so --period $P --json | jq -c --arg a "$ida" '.[] | select(.agent == $a) | [("so_ho_so"), .fate]')" \
  "A's so_ho_so is kept in history as outranked"

# ---- the operator resolves the open conflict with a value of their own ----
assert_refused hub resolve "$cid" --value 7 --keep current
assert_exit 64 hub resolve "$cid" --comment "no decision"
assert_exit 0 hub resolve "$cid" --value 7 --comment "$NOTE" --by "$OP"
assert_eq "[[7,\"hub\"]]" "$(hub_val so_cuoc_hop)" "the resolution is the hub's value"
assert_eq "[\"$OP\",\"$NOTE\"]" \
  "$(hub values --json --unit $U | jq -c '.[] | select(.element == "so_cuoc_hop") | [.author, .comment]')" \
  "the hub version carries the operator and the comment"
hub conflict show "$cid" --json >"$T/show2.json"
assert_eq "[\"resolved\",\"value\",\"$OP\",\"$NOTE\"]" \
  "$(jq -c '[.status, .resolution, .resolved_by, .comment]' "$T/show2.json")" "conflict show after the resolution"
assert_eq '[]' "$(hub conflicts --status open --json | jq -c .)" "no open conflict left"
assert_refused hub resolve "$cid" --keep incoming
assert_contains "$ERR" "already resolved" "resolving twice says why"

# B records a late edit before it has pulled the resolution: its base is its
# own old version, not the hub's 7. MERGE.md: concurrent with a hub version
# (authority 4) -> rule 6, superseded, conflict resolved by authority.
assert_exit 0 agent b set so_cuoc_hop 9 --period $P
for n in a b d; do
  assert_exit 0 agent "$n" sync
  if [[ $n == b ]]; then
    assert_eq "accepted=0 duplicate=0 superseded=1 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
      "B's late edit based on the old version is superseded"
  fi
  assert_eq "[[7,\"hub\",\"synced\"]]" "$(agent_val "$n" so_cuoc_hop)" "agent $n holds so_cuoc_hop = 7 from the hub"
done
assert_eq "[[7,\"hub\"]]" "$(hub_val so_cuoc_hop)" "the late edit did not change the hub's value"
assert_eq '[]' "$(hub conflicts --status open --json | jq -c .)" "the late edit opened no conflict"
assert_eq "[[\"resolved\",\"authority\",7,\"hub\",9,\"$idb\",\"hub\"]]" \
  "$(hub conflicts --status all --json | jq -c '[.[] | select(.element == "so_cuoc_hop" and .id != '"$cid"') |
      [.status, .resolution, .current.value, .current.agent, .incoming.value, .incoming.agent, .used_for_scoring.agent]]')" \
  "the late edit is recorded as a conflict resolved by authority"

# both offices are told their figure was overruled, with the comment and who
for n in a b; do
  agent "$n" conflicts --json >"$T/$n.conflicts"
  assert_eq "[[\"overruled\",\"$NOTE\",\"$OP\"]]" \
    "$(jq -c '[.decisions[] | select(.element == "so_cuoc_hop" and .decision == "overruled") | [.decision, .comment, .by]]' "$T/$n.conflicts")" \
    "agent $n: its so_cuoc_hop overruled by $OP, with the comment"
  assert_eq '[]' "$(jq -c '[.open[] | select(.element == "so_cuoc_hop")]' "$T/$n.conflicts")" \
    "agent $n: nothing open on so_cuoc_hop once it holds the hub's value"
done
assert_eq '["conflict","overruled","superseded"]' \
  "$(jq -c '[.decisions[] | select(.element == "so_cuoc_hop") | .decision] | sort' "$T/b.conflicts")" \
  "B's decisions on so_cuoc_hop: its conflict, the operator's overruling, the late edit superseded"
assert_eq '[]' "$(agent d conflicts --json | jq -c '.decisions')" "D's edits were all accepted: no decisions"

# history: every version with its fate
hub history --unit $U --element so_cuoc_hop --period $P --json >"$T/history.json"
assert_eq 4 "$(jq length "$T/history.json")" "four versions of so_cuoc_hop: A's, B's, the hub's, B's late one"
if [[ $scoring == "$ida" ]]; then w=$ida; else w=$idb; fi
expected_fates=$(jq -nc --arg w "$w" --arg l "$loser" --arg b "$idb" \
  '[[$w, "resolved"], [$l, "conflict"], ["hub", "current"], [$b, "outranked"]] | sort')
assert_eq "$expected_fates" \
  "$(jq -c '[.[] | [.agent, .fate]] | sort' "$T/history.json")" \
  "history fates: the winner resolved, the loser conflict, the hub current, the late edit outranked"
assert_eq "[[3,\"$ida\"],[5,\"$idb\"],[7,\"hub\"],[9,\"$idb\"]]" \
  "$(jq -c '[.[] | [.value, .agent]] | sort_by(.[0])' "$T/history.json")" "history keeps every value"
assert_eq "[\"$OP\",\"$NOTE\",null]" \
  "$(jq -c '.[] | select(.agent == "hub") | [.author, .comment, .batch]' "$T/history.json")" \
  "the hub's version in history: operator, comment, no batch"

# ---- an edit based on the hub's version is a fast-forward ----
nconf=$(hub conflicts --status all --json | jq length)
assert_exit 0 agent a set so_cuoc_hop 8 --period $P --comment "Bổ sung"
assert_exit 0 agent a sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "A's edit based on the hub's 7 is a fast-forward: accepted"
assert_eq "[[8,\"$ida\"]]" "$(hub_val so_cuoc_hop)" "the hub holds A's 8"
assert_eq "$nconf" "$(hub conflicts --status all --json | jq length)" "the fast-forward recorded no conflict"
assert_eq "[[\"hub\",\"replaced\"]]" \
  "$(hub history --unit $U --element so_cuoc_hop --period $P --json | jq -c '[.[] | select(.agent == "hub") | [.agent, .fate]]')" \
  "the hub's version is replaced by the fast-forward"
for n in b d; do
  assert_exit 0 agent "$n" sync
  assert_eq "[[8,\"$ida\",\"synced\"]]" "$(agent_val "$n" so_cuoc_hop)" "agent $n pulled A's 8"
done
assert_eq 0 "$(agent_status b conflicts)" "B holds no value in conflict"

hub_stop
done_ok
