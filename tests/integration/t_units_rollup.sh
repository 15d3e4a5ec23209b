#!/usr/bin/env bash
# Units that change, and a district's communes together. Three wards and their
# district office record 2023 figures and sync; the hub scores 2023 and rolls
# the communes up by district; the district office's own roll-up of what it
# pulled agrees with the hub's figures for its district to the last digit.
# Then the 2024 ward merge and the 2025 abolition of districts are imported:
# the office of retired ward 22747 has a 2025 figure refused (naming 22750)
# while its 2023 figure is taken; the 2023 report still shows 22747 under its
# 2023 district and 22750 under its 2023 name; 2025 has no district level.
source "$(dirname "$0")/lib.sh"

P=2023
FW=$DTI_SOURCE_DIR/data/frameworks/ninh-thuan-commune-2023.json
CHANGES=$DTI_SOURCE_DIR/data/units-ninh-thuan-changes.csv
D=582   # Thành phố Phan Rang-Tháp Chàm
W1=22747 # Phường Phủ Hà: merged into 22750 on 2024-11-01
W2=22750 # Phường Thanh Sơn: renamed Phường Phủ Hà on 2024-11-01
W3=22741 # Phường Phước Mỹ
OTHER=22783 # Xã Phước Bình, district 584

hub_setup
assert_exit 0 hub framework import "$FW"
hub_start

# ---- 2023 figures from three wards and a commune of another district ----

fig() { # UNIT then ELEMENT VALUE pairs: a CSV of the unit's 2023 figures
  local u=$1
  shift
  echo "unit,element,period,value"
  while (($#)); do
    echo "$u,$1,$P,$2"
    shift 2
  done
}
fig $W1 truong_ban_cds chu_tich so_cuoc_hop_bcd 4 co_ke_hoach_cds true \
  tong_so_ho_so_tthc 200 ty_le_so_hoa_ho_so 50 >"$T/w1.csv"
fig $W2 truong_ban_cds pho_chu_tich so_cuoc_hop_bcd 2 so_cuoc_hop_chu_tich_chu_tri 1 \
  tong_so_ho_so_tthc 100 ty_le_so_hoa_ho_so 80 >"$T/w2.csv"
fig $W3 truong_ban_cds chu_tich so_cuoc_hop_bcd 3 ty_le_so_hoa_ho_so 20 >"$T/w3.csv"
fig $OTHER so_cuoc_hop_bcd 9 >"$T/other.csv"
for o in w1 w2 w3 other; do
  case $o in w1) u=$W1 ;; w2) u=$W2 ;; w3) u=$W3 ;; other) u=$OTHER ;; esac
  agent_new $o $u
  assert_exit 0 agent $o import "$T/$o.csv"
  assert_exit 0 agent $o sync
  assert_contains "$OUT" "accepted" "office $o's figures reach the hub"
done
agent_new d $D
assert_exit 0 agent d sync

# ---- the hub: score, group by district ----

assert_exit 0 hub score --period $P
assert_exit 0 hub report --period $P --level commune --group-by district --format json \
  --out "$T/groups.json"
g() { jq -c --arg d "$1" ".groups[] | select(.code == \$d) | $2" "$T/groups.json"; }
assert_eq 7 "$(jq '.groups | length' "$T/groups.json")" "one group per district of 2023"
assert_eq '[]' "$(jq -c .ungrouped "$T/groups.json")" "every commune stands under a district"
assert_eq 65 "$(jq '[.groups[].units] | add' "$T/groups.json")" "each commune counted once"
assert_eq '["Thành phố Phan Rang-Tháp Chàm","district",16,3]' "$(g $D '[.name, .level, .units, .reporting]')" \
  "district 582: 16 wards, 3 reporting"
# so_cuoc_hop_bcd sums to 4 + 2 + 3; ty_le_so_hoa_ho_so is weighted by tong_so_ho_so_tthc:
# (50 x 200 + 80 x 100) / 300 = 60 over the two wards that have both
assert_eq '[9,3]' "$(g $D '.elements[] | select(.code == "so_cuoc_hop_bcd") | [.value, .units]')" \
  "a sum over the district's wards"
assert_eq '[60,2]' "$(g $D '.elements[] | select(.code == "ty_le_so_hoa_ho_so") | [.value, .units]')" \
  "a weighted mean"
assert_eq '[9,1]' "$(g 584 '.elements[] | select(.code == "so_cuoc_hop_bcd") | [.value, .units]')" \
  "another district's sum"
assert_eq "$W1" "$(g $D '.ranking[0].code' | tr -d '"')" "ranking inside the district"
hub report --period $P --level commune --group-by district >"$T/groups.csv"
assert_eq 8 "$(wc -l <"$T/groups.csv")" "CSV: a header and one row per district"
assert_contains "$(grep '^582,' "$T/groups.csv")" "582,Thành phố Phan Rang-Tháp Chàm,huyện,16,3," "CSV: the district row"
assert_exit 0 hub report --period $P --level commune --group-by district --format html --out "$T/g.html"
assert_contains "$(cat "$T/g.html")" "Tổng hợp chỉ số DTI cấp xã theo huyện" "HTML: heading"
assert_exit 64 hub report --period $P --group-by district

