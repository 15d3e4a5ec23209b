#!/usr/bin/env bash
# The agent pins the hub's certificate: a wrong pin at init, or a hub whose
# certificate changed, is a clear error naming both fingerprints - never a
# silent fallback, and never "try again later" (75).
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
token=$(hub enroll --unit 22738)
OTHER_FP=$(printf 'not the hub' | openssl dgst -sha256 -r | cut -c1-64)
assert_ne "$HUB_FP" "$OTHER_FP" "the other fingerprint differs from the hub's"

# init with a pin that is not the hub's certificate
assert_refused agent wrong init --token "$token" --fingerprint "$OTHER_FP"
assert_contains "$ERR" "dti-agent: cannot initialise the agent" "init with a wrong pin"
assert_contains "$ERR" "$HUB_FP" "the pin error names the certificate the hub presented"
assert_contains "$ERR" "$OTHER_FP" "the pin error names the pinned fingerprint"
assert_eq "[]" "$(hub agents --json | jq -c .)" "no agent enrolled by the refused init"
# a refused init leaves nothing behind, so the officer can simply run it again
left=no
for f in agent.db agent.db-wal agent.key; do [ -e "$T/wrong/$f" ] && left="$f"; done
assert_eq "no" "$left" "a refused init leaves no store or key"
assert_refused agent wrong set meetings 1 --period 2023
assert_contains "$ERR" "no agent in" "there is no half-made agent to record into"
assert_eq "[]" "$(hub_values)" "nothing reached the hub from the wrongly pinned agent"

# a malformed pin is a usage error
assert_exit 64 agent bad init --token "$token" --fingerprint 1234
assert_contains "$ERR" "64 hex digits" "init with a malformed pin"

# the refused TLS handshake did not use up the token; the right pin (any
# spelling: upper case, colons, "sha256:") enrols
colon_fp="sha256:$(tr 'a-f' 'A-F' <<<"$HUB_FP" | sed 's/../&:/g; s/:$//')"
assert_exit 0 agent wrong init --token "$token" --fingerprint "$colon_fp"
assert_contains "$OUT" "enrolled" "init again in the same directory, with the right pin"
rm -rf "$T/wrong"
token=$(hub enroll --unit 22738)
assert_exit 0 agent good init --token "$token" --fingerprint "$colon_fp"
assert_contains "$OUT" "enrolled" "init with the right pin, spelled $colon_fp"
assert_exit 0 agent good set meetings 4 --period 2023
assert_exit 0 agent good sync
old_fp=$HUB_FP

# the hub is re-initialised on the same port with a new certificate
hub_stop
mv "$HUB_DIR" "$T/hub.old"
hub_setup # same PORT
assert_ne "$old_fp" "$HUB_FP" "the new hub has a new certificate"
hub_start
assert_exit 0 agent good set meetings 5 --period 2023
assert_refused agent good sync
assert_contains "$ERR" "$HUB_FP" "the pin error names the new certificate"
assert_contains "$ERR" "$old_fp" "the pin error names the pinned (old) certificate"
assert_contains "$(agent_status good last_error)" "$HUB_FP" "status shows the pin error"
assert_eq 1 "$(agent_status good pending_records)" "the edit stays pending"
assert_eq "[]" "$(hub_values)" "nothing reached the new hub"

hub_stop
done_ok
