#!/usr/bin/env bash
# Period locks: a figure for a locked (or approved) period is kept as an
# amendment pending acceptance; the operator accepts (it becomes the value)
# or rejects it with a reason the office reads; unlocked periods and other
# levels are not affected; every decision records who and when.
source "$(dirname "$0")/lib.sh"

U=22750
OP="Lê Thị Hoa"

hub_setup
hub_start
agent_new a $U
agent_new d 582
ida=$(agent_id a)
idd=$(agent_id d)

outcomes() {
  sed -n 's/.*records: \([0-9]*\) accepted, \([0-9]*\) duplicate, \([0-9]*\) superseded, \([0-9]*\) conflict, \([0-9]*\) rejected, \([0-9]*\) amendment).*/accepted=\1 duplicate=\2 superseded=\3 conflict=\4 rejected=\5 amendment=\6/p' <<<"$OUT"
}
hub_val() { # UNIT ELEMENT PERIOD: [value, agent]
  hub values --json --unit "$1" --period "$3" | jq -c --arg e "$2" '[.[] | select(.element == $e) | [.value, .agent]]'
}
agent_val() { # NAME UNIT ELEMENT PERIOD: [value, agent, state]
  agent "$1" values --json --period "$4" |
    jq -c --arg u "$2" --arg e "$3" '[.[] | select(.unit == $u and .element == $e) | [.value, .agent, .state]]'
}
ISO='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}'

# before the lock
assert_exit 0 agent a set so_bao_cao 1 --period 2023
assert_exit 0 agent a set so_y 10 --period 2023
assert_exit 0 agent a sync
assert_eq "accepted=2 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" "A's figures before the lock"
assert_exit 0 agent d sync

# ---- lock 2023 for the commune level ----
assert_eq '[]' "$(hub locks --json | jq -c .)" "no locks yet"
assert_exit 0 hub lock --period 2023 --level commune --by "$OP"
hub locks --json >"$T/locks.json"
assert_eq "[[\"2023\",\"level commune\",\"locked\",\"$OP\"]]" \
  "$(jq -c '[.[] | [.period, .scope, .state, .by]]' "$T/locks.json")" "locks: 2023 locked for the commune level, by whom"
[[ $(jq -r '.[0].since' "$T/locks.json") =~ $ISO ]] || fail "locks: 'since' is a time, got $(jq -c '.[0].since' "$T/locks.json")"
assert_refused hub lock --period 2023 --level commune
assert_contains "$ERR" "already locked" "locking twice says so"
assert_exit 64 hub lock --period 2023 --level commune --unit $U
assert_refused hub lock --period 2023 --level hamlet

# a new figure for 2023 from the commune: an amendment, the value unchanged
assert_exit 0 agent a set so_bao_cao 2 --period 2023 --comment "Bổ sung số liệu"
assert_exit 0 agent a sync
assert_contains "$OUT" "1 amendment" "A's 2023 figure becomes an amendment"
assert_eq "accepted=0 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=1" "$(outcomes)" "A's receipt"
assert_eq "[[1,\"$ida\"]]" "$(hub_val $U so_bao_cao 2023)" "the hub's so_bao_cao is unchanged"
hub amendments --json >"$T/amend.json"
assert_eq "[[\"$U\",\"so_bao_cao\",\"2023\",2,\"$ida\",\"pending\",\"Bổ sung số liệu\",2]]" \
  "$(jq -c '[.[] | [.unit, .element, .period, .value, .agent, .status, .comment, .batch]]' "$T/amend.json")" \
  "amendments: A's 2 pending, from batch 2, with its comment"
m1=$(jq -r '.[0].id' "$T/amend.json")
assert_eq "[[2,\"$ida\",\"amendment\"]]" "$(agent_val a $U so_bao_cao 2023)" "A holds its figure as an amendment"
assert_eq '[["so_bao_cao","amendment"]]' "$(agent a conflicts --json | jq -c '[.open[] | [.element, .state]]')" \
  "A's open items: the amendment"

# the district: its own unit is not locked (level district); the commune's is
assert_exit 0 agent d set so_cap_huyen 5 --period 2023
assert_exit 0 agent d set so_y 11 --period 2023 --unit $U
assert_exit 0 agent d sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=1" "$(outcomes)" \
  "D: its district figure accepted, its figure for the commune an amendment"
