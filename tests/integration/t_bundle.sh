#!/usr/bin/env bash
# No link at all: an office carries its batches to the hub on a USB stick
# (export-bundle / import-bundle) and the receipts back (export-receipts /
# import-receipts). Same verification and exactly-once rule as HTTPS: a bundle
# imported twice, or whose batches also arrive over HTTPS, changes nothing the
# second time; a damaged bundle is refused at the damage with its offset, and
# what was whole before it is applied once.
source "$(dirname "$0")/lib.sh"

hub_setup
hub_start
agent_new a 22750
ida=$(agent_id a)
hub_stop # from here on, no link

# --- the office records figures and exports them ---
assert_exit 0 agent a set so_cuoc_hop 4 --period 2023 --author "Nguyễn Văn An"
assert_exit 0 agent a set ghi_chu "Đường truyền chập chờn" --period 2023
assert_exit 0 agent a export-bundle "$T/a1.bundle"
assert_contains "$OUT" "1 batch" "export-bundle says what it wrote"
assert_eq 1 "$(agent_status a pending_batches)" "the batch stays pending until its receipt comes back"
assert_eq "DTIBUNDLE1" "$(head -c 10 "$T/a1.bundle")" "the file starts with the bundle magic"

# --- the hub imports it (no server needed) ---
assert_exit 0 hub import-bundle "$T/a1.bundle"
assert_contains "$OUT" "1 applied" "the hub applied the batch"
assert_eq 2 "$(hub_values | jq length)" "the hub holds both values"
assert_eq "Đường truyền chập chờn" "$(hub_values | jq -r '.[] | select(.element=="ghi_chu") | .value')" \
  "Vietnamese text arrives byte for byte"
before=$(hub_values)
assert_exit 0 hub import-bundle "$T/a1.bundle"
assert_contains "$OUT" "1 already held" "importing the same bundle again is a replay"
assert_eq "$before" "$(hub_values)" "the second import changed nothing"
assert_eq 1 "$(hub agents --json | jq '.[0].last_seq')" "the agent's chain advanced once"

# --- receipts travel back ---
assert_exit 0 hub export-receipts --agent "$ida" "$T/r1.bundle"
assert_contains "$OUT" "1 receipt" "export-receipts says what it wrote"
assert_exit 0 agent a import-receipts "$T/r1.bundle"
assert_contains "$OUT" "1 acknowledged" "the receipt cleared the batch"
assert_eq 0 "$(agent_status a pending_batches)" "nothing pending after the receipts"
assert_eq 0 "$(agent_status a pending_records)" "no record pending after the receipts"
assert_exit 0 agent a import-receipts "$T/r1.bundle"
assert_contains "$OUT" "1 already" "importing the receipts again changes nothing"
# a bundle of envelopes is not a bundle of receipts
assert_refused agent a import-receipts "$T/a1.bundle"
assert_contains "$ERR" "no receipts" "a bundle without receipts is not mistaken for one"

# --- a bundle whose batch also arrives over HTTPS ---
assert_exit 0 agent a set so_can_bo 12 --period 2023
assert_exit 0 agent a export-bundle "$T/a2.bundle"
assert_exit 0 hub import-bundle "$T/a2.bundle"
hub_start
assert_exit 0 agent a sync
assert_eq 0 "$(agent_status a pending_batches)" "the sync got the stored receipt of the imported batch"
assert_eq 3 "$(hub_values | jq length)" "three values, none twice"
assert_eq 2 "$(hub agents --json | jq '.[0].last_seq')" "two batches, each applied once"
hub_stop

# --- damage ---
assert_exit 0 agent a set so_thon 7 --period 2023
assert_exit 0 agent a export-bundle "$T/a3.bundle"
size=$(stat -c %s "$T/a3.bundle")
# flip one byte inside the envelope
cp "$T/a3.bundle" "$T/bad.bundle"
printf '\xff' | dd of="$T/bad.bundle" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
before=$(hub_values)
assert_refused hub import-bundle "$T/bad.bundle"
assert_contains "$ERR" "offset" "the damage is located"
assert_contains "$ERR" "damaged" "and named"
assert_eq "$before" "$(hub_values)" "a damaged entry applies nothing"
# cut short: the same
head -c $((size - 10)) "$T/a3.bundle" > "$T/short.bundle"
assert_refused hub import-bundle "$T/short.bundle"
assert_contains "$ERR" "truncated" "a cut bundle says so"
assert_eq "$before" "$(hub_values)" "a cut entry applies nothing"
# not a bundle at all
printf 'unit,element\n' > "$T/not.bundle"
assert_refused hub import-bundle "$T/not.bundle"
assert_contains "$ERR" "not a dtisync bundle" "a stray file is refused"
# two batches, the second cut: the first is applied exactly once
assert_exit 0 agent a set so_ho 100 --period 2023
assert_exit 0 agent a export-bundle "$T/a4.bundle" # batches 3 (so_thon) and 4 (so_ho)
size=$(stat -c %s "$T/a4.bundle")
head -c $((size - 20)) "$T/a4.bundle" > "$T/half.bundle"
assert_refused hub import-bundle "$T/half.bundle"
assert_contains "$OUT" "1 applied" "the whole batch before the damage is applied"
assert_eq 4 "$(hub_values | jq length)" "so_thon arrived, so_ho did not"
assert_exit 0 hub import-bundle "$T/a4.bundle"
assert_contains "$OUT" "1 already held" "the batch applied before is not applied again"
assert_contains "$OUT" "1 applied" "the rest arrives"
assert_eq 5 "$(hub_values | jq length)" "every value exactly once"

# --- who is missing what ---
assert_exit 0 hub gaps --json
assert_eq 4 "$(jq --arg a "$ida" '.[] | select(.agent == $a) | .last_seq' <<<"$OUT")" "gaps shows the last batch"
assert_eq "[]" "$(jq -c --arg a "$ida" '.[] | select(.agent == $a) | .missing' <<<"$OUT")" "nothing missing"
assert_eq '"bundle"' "$(jq -c --arg a "$ida" '.[] | select(.agent == $a) | .via.road' <<<"$OUT")" \
  "the last batch came by bundle"
done_ok
