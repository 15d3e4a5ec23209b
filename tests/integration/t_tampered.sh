#!/usr/bin/env bash
# A sealed batch altered by one byte is refused and applies nothing; the
# agent's own, untouched batch still goes through afterwards.
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
agent_new a 22738
assert_exit 0 agent a set meetings 4 --period 2023
assert_exit 0 agent a sync # batch 1: enrolled, chain started

# seal batch 2 without delivering it: sync against a stopped hub
hub_stop
assert_exit 0 agent a set meetings 5 --period 2023 --author "Nguyễn Văn A"
assert_exit 0 agent a set docs 120 --period 2023
assert_exit 75 agent a sync
assert_eq 1 "$(agent_status a pending_batches)" "batch 2 is sealed and pending"
hub_start
hub_values >"$T/values.before"
hub agents --json | jq -c . >"$T/agents.before"

agent_blob a envelope 2 "$T/env2"
size=$(stat -c %s "$T/env2")

# flip one bit of byte N of the envelope into OUT
flip() { # IN OFFSET OUT
  cp "$1" "$3"
  local b
  b=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
  # shellcheck disable=SC2059 # the format is the octal escape of the new byte
  printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$3" bs=1 seek="$2" conv=notrunc status=none
  [[ $(cmp -l "$1" "$3" | wc -l) == 1 ]] || fail "flip did not change exactly byte $2"
}

check_refused() { # FILE WHAT
  post_file /v1/batches "$1"
  case "$HTTP_STATUS $HTTP_REASON" in
  "401 bad_signature" | "400 malformed") _pass ;;
  *) _fail "answer to $2" "401 bad_signature or 400 malformed" "$HTTP_STATUS ${HTTP_REASON:-<no X-DTI-Reason>}" ;;
  esac
  assert_eq "$(cat "$T/values.before")" "$(hub_values)" "hub values after $2"
  assert_eq "$(cat "$T/agents.before")" "$(hub agents --json | jq -c .)" "agents after $2"
}

# near the end: inside the signature
flip "$T/env2" $((size - 3)) "$T/bad1"
check_refused "$T/bad1" "a batch with one byte of its signature flipped"
assert_eq "401 bad_signature" "$HTTP_STATUS $HTTP_REASON" "a flipped signature byte is a bad signature"
# the last byte of the signed part (just before the 64-byte signature and its 2-byte tag)
flip "$T/env2" $((size - 67)) "$T/bad2"
check_refused "$T/bad2" "a batch with the last signed byte flipped"
# the middle of the signed part
flip "$T/env2" $((size / 2)) "$T/bad3"
check_refused "$T/bad3" "a batch with a byte in the middle flipped"
# cut short
head -c $((size - 10)) "$T/env2" >"$T/bad4"
check_refused "$T/bad4" "a truncated batch"

# the untouched batch still goes through
assert_exit 0 agent a sync
assert_eq 0 "$(agent_status a pending_records)" "pending records after the real sync"
assert_eq 2 "$(hub_agent_field "$(agent_id a)" last_seq)" "hub's last_seq"
assert_eq '[["docs",120],["meetings",5]]' \
  "$(hub values --json --unit 22738 | jq -c '[.[] | [.element, .value]]')" "hub values after the real sync"

hub_stop
done_ok