assert_eq "[[5,\"$idd\"]]" "$(hub_val 582 so_cap_huyen 2023)" "the district's figure is the value"
assert_eq "[[10,\"$ida\"]]" "$(hub_val $U so_y 2023)" "the commune's so_y is unchanged"
m2=$(hub amendments --json | jq -r --arg d "$idd" '.[] | select(.agent == $d) | .id')
assert_eq 2 "$(hub amendments --json | jq length)" "two amendments pending"

# ---- accept: the amendment becomes the value ----
assert_exit 0 hub accept "$m1" --by "$OP"
assert_eq "[[2,\"hub\"]]" "$(hub_val $U so_bao_cao 2023)" "the accepted amendment is the value (a hub version)"
assert_eq "[[\"accepted\",\"$OP\"]]" \
  "$(hub amendments --status accepted --json | jq -c '[.[] | [.status, .decided_by]]')" "amendments: accepted, by whom"
[[ $(hub amendments --status accepted --json | jq -r '.[0].decided') =~ $ISO ]] || fail "the acceptance records when"
assert_refused hub accept "$m1"
assert_contains "$ERR" "already accepted" "accepting twice says why"
assert_exit 0 agent a sync
assert_eq "[[2,\"hub\",\"synced\"]]" "$(agent_val a $U so_bao_cao 2023)" "A holds the accepted value"
assert_eq "[[\"accepted\",\"$OP\"]]" \
  "$(agent a conflicts --json | jq -c '[.decisions[] | select(.element == "so_bao_cao" and .decision == "accepted") | [.decision, .by]]')" \
  "A is told its amendment was accepted, by whom"
assert_eq '[]' "$(agent a conflicts --json | jq -c '.open')" "nothing open at A"
assert_exit 0 hub accept "$m2" --comment "Đúng theo báo cáo huyện" --by "$OP"
assert_exit 0 agent d sync
assert_eq '[["accepted","Đúng theo báo cáo huyện"]]' \
  "$(agent d conflicts --json | jq -c '[.decisions[] | select(.decision == "accepted") | [.decision, .comment]]')" \
  "D is told its amendment was accepted, with the comment"
assert_exit 0 agent a sync
assert_eq "[[11,\"hub\",\"synced\"]]" "$(agent_val a $U so_y 2023)" "A pulled the district's accepted so_y"

# ---- reject: the office reads why ----
assert_exit 0 agent a set so_bao_cao 3 --period 2023
assert_exit 0 agent a sync
assert_eq "accepted=0 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=1" "$(outcomes)" "another amendment"
m3=$(hub amendments --json | jq -r '.[0].id')
assert_exit 64 hub reject "$m3"
assert_contains "$ERR" "usage" "reject without --comment is a usage error"
assert_eq '["pending"]' "$(hub amendments --status all --json | jq -c --argjson id "$m3" '[.[] | select(.id == $id) | .status]')" \
  "a refused rejection leaves the amendment pending"
assert_exit 0 hub reject "$m3" --comment "Hết hạn nộp" --by "$OP"
assert_eq "[[\"rejected\",\"$OP\",\"Hết hạn nộp\"]]" \
  "$(hub amendments --status rejected --json | jq -c '[.[] | [.status, .decided_by, .decision]]')" "amendments: rejected, by whom, why"
assert_eq "[[2,\"hub\"]]" "$(hub_val $U so_bao_cao 2023)" "a rejection leaves the value alone"
assert_refused hub accept "$m3"
assert_contains "$ERR" "already rejected" "accepting a rejected amendment says why"
assert_refused hub reject "$m1" --comment "quá muộn"
assert_contains "$ERR" "already accepted" "rejecting an accepted amendment says why"
assert_refused hub accept 9999
assert_contains "$ERR" "no amendment 9999" "accepting an unknown amendment says so"
assert_exit 0 agent a sync
agent a conflicts --json >"$T/a.conflicts"
assert_eq '[["so_bao_cao",3,"rejected","Hết hạn nộp"]]' \
  "$(jq -c '[.open[] | [.element, .value, .state, .note]]' "$T/a.conflicts")" "A's open items: its 3, rejected, with the reason"
