#!/usr/bin/env bash
# An office whose clock is 10 days ahead (libfaketime) cannot win a conflict
# with a concurrent edit from an office with a sane clock, whichever arrives
# first; the conflict stays open for the operator, the hub flags the agent's
# clock, and the hub's own clock does not jump ahead with it.
source "$(dirname "$0")/lib.sh"

# libfaketime is an LD_PRELOAD library; AddressSanitizer insists on coming first
if ldd "$DTI_AGENT_BIN" 2>/dev/null | grep -q libasan; then
  echo "$TEST_NAME: SKIPPED: faketime cannot preload into a sanitizer build"
  exit 0
fi
if ! command -v faketime >/dev/null; then
  echo "$TEST_NAME: SKIPPED: faketime is not installed (scripts/install-deps.sh installs it)"
  exit 0
fi

P=2023
U=22750
FUTURE=+10d

hub_setup
hub_start
agent_new a $U # A's clock is 10 days ahead
agent_new b $U
ida=$(agent_id a)
idb=$(agent_id b)

outcomes() {
  sed -n 's/.*records: \([0-9]*\) accepted, \([0-9]*\) duplicate, \([0-9]*\) superseded, \([0-9]*\) conflict, \([0-9]*\) rejected, \([0-9]*\) amendment).*/accepted=\1 duplicate=\2 superseded=\3 conflict=\4 rejected=\5 amendment=\6/p' <<<"$OUT"
}
hub_val() { # ELEMENT: [value, agent]
  hub values --json --unit $U --period $P | jq -c --arg e "$1" '[.[] | select(.element == $e) | [.value, .agent]]'
}
# seconds since the epoch of an HLC as printed ("2024-05-01T10:00:00.123Z+0")
version_s() {
  date -u -d "${1%%.*}" +%s
}
future_a() { # ARGS...: dti-agent on A with A's clock
  faketime -f "$FUTURE" "$DTI_AGENT_BIN" --dir "$T/a" "$@"
}

# faketime works here: A's edit carries a version 10 days ahead
now=$(date -u +%s)
assert_exit 0 future_a set so_cuoc_hop 3 --period $P --author "Máy tính sai giờ"
a_ver=$(agent a values --json | jq -r '.[] | select(.element == "so_cuoc_hop") | .version')
ahead=$(($(version_s "$a_ver") - now))
((ahead > 9 * 86400 && ahead < 11 * 86400)) || fail "A's version $a_ver is not ~10 days ahead (${ahead}s)"
_pass

# ---- A (future) arrives first, B's concurrent edit second: B must win ----
assert_exit 0 agent b set so_cuoc_hop 5 --period $P
assert_exit 0 future_a sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" "A's figure is new to the hub"
assert_eq true "$(hub_agent_field "$ida" clock_off)" "the hub flags A's clock"
skew=$(hub_agent_field "$ida" clock_skew_ms)
((skew > 9 * 86400000)) || fail "A's clock skew is ~10 days, got ${skew} ms"
_pass
assert_exit 0 agent b sync
assert_eq "accepted=0 duplicate=0 superseded=0 conflict=1 rejected=0 amendment=0" "$(outcomes)" "B's concurrent edit is a conflict"
assert_eq false "$(hub_agent_field "$idb" clock_off)" "B's clock is not flagged"
assert_eq "[[5,\"$idb\"]]" "$(hub_val so_cuoc_hop)" "B's value is current: a future-dated clock cannot win"
hub conflicts --json >"$T/open.json"
assert_eq "[[\"so_cuoc_hop\",\"open\",3,\"$ida\",5,\"$idb\",\"$idb\"]]" \
  "$(jq -c '[.[] | [.element, .status, .current.value, .current.agent, .incoming.value, .incoming.agent, .used_for_scoring.agent]]' "$T/open.json")" \
  "the conflict is open, A's 3 against B's 5, scoring uses B's"
cid=$(jq -r '.[0].id' "$T/open.json")
assert_exit 0 future_a sync
assert_eq "[[5,\"$idb\",\"synced\"]]" \
  "$(agent a values --json | jq -c '[.[] | select(.element == "so_cuoc_hop") | [.value, .agent, .state]]')" "A pulled B's value"

# ---- B first, A's future-dated edit second: B stays ----
assert_exit 0 future_a set so_can_bo 20 --period $P
assert_exit 0 agent b set so_can_bo 12 --period $P
assert_exit 0 agent b sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" "B's so_can_bo is new"
assert_exit 0 future_a sync
assert_eq "accepted=0 duplicate=0 superseded=0 conflict=1 rejected=0 amendment=0" "$(outcomes)" "A's concurrent so_can_bo is a conflict"
assert_eq "[[12,\"$idb\"]]" "$(hub_val so_can_bo)" "B's so_can_bo stays current"
assert_eq "[[\"so_can_bo\",\"open\",12,\"$idb\",20,\"$ida\",\"$idb\"]]" \
  "$(hub conflicts --json | jq -c '[.[] | select(.element == "so_can_bo") | [.element, .status, .current.value, .current.agent, .incoming.value, .incoming.agent, .used_for_scoring.agent]]')" \
  "so_can_bo: open, B's 12 used for scoring"
assert_eq 2 "$(hub conflicts --json | jq length)" "two open conflicts wait for the operator"

# ---- the hub's clock did not follow A's ----
assert_exit 0 hub resolve "$cid" --keep incoming --by "Lê Thị Hoa"
hub_ver=$(hub values --json --unit $U | jq -r '.[] | select(.element == "so_cuoc_hop") | .version')
drift=$(($(version_s "$hub_ver") - $(date -u +%s)))
((drift < 6 * 60)) || fail "the hub's version $hub_ver is ${drift}s ahead of its wall clock (bound: 5 min)"
_pass
assert_eq "[[5,\"hub\"]]" "$(hub_val so_cuoc_hop)" "the resolution keeps B's 5"
# B's next edit, based on the hub's version, is a fast-forward
assert_exit 0 agent b sync
assert_exit 0 agent b set so_cuoc_hop 6 --period $P
assert_exit 0 agent b sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "B's edit based on the hub's version is accepted"
assert_eq "[[6,\"$idb\"]]" "$(hub_val so_cuoc_hop)" "B's 6 is current"
# A, whose clock is still ahead, edits from the pulled value: a fast-forward too
# (detection is by base version, not by clock)
assert_exit 0 future_a sync
assert_exit 0 future_a set so_cuoc_hop 8 --period $P
assert_exit 0 future_a sync
assert_eq "accepted=1 duplicate=0 superseded=0 conflict=0 rejected=0 amendment=0" "$(outcomes)" \
  "A's edit based on the hub's version is a fast-forward despite its clock"
assert_eq "[[8,\"$ida\"]]" "$(hub_val so_cuoc_hop)" "A's 8 is current"

hub_stop
done_ok
