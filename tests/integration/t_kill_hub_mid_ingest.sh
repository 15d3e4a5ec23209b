#!/usr/bin/env bash
# Several agents sync thousands of records at once; the hub is SIGKILLed in
# the middle (twice), restarted, and the agents sync again until done: every
# value present exactly once, equal to the input; the hub's last_seq of each
# agent equals the batches that agent holds receipts for.
source "$(dirname "$0")/lib.sh"

N=15000
AGENTS=(a1 a2 a3)
declare -A UNIT=([a1]=22738 [a2]=22741 [a3]=22744)

hub_setup
hub_start
for a in "${AGENTS[@]}"; do
  agent_new "$a" "${UNIT[$a]}"
  seq 1 "$N" | awk -v u="${UNIT[$a]}" 'BEGIN { print "unit,element,period,value,comment" }
    { printf "%s,e%05d,2023,%d,%s\n", u, $1, u * 10 + $1, ($1 % 100 == 0 ? "Đã họp đủ" : "") }' \
    >"$T/$a.csv"
  assert_exit 0 agent "$a" import "$T/$a.csv"
done

# all agents sync at once; the hub dies after DELAY seconds
sync_all_and_kill_hub() { # DELAY ROUND
  local a
  declare -A pid_of
  for a in "${AGENTS[@]}"; do
    agent_bg "$a" "$T/$a.sync$2.out" "$T/$a.sync$2.err" sync
    pid_of[$a]=$BG_PID
  done
  sleep "$1"
  hub_kill
  for a in "${AGENTS[@]}"; do
    wait_rc "${pid_of[$a]}"
    case $RC in
    0) assert_eq "" "$(cat "$T/$a.sync$2.err")" "stderr of $a's sync that finished before the kill" ;;
    75) assert_contains "$(cat "$T/$a.sync$2.err")" "nothing is lost" "stderr of $a's sync cut by the kill" ;;
    *) _fail "exit status of $a's sync when the hub is killed (stderr: $(cat "$T/$a.sync$2.err"))" \
      "0 (finished first) or 75 (hub unreachable)" "$RC" ;;
    esac
    echo "round $2, hub killed after $1 s: $a exited $RC, $(agent_status "$a" acknowledged_batches) batches acknowledged"
  done
}

sync_all_and_kill_hub 0.4 1
hub_start
sync_all_and_kill_hub 0.25 2
hub_start

# sync until everything is acknowledged (bounded: 5 tries each)
for a in "${AGENTS[@]}"; do
  for ((try = 1; try <= 5; try++)); do
    run agent "$a" sync
    [[ $RC == 75 ]] || break
    sleep 0.5
  done
  assert_eq 0 "$RC" "exit status of $a's final sync (stderr: $ERR)"
  assert_eq 0 "$(agent_status "$a" pending_records)" "$a pending records"
  assert_eq 0 "$(agent_status "$a" pending_batches)" "$a pending batches"
done

hub values --json >"$T/values.json"
assert_eq $((N * ${#AGENTS[@]})) "$(jq length "$T/values.json")" "number of values on the hub"
assert_eq 0 "$(jq '[group_by([.unit, .element, .period])[] | select(length > 1)] | length' "$T/values.json")" \
  "no key is held twice"
for a in "${AGENTS[@]}"; do
  id=$(agent_id "$a")
  jq -r --arg u "${UNIT[$a]}" '.[] | select(.unit == $u) | "\(.unit),\(.element),\(.period),\(.value),\(.comment // ""),\(.agent)"' \
    "$T/values.json" | sort >"$T/$a.actual"
  tail -n +2 "$T/$a.csv" | awk -F, -v id="$id" '{ print $0 "," id }' | sort >"$T/$a.expected"
  if ! cmp -s "$T/$a.expected" "$T/$a.actual"; then
    _fail "hub values of ${UNIT[$a]} equal $a's input ($(diff "$T/$a.expected" "$T/$a.actual" | grep -c '^[<>]') lines differ)" \
      "$(diff "$T/$a.expected" "$T/$a.actual" | grep '^<' | head -n 3 | tr '\n' ' ')" \
      "$(diff "$T/$a.expected" "$T/$a.actual" | grep '^>' | head -n 3 | tr '\n' ' ')"
  fi
  _pass
  assert_eq "$(agent_status "$a" acknowledged_batches)" "$(hub_agent_field "$id" last_seq)" \
    "hub last_seq of $a equals the batches $a acknowledged"
done

hub_stop
done_ok
