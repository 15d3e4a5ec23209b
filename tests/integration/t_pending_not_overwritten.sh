#!/usr/bin/env bash
# A pull never overwrites a local edit that the hub has not acknowledged: it
# is flagged (the hub's value kept beside it) and the edit goes up on the next
# sync with its own base, becoming a new conflict.
#
# A sync pushes before it pulls, so an edit recorded before `sync` is already
# acknowledged when the pull comes. To have a pending edit at pull time the
# test freezes the hub (SIGSTOP) while A's sync is connecting for its pull
# (A has nothing to push), records A's edit, then lets the hub go (SIGCONT).
source "$(dirname "$0")/lib.sh"

P=2023
U=22750

hub_setup
hub_start
agent_new a $U
agent_new b $U
ida=$(agent_id a)
idb=$(agent_id b)

outcomes() {
  sed -n 's/.*records: \([0-9]*\) accepted, \([0-9]*\) duplicate, \([0-9]*\) superseded, \([0-9]*\) conflict, \([0-9]*\) rejected, \([0-9]*\) amendment).*/accepted=\1 duplicate=\2 superseded=\3 conflict=\4 rejected=\5 amendment=\6/p' <<<"$OUT"
}
agent_val() { # NAME ELEMENT: [value, agent, state]
  agent "$1" values --json --period $P |
    jq -c --arg e "$2" --arg u $U '[.[] | select(.unit == $u and .element == $e) | [.value, .agent, .state]]'
}
hub_val() { # ELEMENT: [value, agent]
  hub values --json --unit $U --period $P | jq -c --arg e "$1" '[.[] | select(.element == $e) | [.value, .agent]]'
}
# The established TCP connections to the hub's port (client side), from /proc.
hub_connections() {
  awk -v port="$(printf '%04X' "$PORT")" \
    'NR > 1 && $4 == "01" && substr($3, index($3, ":") + 1) == port { n++ } END { print n + 0 }' \
    /proc/net/tcp
}

# pull_with_edit NAME ELEMENT VALUE: NAME syncs while the hub is frozen; once
# its pull request is on the wire, the officer records ELEMENT=VALUE; then
# the hub answers. Leaves the sync's exit status, stdout, stderr in RC/OUT/ERR.
pull_with_edit() {
  local name=$1 i
  assert_eq 0 "$(agent_status "$name" pending_records)" "$name has nothing to push before the frozen pull"
  assert_eq 0 "$(hub_connections)" "no connection to the hub before $name's sync"
  kill -STOP "$HUB_PID"
  agent_bg "$name" "$T/pull.out" "$T/pull.err" sync
  local pid=$BG_PID
  for ((i = 0; i < 100; i++)); do # the kernel accepts the connection for the frozen hub
    [[ $(hub_connections) -ge 1 ]] && break
    sleep 0.05
  done
  if [[ $(hub_connections) -lt 1 ]]; then
    kill -CONT "$HUB_PID"
    fail "$name's sync did not connect to the hub within 5 s"
  fi
  run agent "$name" set "$2" "$3" --period $P
  local set_rc=$RC
  kill -CONT "$HUB_PID"
  assert_eq 0 "$set_rc" "$name records $2=$3 while its pull is in flight (stderr: $ERR)"
  wait_rc "$pid"
  OUT=$(cat "$T/pull.out")
  ERR=$(cat "$T/pull.err")
}

# ---- B's change reaches the hub; A records an edit while pulling it ----
assert_exit 0 agent b set so_cuoc_hop 5 --period $P --author "Trần Thị B"
assert_exit 0 agent b sync
assert_eq '[]' "$(agent_val a so_cuoc_hop)" "A knows nothing of so_cuoc_hop yet"
# A's first pull of so_cuoc_hop is frozen; B's edit is already on the hub
pull_with_edit a so_cuoc_hop 3
assert_eq 0 "$RC" "A's sync (stderr: $ERR)"
assert_contains "$OUT" "pulled 0 values (1 flagged)" "the pulled so_cuoc_hop is flagged, not applied"
assert_eq "[[3,\"$ida\",\"pending\"]]" "$(agent_val a so_cuoc_hop)" "A's pending 3 is not overwritten by B's 5"
agent a conflicts --json >"$T/a.conflicts"
assert_eq "[[\"so_cuoc_hop\",3,\"pending\",true,5,\"$idb\",\"the hub holds another value\"]]" \
  "$(jq -c '[.open[] | [.element, .value, .state, .flagged, .hub_value, .hub_agent, .note]]' "$T/a.conflicts")" \
  "A's open items: so_cuoc_hop flagged with the hub's 5 from B"
assert_eq 1 "$(agent_status a conflicts)" "A's status counts the flagged value"
assert_eq 1 "$(agent_status a pending_records)" "A's edit is still to be pushed"
assert_eq "[[5,\"$idb\"]]" "$(hub_val so_cuoc_hop)" "the hub still holds B's 5"

# A's next sync: the edit goes up with its base (nothing) -> a new conflict
assert_exit 0 agent a sync
assert_eq "accepted=0 duplicate=0 superseded=0 conflict=1 rejected=0 amendment=0" "$(outcomes)" \
  "A's flagged edit goes up and becomes a conflict"
assert_eq 0 "$(agent_status a pending_records)" "A's edit is acknowledged"
assert_eq "[[3,\"$ida\",\"conflict\"]]" "$(agent_val a so_cuoc_hop)" "A still holds its 3 after the sync, in conflict"
assert_eq '[["so_cuoc_hop",3,"conflict"]]' \
  "$(agent a conflicts --json | jq -c '[.open[] | [.element, .value, .state]]')" "A's open items: so_cuoc_hop in conflict"