assert_eq "[[\"rejected\",\"Hết hạn nộp\",\"$OP\"]]" \
  "$(jq -c '[.decisions[] | select(.decision == "rejected") | [.decision, .comment, .by]]' "$T/a.conflicts")" \
  "A's decisions: rejected, why, by whom"
assert_eq 1 "$(agent_status a rejected)" "A's status counts the rejected figure"
hub history --unit $U --element so_bao_cao --period 2023 --json >"$T/history.json"
assert_eq "[[1,\"$ida\",\"amended\"],[2,\"$ida\",\"amendment accepted\"],[2,\"hub\",\"current\"],[3,\"$ida\",\"amendment rejected\"]]" \
  "$(jq -c '[.[] | [.value, .agent, .fate]] | sort' "$T/history.json")" "history: every version of so_bao_cao with its fate"

# ---- an unlocked period is accepted normally ----
assert_exit 0 agent a set so_bao_cao 4 --period 2024
assert_exit 0 agent a sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" "2024 is not locked"
assert_eq "[[4,\"$ida\"]]" "$(hub_val $U so_bao_cao 2024)" "the 2024 figure is the value"

# ---- unlock: 2023 figures are accepted again ----
assert_exit 0 hub unlock --period 2023 --level commune --by "$OP"
assert_eq '[]' "$(hub locks --json | jq -c .)" "no active locks after unlock"
assert_refused hub unlock --period 2023 --level commune
assert_contains "$ERR" "not locked" "unlocking twice says so"
assert_exit 0 agent a set so_moi 6 --period 2023
assert_exit 0 agent a set so_y 12 --period 2023
assert_exit 0 agent a sync
assert_eq "accepted=2 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" "after unlock, 2023 figures are accepted"
assert_eq "[[6,\"$ida\"]]" "$(hub_val $U so_moi 2023)" "so_moi is the value"
assert_eq "[[12,\"$ida\"]]" "$(hub_val $U so_y 2023)" "so_y, based on the pulled accepted amendment, is a fast-forward"

# ---- approve: locks the period for the unit ----
assert_exit 0 hub approve --period 2023 --unit $U --by "Phạm Văn C"
hub locks --json >"$T/locks.json"
assert_eq "[[\"2023\",\"unit $U\",\"approved\",\"Phạm Văn C\"]]" \
  "$(jq -c '[.[] | [.period, .scope, .state, .by]]' "$T/locks.json")" "locks: 2023 approved for the unit, by whom"
[[ $(jq -r '.[0].since' "$T/locks.json") =~ $ISO ]] || fail "locks: 'since' of the approval is a time"
assert_exit 0 agent a set so_moi 7 --period 2023
assert_exit 0 agent a sync
assert_eq "accepted=0 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=1" "$(outcomes)" "an approved period takes amendments"
assert_eq "[[6,\"$ida\"]]" "$(hub_val $U so_moi 2023)" "the approved value is unchanged"
assert_exit 0 agent d set so_cap_huyen 8 --period 2023
assert_exit 0 agent d sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "the approval of unit $U does not lock its district"

# the audit trail of the decisions: who did what
actions=$(sqlite3 "$HUB_DIR/hub.db" "SELECT actor || ':' || action FROM audit ORDER BY id" | tr '\n' ' ')
assert_eq "$OP:lock $OP:accept $OP:accept $OP:reject $OP:unlock Phạm Văn C:approve " "$actions" \
  "every decision is in the audit log with who made it"

# ---- after a rejection, the office's next figure (once the period is open) ----
# A last pulled the hub's so_bao_cao (the accepted 2); its 3 was rejected and
# never became a value. A new figure made after that is based on what the hub
# holds: once the period is open it is a fast-forward, not a conflict with the
# office's own rejected figure.
assert_exit 0 hub unlock --period 2023 --unit $U
assert_exit 0 agent a set so_bao_cao 5 --period 2023
assert_exit 0 agent a sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "A's new 2023 so_bao_cao after its rejected amendment, period unlocked, is accepted"
assert_eq "[[5,\"$ida\"]]" "$(hub_val $U so_bao_cao 2023)" "the hub holds A's 5"

hub_stop
done_ok
