#!/usr/bin/env bash
# Bad input gets a clear, machine-readable error and changes nothing: at the
# hub's HTTPS endpoints (content type, garbage, size, path, method, a slow
# client), at `dti-agent set` and `import`, and at `dti-hub units import`.
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
agent_new a 22738
agent_new b 22741
assert_exit 0 agent a set meetings 4 --period 2023
assert_exit 0 agent a sync
agent_blob a envelope 1 "$T/env1"

snapshot() {
  hub_values
  hub agents --json | jq -c '[.[] | {id, last_seq, revoked}]'
}
snapshot >"$T/hub.before"
unchanged() { # WHAT
  assert_eq "$(cat "$T/hub.before")" "$(snapshot)" "hub values and agents after $1"
}

# ---- HTTP ----

# a valid envelope, but not labelled as protobuf
post_file /v1/batches "$T/env1" text/plain
assert_eq "415 bad_content_type" "$HTTP_STATUS $HTTP_REASON" "a batch sent as text/plain"
post_file /v1/batches "$T/env1" application/json
assert_eq "415 bad_content_type" "$HTTP_STATUS $HTTP_REASON" "a batch sent as application/json"
unchanged "wrong content types"

# garbage, and an empty body
printf 'this is not a protobuf envelope \x01\x02\xff' >"$T/garbage"
post_file /v1/batches "$T/garbage"
assert_eq "400 malformed" "$HTTP_STATUS $HTTP_REASON" "a garbage body"
: >"$T/empty"
post_file /v1/batches "$T/empty"
assert_eq "400 malformed" "$HTTP_STATUS $HTTP_REASON" "an empty body"
head -c 20000 /dev/urandom >"$T/random"
post_file /v1/batches "$T/random"
assert_eq 400 "$HTTP_STATUS" "20 kB of random bytes"
post_file /v1/enroll "$T/garbage"
assert_eq 400 "$HTTP_STATUS" "a garbage enrolment request"
unchanged "garbage bodies"

