#!/usr/bin/env bash
# A merged unit's earlier values rolled into its successor, on request. Wards
# 22747 and 22750 (and 22753, a chair only) send 2023 figures; the hub scores
# 2023; the 2024 ward merge is imported. `report --merge-into-successors`
# shows 22750 alone for the wards, its figures the sums and weighted means of
# the wards', rescored, with merged_from; the normal report and the stored
# run are untouched; an as-of date before the merge merges nothing.
source "$(dirname "$0")/lib.sh"

P=2023
FW=$DTI_SOURCE_DIR/data/frameworks/ninh-thuan-commune-2023.json
CHANGES=$DTI_SOURCE_DIR/data/units-ninh-thuan-changes.csv

hub_setup
assert_exit 0 hub framework import "$FW"
hub_start

printf 'unit,element,period,value\n22747,so_cuoc_hop_bcd,%s,10\n22747,tong_so_ho_so_tthc,%s,200
22747,ty_le_so_hoa_ho_so,%s,50\n22747,truong_ban_cds,%s,chu_tich\n' $P $P $P $P >"$T/w1.csv"
printf 'unit,element,period,value\n22750,so_cuoc_hop_bcd,%s,5\n22750,tong_so_ho_so_tthc,%s,100
22750,ty_le_so_hoa_ho_so,%s,80\n22750,truong_ban_cds,%s,pho_chu_tich\n' $P $P $P $P >"$T/w2.csv"
printf 'unit,element,period,value\n22753,truong_ban_cds,%s,chu_tich\n' $P >"$T/w3.csv"
for o in w1:22747 w2:22750 w3:22753; do
  agent_new "${o%%:*}" "${o#*:}"
  assert_exit 0 agent "${o%%:*}" import "$T/${o%%:*}.csv"
  assert_exit 0 agent "${o%%:*}" sync
  assert_contains "$OUT" "accepted" "office ${o%%:*}'s figures reach the hub"
done
assert_exit 0 hub score --period $P
assert_exit 0 hub units import "$CHANGES"

hub report --period $P --level commune --format json >"$T/before.json"
runs() { sqlite3 "$HUB_DIR/hub.db" 'SELECT count(*) FROM score_runs; SELECT count(*) FROM results;'; }
stored=$(runs)

assert_exit 0 hub report --period $P --level commune --merge-into-successors --as-of 2026-01-01 \
  --format json --out "$T/m.json"
u() { jq -c --arg u "$1" ".units[] | select(.code == \$u) | $2" "$T/m.json"; }
assert_eq '"2026-01-01"' "$(jq -c .merged_into_successors.as_of "$T/m.json")" "the as-of date"
assert_eq 62 "$(jq '.units | length' "$T/m.json")" "65 communes of 2023, three rolled into 22750"
assert_eq '["22747","22753","22756"]' "$(u 22750 .merged_from)" "merged_from"
assert_eq '"Phường Phủ Hà"' "$(u 22750 .name)" "22750 under its name on the as-of date"
assert_eq '[15,300,60,"pho_chu_tich"]' \
  "$(u 22750 '.inputs | [.so_cuoc_hop_bcd, .tong_so_ho_so_tthc, .ty_le_so_hoa_ho_so, .truong_ban_cds]')" \
  "sum, sum, weighted mean (50x200 + 80x100)/300, the successor's own chair"
assert_eq 0 "$(jq '[.units[] | select(.code == "22747" or .code == "22753")] | length' "$T/m.json")" \
  "the merged wards are not listed on their own"
assert_eq '[]' "$(u 22741 .merged_from)" "a ward merged nowhere"
assert_eq "$(jq -c '.units[] | select(.code == "22741") | [.points, .input_hash]' "$T/before.json")" \
  "$(u 22741 '[.points, .input_hash]')" "... keeps its stored score"
assert_eq 1 "$(u 22750 .rank.level)" "ranked among the merged units"

# the normal report and the stored run are untouched
assert_eq "$(cat "$T/before.json")" "$(hub report --period $P --level commune --format json)" \
  "the normal report is unchanged"
assert_eq "$stored" "$(runs)" "nothing stored"
assert_eq 65 "$(jq '.units | length' "$T/before.json")" "the normal report lists every ward"

# before the merge took effect, nothing is merged
assert_exit 0 hub report --period $P --level commune --merge-into-successors --as-of 2024-06-01 \
  --format json
assert_eq '[65,0]' "$(jq -c '[(.units | length), ([.units[].merged_from[]] | length)]' <<<"$OUT")" \
  "as of 2024-06-01: no merge"

# CSV and HTML; today by default; refusals
assert_exit 0 hub report --period $P --level commune --merge-into-successors
assert_contains "$(head -1 <<<"$OUT")" "Gộp từ (merged from)" "CSV: the merged-from column"
assert_contains "$(grep '^22750,' <<<"$OUT")" '"22747, 22753, 22756"' "CSV: 22750's row"
assert_exit 0 hub report --period $P --level commune --merge-into-successors --format html
assert_contains "$OUT" "<td>22747, 22753, 22756</td>" "HTML: the merged-from cell"
assert_exit 64 hub report --period $P --merge-into-successors
assert_exit 64 hub report --period $P --level commune --as-of 2026-01-01
assert_exit 64 hub report --period $P --level commune --group-by district --merge-into-successors
assert_refused hub report --period $P --level commune --merge-into-successors --as-of 2026-13-01
assert_contains "$ERR" "invalid date '2026-13-01'" "a bad date"

done_ok