hub conflicts --json >"$T/open.json"
assert_eq "[[\"so_cuoc_hop\",\"open\",5,\"$idb\",3,\"$ida\"]]" \
  "$(jq -c '[.[] | [.element, .status, .current.value, .current.agent, .incoming.value, .incoming.agent]]' "$T/open.json")" \
  "the hub: an open conflict, current B's 5, incoming A's 3"
cid=$(jq -r '.[0].id' "$T/open.json")
assert_eq null "$(hub conflict show "$cid" --json | jq -c .base)" "A's edit was based on nothing"
assert_eq '["conflict"]' "$(agent a conflicts --json | jq -c '[.decisions[] | select(.element == "so_cuoc_hop") | .decision]')" \
  "A's decisions: the conflict outcome"

# ---- the operator resolves while A has another unacknowledged edit ----
assert_exit 0 hub resolve "$cid" --keep current --comment "Giữ số của B" --by "Lê Thị Hoa"
assert_eq "[[5,\"hub\"]]" "$(hub_val so_cuoc_hop)" "the resolution is a hub version of B's 5"
pull_with_edit a so_cuoc_hop 4
assert_eq 0 "$RC" "A's sync (stderr: $ERR)"
assert_contains "$OUT" "pulled 0 values (1 flagged)" "the resolution is flagged against A's pending 4"
assert_eq "[[4,\"$ida\",\"pending\"]]" "$(agent_val a so_cuoc_hop)" "A's pending 4 is not overwritten by the resolution"
agent a conflicts --json >"$T/a.conflicts"
assert_eq '[[true,5,"hub"]]' \
  "$(jq -c '[.open[] | select(.element == "so_cuoc_hop") | [.flagged, .hub_value, .hub_agent]]' "$T/a.conflicts")" \
  "A's so_cuoc_hop is flagged with the hub's 5"
assert_eq '[["overruled","Giữ số của B","Lê Thị Hoa"]]' \
  "$(jq -c '[.decisions[] | select(.decision == "overruled") | [.decision, .comment, .by]]' "$T/a.conflicts")" \
  "A is told its 3 was overruled, why and by whom"
# the edit goes up based on A's own 3, which the hub's resolution did not
# see: concurrent with a hub version (authority 4) -> superseded (rule 6)
assert_exit 0 agent a sync
assert_eq "accepted=0 duplicate=0 superseded=1 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "A's edit made without seeing the resolution is superseded"
assert_eq "[[5,\"hub\"]]" "$(hub_val so_cuoc_hop)" "the hub keeps the operator's value"
assert_eq '[]' "$(hub conflicts --json | jq -c .)" "no conflict is open"
assert_eq "[[\"so_cuoc_hop\",\"authority\",4,\"$ida\"]]" \
  "$(hub conflicts --status resolved --json | jq -c '[.[] | select(.resolution == "authority") | [.element, .resolution, .incoming.value, .incoming.agent]]')" \
  "A's 4 is recorded in a conflict resolved by authority"
assert_eq "[4,\"outranked\"]" \
  "$(hub history --unit $U --element so_cuoc_hop --period $P --json | jq -c --arg a "$ida" '.[] | select(.agent == $a and .value == 4) | [.value, .fate]')" \
  "A's 4 is kept in the key's history"

# ---- B: an edit recorded while the pull is in flight on a key the hub did not change is not flagged ----
pull_with_edit b so_can_bo 11
assert_eq 0 "$RC" "B's sync (stderr: $ERR)"
assert_contains "$OUT" "pulled 1 values (0 flagged)" "nothing to flag: only so_cuoc_hop changed, B edited so_can_bo"
assert_eq "[[5,\"hub\",\"synced\"]]" "$(agent_val b so_cuoc_hop)" "B pulled the operator's 5 (no pending edit on it)"
assert_eq "[[11,\"$idb\",\"pending\"]]" "$(agent_val b so_can_bo)" "B's so_can_bo is pending"
assert_exit 0 agent b sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" "B's so_can_bo is accepted"

# ---- the ordinary path: an edit recorded before `sync` is pushed first ----
# B's so_ho_so reached the hub; A, which never pulled it, records its own and
# syncs: the push makes it a conflict; A's clock has seen the hub's (which saw
# B's edit), so A's version is the later one and stays current; the pull
# brings nothing that replaces it, and A's figure stays open in its list.
assert_exit 0 agent b set so_ho_so 1 --period $P
assert_exit 0 agent b sync
assert_exit 0 agent a set so_ho_so 2 --period $P
assert_exit 0 agent a sync
assert_eq "accepted=0 duplicate=0 superseded=0 conflict=1 rejected=0 amendment=0" "$(outcomes)" "A's so_ho_so is a conflict"
assert_contains "$OUT" "pulled 1 values (0 flagged)" "A pulls B's so_can_bo only"
assert_eq "[[2,\"$ida\"]]" "$(hub_val so_ho_so)" "the later version (A's) is used for scoring"
assert_eq "[[2,\"$ida\",\"conflict\"]]" "$(agent_val a so_ho_so)" "A holds its 2, in conflict"
assert_eq '[["so_ho_so",2,"conflict"]]' \
  "$(agent a conflicts --json | jq -c '[.open[] | select(.element == "so_ho_so") | [.element, .value, .state]]')" \
  "A's open items include so_ho_so"
assert_eq "[[\"so_ho_so\",\"open\",1,\"$idb\",2,\"$ida\",\"$ida\"]]" \
  "$(hub conflicts --json | jq -c '[.[] | [.element, .status, .current.value, .current.agent, .incoming.value, .incoming.agent, .used_for_scoring.agent]]')" \
  "the hub's open conflict on so_ho_so"

hub_stop
done_ok