# over the 4 MiB limit (with a Content-Length, and chunked)
head -c $((4 * 1024 * 1024 + 1)) /dev/zero >"$T/big"
post_file /v1/batches "$T/big"
assert_eq 413 "$HTTP_STATUS" "a body of 4 MiB + 1 byte"
HTTP_STATUS=$(curl -sk --max-time 20 -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-protobuf' \
  -H 'Transfer-Encoding: chunked' --data-binary "@$T/big" "$HUB_URL/v1/batches") || true
assert_eq 413 "$HTTP_STATUS" "a chunked body of 4 MiB + 1 byte"
unchanged "oversized bodies"

# unknown path, wrong method
post_file /v1/nothing "$T/env1"
assert_eq "404 not_found" "$HTTP_STATUS $HTTP_REASON" "POST to an unknown path"
assert_eq 404 "$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "$HUB_URL/")" "GET /"
assert_eq 405 "$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "$HUB_URL/v1/batches")" "GET /v1/batches"
assert_eq 405 "$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "$HUB_URL/v1/enroll")" "GET /v1/enroll"
# a pull without the agent's signature
assert_eq 401 "$(curl -sk --max-time 10 -o /dev/null -w '%{http_code}' "$HUB_URL/v1/changes?after=0")" \
  "GET /v1/changes without a signature"
unchanged "wrong paths and methods"

# ---- slow clients do not block other agents ----

# a TCP connection that never starts TLS
exec 5<>"/dev/tcp/127.0.0.1/$PORT"
# a TLS connection that sends half a request and then nothing
mkfifo "$T/slow.in"
openssl s_client -quiet -connect "127.0.0.1:$PORT" <"$T/slow.in" >"$T/slow.out" 2>"$T/slow.err" &
slow_pid=$!
track "$slow_pid"
exec 6<>"$T/slow.in" # read-write: never blocks, even if openssl did not start
printf 'POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100000\r\n\r\nabc' >&6
sleep 0.5
kill -0 "$slow_pid" 2>/dev/null || fail "the slow TLS client is still connected ($(cat "$T/slow.err"))"
assert_exit 0 agent b set meetings 2 --period 2023
start=$(_now_ms)
assert_exit 0 timeout 20 "$DTI_AGENT_BIN" --dir "$T/b" sync
elapsed=$(($(_now_ms) - start))
((elapsed < 5000)) || _fail "a sync next to two stalled connections is not delayed" "< 5000 ms" "$elapsed ms"
_pass
kill -0 "$slow_pid" 2>/dev/null || fail "the slow TLS client was still connected during the sync"
assert_eq 2 "$(hub values --json --unit 22741 | jq '.[] | select(.element == "meetings") | .value')" \
  "b's value arrived while the slow clients held their connections"
exec 5>&- 6>&-
kill -KILL "$slow_pid" 2>/dev/null || true
wait "$slow_pid" 2>/dev/null || true
assert_eq ok "$(hub_health)" "the hub after the slow clients left"
snapshot >"$T/hub.before"

# ---- dti-agent set: invalid element codes and values ----

agent a values --json >"$T/a.values.before"
set_refused() { # MESSAGE-PART ARGS...
  local want=$1
  shift
  assert_refused agent a set "$@"
  assert_contains "$ERR" "dti-agent: cannot record the value" "set $* is refused with the standard prefix"
  assert_contains "$ERR" "$want" "set $* says why"
}
set_refused "invalid element code" "bad code!" 1 --period 2023
set_refused "invalid element code" "đơn_vị" 1 --period 2023
set_refused "invalid element code" "$(printf 'e%.0s' {1..65})" 1 --period 2023
set_refused "empty value" meetings "" --period 2023
set_refused "not valid UTF-8" meetings "$(printf 'caf\xe9')" --period 2023
set_refused "longer than" meetings "$(head -c 100000 /dev/zero | tr '\0' x)" --period 2023
set_refused "invalid period" meetings 5 --period 23
set_refused "invalid period" meetings 5 --period 2023Q5
set_refused "invalid period" meetings 5 --period 2023-13
set_refused "UTF-8" meetings 5 --period 2023 --author "$(printf '\xff\xfe')"
assert_exit 64 agent a set meetings --period 2023 # no value at all: usage
assert_eq "$(cat "$T/a.values.before")" "$(agent a values --json)" "a's values after the refused sets"
assert_eq 0 "$(agent_status a pending_records)" "a's pending records after the refused sets"

# ---- dti-agent import: one bad row refuses the whole file ----

import_refused() { # NAME MESSAGE-PART CSV-BODY
  printf '%s' "$3" >"$T/$1.csv"
  assert_refused agent a import "$T/$1.csv"
  assert_contains "$ERR" "nothing was recorded" "import of $1.csv says nothing was recorded"
  assert_contains "$ERR" "$2" "import of $1.csv says why"
  assert_eq 0 "$(agent_status a pending_records)" "pending records after the refused $1.csv"
}
import_refused fields "$T/fields.csv:3" $'unit,element,period,value\n22738,docs,2023,5\n22738,docs2,2023\n22738,docs3,2023,7\n'
import_refused element "invalid element code" $'22738,docs,2023,5\n22738,docs 2,2023,6\n'
import_refused period "invalid period" $'22738,docs,2023,5\n22738,docs2,2023-00,6\n'
import_refused quote "unterminated quoted field" $'22738,docs,2023,5\n22738,docs2,2023,"6\n'
import_refused quote2 "quote inside unquoted field" $'22738,docs,2023,5\n22738,docs2,20"23,6\n'
import_refused utf8 "UTF-8" $'22738,docs,2023,5\n22738,docs2,2023,caf\xe9\n'
# an empty value cell is "not collected": skipped, not an error; the rest stays all or none
import_refused blank "invalid period" $'22738,docs,2023,5\n22738,docs2,2023,\n22738,docs3,20x3,6\n'
import_refused toomany "7 fields" $'22738,docs,2023,5,c,a,extra\n'
# extra columns only when a header names them, and the header's first six are the importer's
import_refused longrow "8 fields" $'unit,element,period,value,comment,author,note\n22738,docs,2023,5,c,a,n,x\n'
import_refused header "header column 5 is 'author', expected 'comment'" $'unit,element,period,value,author,comment\n22738,docs,2023,5,a,c\n'
assert_refused agent a import "$T/does-not-exist.csv"
assert_contains "$ERR" "does-not-exist.csv" "import of a missing file names it"
assert_eq "$(cat "$T/a.values.before")" "$(agent a values --json)" "a's values after the refused imports"

# nothing reached the hub either
assert_exit 0 agent a sync
assert_not_contains "$OUT" "pushed" "a's sync after the refused edits pushes nothing"
unchanged "the refused edits"

# ---- dti-hub units import: a malformed file changes nothing ----

hub units list --json >"$T/units.before"
units_refused() { # NAME MESSAGE-PART CSV-BODY
  printf '%s' "$3" >"$T/$1.csv"
  assert_refused hub units import "$T/$1.csv"
  assert_contains "$ERR" "dti-hub: cannot import units" "units import of $1.csv"
  assert_contains "$ERR" "$2" "units import of $1.csv says why"
  assert_eq "$(cat "$T/units.before")" "$(hub units list --json)" "units after the refused $1.csv"
}
# good rows first (a new unit, a renamed one), then the bad one
units_refused level "village" $'code,name,level,parent_code\n99999,Xã Mới,commune,582\n22738,Renamed,commune,582\n99998,Thôn X,village,582\n'
units_refused fields "3 fields, expected 4" $'code,name,level,parent_code\n99999,Xã Mới,commune,582\n99998,Xã B,commune\n'
units_refused header "header" $'kode,name,level,parent_code\n99999,Xã Mới,commune,582\n'
units_refused code "invalid unit code" $'code,name,level,parent_code\n99999,Xã Mới,commune,582\nx y,Xã B,commune,582\n'
units_refused quote "unterminated quoted field" $'code,name,level,parent_code\n99999,"Xã Mới,commune,582\n'
units_refused empty "empty file" ''
assert_refused hub units import "$T/does-not-exist.csv"

hub_stop
done_ok