# ---- the district office: the same figures from what it pulled ----

assert_exit 0 agent d sync
assert_exit 0 agent d rollup --period $P --json
echo "$OUT" >"$T/rollup.json"
pick='{units, reporting, completeness, dti, ranking: [.ranking[] | del(.name)], elements}'
assert_eq "$(g $D "$pick")" "$(jq -c "$pick" "$T/rollup.json")" \
  "the district office's roll-up equals the hub's group for $D"
assert_exit 0 agent d rollup --period $P
assert_contains "$OUT" "16 communes, 3 reporting" "rollup, text"
assert_refused agent w1 rollup --period $P
assert_contains "$ERR" "no commune in the scope of unit $W1" "a ward office has no roll-up"

# ---- the units change ----

assert_exit 0 hub units import "$CHANGES"
assert_exit 0 hub units list --json
assert_eq '["2024-10-31","22750"]' "$(jq -c --arg u $W1 '.[] | select(.code == $u) | [.valid_to, .successor]' <<<"$OUT")" \
  "22747 retired into 22750"

# the retired ward's office: a 2025 figure is refused, a late 2023 figure is taken
assert_exit 0 agent w1 set so_tin_bai_tuyen_truyen 5 --period 2025
assert_exit 0 agent w1 set so_tin_bai_tuyen_truyen 7 --period $P
assert_exit 0 agent w1 sync
assert_contains "$OUT" "1 rejected" "sync says one figure was rejected"
assert_contains "$OUT" "rejected by the hub: unit 22747 was merged into 22750 on 2024-11-01" \
  "and why, on the spot: the office is told its unit was retired"
agent w1 conflicts --json >"$T/w1c.json"
assert_eq "rejected" "$(jq -r '.open[] | select(.period == "2025") | .state' "$T/w1c.json")" \
  "the 2025 figure is rejected"
assert_contains "$(jq -r '.open[] | select(.period == "2025") | .note' "$T/w1c.json")" \
  "unit $W1 was merged into $W2 on 2024-11-01" "the reason names the successor and the date"
assert_eq 7 "$(hub values --json --unit $W1 --period $P | jq '.[] | select(.element == "so_tin_bai_tuyen_truyen") | .value')" \
  "the 2023 figure is accepted"
assert_eq 0 "$(hub values --json --unit $W1 --period 2025 | jq length)" "nothing stored for 2025"

# 2023 again, after the changes: units as they stood on 2023-12-31
assert_exit 0 hub score --period $P
hub report --period $P --level commune --format json >"$T/r2023.json"
assert_eq '["582","Thành phố Phan Rang-Tháp Chàm"]' \
  "$(jq -c --arg u $W1 '.units[] | select(.code == $u) | [.parent, .parent_name]' "$T/r2023.json")" \
  "22747 under its 2023 district"
assert_eq '"Phường Thanh Sơn"' "$(jq -c --arg u $W2 '.units[] | select(.code == $u) | .name' "$T/r2023.json")" \
  "22750 under its 2023 name"
assert_exit 0 hub report --period $P --level commune --group-by district --format json
assert_eq 16 "$(jq --arg d $D '.groups[] | select(.code == $d) | .units' <<<"$OUT")" "2023 roll-up unchanged"

# 2025: no district level, communes directly under Khánh Hòa, merged wards gone
jq '.period = "2025" | .id = "ninh-thuan-commune-2025"' "$FW" >"$T/fw2025.json"
assert_exit 0 hub framework import "$T/fw2025.json"
assert_exit 0 hub score --period 2025
hub report --period 2025 --level commune --format json >"$T/r2025.json"
assert_eq 62 "$(jq '.units | length' "$T/r2025.json")" "62 communes in effect at the end of 2025"
assert_eq '["56"]' "$(jq -c '[.units[].parent] | unique' "$T/r2025.json")" "every commune under province 56"
assert_eq '"Tỉnh Khánh Hòa"' "$(jq -c '.units[0].parent_name' "$T/r2025.json")" "the province's name"
assert_eq 0 "$(jq --arg u $W1 '[.units[] | select(.code == $u)] | length' "$T/r2025.json")" "22747 is not scored for 2025"
assert_eq '"Phường Phủ Hà"' "$(jq -c --arg u $W2 '.units[] | select(.code == $u) | .name' "$T/r2025.json")" "22750's new name"
assert_refused hub report --period 2025 --level commune --group-by district
assert_contains "$ERR" "stands under a district" "no district level in 2025"
assert_exit 0 hub report --period 2025 --level commune --group-by province --format json
assert_eq '["56",62]' "$(jq -c '.groups[0] | [.code, .units]' <<<"$OUT")" "2025 rolls up by province"

done_ok
