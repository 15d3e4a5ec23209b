# shellcheck shell=bash
# lib.sh - sourced by every tests/integration/t_*.sh.
#
# Each test gets its own temp dir ($T) and its own hub on a free 127.0.0.1 port,
# drives the real dti-hub and dti-agent through their command lines, and stops
# every process it started, by PID, when it exits (however it exits).
#
#   hub_setup; hub_start        init the hub in $HUB_DIR, import the units, serve
#   agent_new NAME UNIT         enrol an agent into $T/NAME
#   hub ARGS... / agent NAME ARGS...   run the binaries on those directories
#   run CMD...                  run CMD; sets RC, OUT, ERR (never fails the test)
#   assert_eq / assert_contains / assert_exit / assert_refused
#   done_ok                     last line of a passing test: "N passed, 0 failed"
#
# An assertion that fails prints what it expected, what it got and the test's
# line, then exits 1. DTI_KEEP_TMP=1 keeps $T for a look afterwards.
set -euo pipefail

DTI_SOURCE_DIR=${DTI_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DTI_HUB_BIN=${DTI_HUB_BIN:-/work/main/build/hub/dti-hub}
DTI_AGENT_BIN=${DTI_AGENT_BIN:-/work/main/build/agent/dti-agent}
DTI_SHARED_DATA_DIR=${DTI_SHARED_DATA_DIR:-$DTI_SOURCE_DIR/../shared/data}
UNITS_CSV=$DTI_SHARED_DATA_DIR/units-ninh-thuan-2023.csv

for _b in "$DTI_HUB_BIN" "$DTI_AGENT_BIN"; do
  [[ -x $_b ]] || { echo "lib.sh: $_b is not an executable (build first)" >&2; exit 1; }
done
for _t in curl jq sqlite3 openssl awk od; do
  command -v "$_t" >/dev/null || { echo "lib.sh: '$_t' is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/dti-$TEST_NAME.XXXXXX")
HUB_DIR=$T/hub
HUB_LOG=$T/hub.log
HUB_PID=
PORT=
HUB_URL=
HUB_FP=
PASSED=0
_TRACKED=() # other background processes this test started

# ---- cleanup ----

_cleanup() {
  local rc=$? p i
  trap - EXIT
  for p in "${_TRACKED[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
  done
  if [[ -n $HUB_PID ]] && kill -0 "$HUB_PID" 2>/dev/null; then
    kill -TERM "$HUB_PID" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$HUB_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$HUB_PID" 2>/dev/null || true
  fi
  for p in "${_TRACKED[@]}" $HUB_PID; do
    wait "$p" 2>/dev/null || true
  done
  if [[ $rc -ne 0 && -s $HUB_LOG ]]; then
    echo "--- last lines of the hub's log ($HUB_LOG) ---" >&2
    tail -n 20 "$HUB_LOG" >&2 || true
  fi
  if [[ ${DTI_KEEP_TMP:-0} == 1 ]]; then
    echo "kept $T" >&2
  else
    rm -rf "$T"
  fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 143' TERM # CTest's timeout: still run the cleanup
trap 'exit 130' INT

# Remember a background PID so the EXIT trap stops it.
track() {
  _TRACKED+=("$1")
}

# ---- assertions ----

# "file:line" of the test line that called into this library.
_where() {
  local i
  for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
    if [[ ${BASH_SOURCE[$i]} != "${BASH_SOURCE[0]}" ]]; then
      echo "$(basename "${BASH_SOURCE[$i]}"):${BASH_LINENO[$((i - 1))]}"
      return
    fi
  done
  echo "?"
}

_fail() { # MSG EXPECTED ACTUAL
  {
    echo "FAIL at $(_where): $1"
    echo "  expected: $2"
    echo "  actual:   $3"
    echo "$PASSED passed, 1 failed"
  } >&2
  exit 1
}

_pass() {
  PASSED=$((PASSED + 1))
}

fail() { # MSG: an unconditional failure
  {
    echo "FAIL at $(_where): $1"
    echo "$PASSED passed, 1 failed"
  } >&2
  exit 1
}

assert_eq() { # EXPECTED ACTUAL MSG
  [[ $1 == "$2" ]] || _fail "$3" "$1" "$2"
  _pass
}

assert_ne() { # UNEXPECTED ACTUAL MSG
  [[ $1 != "$2" ]] || _fail "$3" "anything but $1" "$2"
  _pass
}

assert_contains() { # HAYSTACK NEEDLE MSG
  [[ $1 == *"$2"* ]] || _fail "$3" "text containing '$2'" "$1"
  _pass
}

assert_not_contains() { # HAYSTACK NEEDLE MSG
  [[ $1 != *"$2"* ]] || _fail "$3" "text without '$2'" "$1"
  _pass
}

# run CMD...: RC, OUT and ERR get the command's exit status, stdout and stderr.
run() {
  RC=0
  "$@" >"$T/.out" 2>"$T/.err" || RC=$?
  OUT=$(cat "$T/.out")
  ERR=$(cat "$T/.err")
}

# assert_exit CODE CMD...: CMD exits with CODE (OUT, ERR and RC are set as by run).
assert_exit() {
  local want=$1
  shift
  run "$@"
  [[ $RC == "$want" ]] ||
    _fail "exit status of '$*' (stderr: ${ERR:-<empty>})" "$want" "$RC"
  _pass
}

# assert_refused CMD...: CMD fails for good: non-zero, and not 75 ("try again later").
assert_refused() {
  run "$@"
  [[ $RC != 0 && $RC != 75 ]] ||
    _fail "exit status of '$*' (stdout: ${OUT:-<empty>}; stderr: ${ERR:-<empty>})" \
      "a refusal: non-zero and not 75" "$RC"
  _pass
}

done_ok() {
  echo "$TEST_NAME: $PASSED passed, 0 failed"
}

# ---- clocks and waits ----

_now_ms() {
  local t=${EPOCHREALTIME//[.,]/}
  echo $((t / 1000))
}

# ---- the hub ----

hub() {
  "$DTI_HUB_BIN" --dir "$HUB_DIR" "$@"
}

# A port nothing listens on. Below Linux's ephemeral range (32768-60999), so
# no outgoing connection of a parallel test can hold it when the hub binds.
free_port() {
  local p i
  for ((i = 0; i < 50; i++)); do
    p=$((20000 + RANDOM % 12768))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  fail "no free port in 50 tries"
}

# hub_setup: a new hub in $HUB_DIR listening on 127.0.0.1:$PORT, with the
# Ninh Thuận units. Sets PORT (if unset), HUB_URL and HUB_FP.
hub_setup() {
  [[ -n $PORT ]] || PORT=$(free_port)
  HUB_URL=https://127.0.0.1:$PORT
  assert_exit 0 hub init --listen "127.0.0.1:$PORT"
  HUB_FP=$(sed -n 's/^certificate: sha256 \([0-9a-f]\{64\}\)$/\1/p' <<<"$OUT")
  [[ ${#HUB_FP} == 64 ]] || _fail "hub init prints the certificate fingerprint" \
    "certificate: sha256 <64 hex digits>" "$OUT"
  assert_exit 0 hub units import "$UNITS_CSV"
}

hub_health() {
  curl -sk --max-time 2 "$HUB_URL/v1/health" 2>/dev/null
}

# hub_start: serve in the background; returns once /v1/health answers (~10 s at most).
hub_start() {
  [[ -z $HUB_PID ]] || fail "hub_start: a hub (pid $HUB_PID) is already running"
  "$DTI_HUB_BIN" --dir "$HUB_DIR" serve 2>>"$HUB_LOG" &
  HUB_PID=$!
  local i deadline=$(($(_now_ms) + 10000))
  for ((i = 0; i < 100; i++)); do
    if [[ $(hub_health) == ok ]]; then
      return 0
    fi
    if ! kill -0 "$HUB_PID" 2>/dev/null; then
      local rc=0
      wait "$HUB_PID" || rc=$?
      HUB_PID=
      fail "the hub exited ($rc) instead of serving on $HUB_URL: $(tail -n 3 "$HUB_LOG")"
    fi
    (($(_now_ms) < deadline)) || break
    sleep 0.1
  done
  fail "the hub did not answer $HUB_URL/v1/health within 10 s"
}

# hub_stop: SIGTERM; the hub must stop cleanly (exit 0) within ~10 s.
hub_stop() {
  [[ -n $HUB_PID ]] || fail "hub_stop: no hub running"
  kill -TERM "$HUB_PID"
  local i rc=0 deadline=$(($(_now_ms) + 10000))
  for ((i = 0; i < 100; i++)); do
    kill -0 "$HUB_PID" 2>/dev/null || break
    (($(_now_ms) < deadline)) || break
    sleep 0.1
  done
  if kill -0 "$HUB_PID" 2>/dev/null; then
    kill -KILL "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
    HUB_PID=
    fail "the hub did not stop within 10 s of SIGTERM"
  fi
  wait "$HUB_PID" || rc=$?
  HUB_PID=
  assert_eq 0 "$rc" "the hub's exit status after SIGTERM"
}

# hub_kill: SIGKILL, no chance to clean up.
hub_kill() {
  [[ -n $HUB_PID ]] || fail "hub_kill: no hub running"
  kill -KILL "$HUB_PID" 2>/dev/null || true
  wait "$HUB_PID" 2>/dev/null || true
  HUB_PID=
}

# hub_values [ARGS...]: the hub's values as compact JSON.
# shellcheck disable=SC2120 # the arguments are optional
hub_values() {
  hub values --json "$@" | jq -c .
}

# hub_agent_field AGENT_ID FIELD: one field of `dti-hub agents --json`.
hub_agent_field() {
  hub agents --json | jq -r --arg id "$1" --arg f "$2" '.[] | select(.id == $id) | .[$f]'
}

# POST a file to the hub like an agent would. Sets HTTP_STATUS, HTTP_REASON
# (the X-DTI-Reason header, empty if none) and leaves the body in $T/.body.
# shellcheck disable=SC2034 # HTTP_STATUS and HTTP_REASON are for the caller
post_file() { # PATH FILE [CONTENT_TYPE]
  local ct=${3:-application/x-protobuf}
  HTTP_STATUS=$(curl -sk --max-time 20 -D "$T/.headers" -o "$T/.body" -w '%{http_code}' \
    -H "Content-Type: $ct" --data-binary "@$2" "$HUB_URL$1") || true
  HTTP_REASON=$(tr -d '\r' <"$T/.headers" | sed -n 's/^[Xx]-[Dd][Tt][Ii]-[Rr]eason: *//p' | tail -n 1)
}

# ---- agents ----

agent() { # NAME ARGS...
  local name=$1
  shift
  "$DTI_AGENT_BIN" --dir "$T/$name" "$@"
}

# agent_new NAME UNIT: enrolment token from the hub, then init in $T/NAME
# (enrols now if the hub is up, on the first sync otherwise).
# agent_bg NAME OUTFILE ERRFILE ARGS...: the agent binary itself in the
# background (BG_PID is its PID, not a subshell's), tracked for cleanup.
agent_bg() {
  local name=$1 out=$2 err=$3
  shift 3
  "$DTI_AGENT_BIN" --dir "$T/$name" "$@" >"$out" 2>"$err" &
  BG_PID=$!
  track "$BG_PID"
}

# wait_rc PID: sets RC to the exit status of a background process (137 = SIGKILL).
wait_rc() {
  RC=0
  wait "$1" 2>/dev/null || RC=$?
}

agent_new() {
  local token
  token=$(hub enroll --unit "$2") || fail "dti-hub enroll --unit $2 failed"
  assert_exit 0 agent "$1" init --token "$token"
}

agent_id() { # NAME
  agent "$1" status --json | jq -r .agent
}

agent_status() { # NAME FIELD
  agent "$1" status --json | jq -r --arg f "$2" '.[$f]'
}

# The bytes of one batch column (envelope or receipt) from the agent's store.
agent_blob() { # NAME COLUMN SEQ OUTFILE
  rm -f "$4"
  sqlite3 "$T/$1/agent.db" "SELECT writefile('$4', $2) FROM batches WHERE seq = $3" >/dev/null
  [[ -s $4 ]] || fail "agent $1 holds no $2 for batch $3"
}

hexdump_of() { # FILE: its bytes as one line of hex
  od -An -v -tx1 "$1" | tr -d ' \n'
}
