#!/usr/bin/env bash
# From offices' spreadsheets to the published ranking: the operator imports the
# Ninh Thuận commune framework (a broken copy is refused with every problem
# listed); three commune offices import their 2023 figures and sync; a
# district office overrides one figure of one commune; the hub scores 2023 and
# the reports (CSV, JSON, HTML), the explanation and the HTTPS page carry the
# figures worked out by hand below from the framework's methods.
source "$(dirname "$0")/lib.sh"

P=2023
FW=$DTI_SOURCE_DIR/data/frameworks/ninh-thuan-commune-2023.json
A=22738 # Phường Đô Vinh (district 582)
B=22741 # Phường Phước Mỹ (582)
C=22783 # Xã Phước Bình (584)
D=582   # Thành phố Phan Rang-Tháp Chàm

hub_setup

# ---- frameworks ----

# three mistakes in a copy of the shipped file; jq writes one key per line
jq '.indicators[0].components[2].method.numerator = "so_cuoc_hop_khong_co"
    | .pillars[0].indicators += ["10"]
    | .indicators[1].components[0].max_points = 20' "$FW" >"$T/broken.json"
assert_exit 1 hub framework import "$T/broken.json"
problems=$(grep -c "^dti-hub: $T/broken.json:[0-9]*: " <<<"$ERR" || true)
[[ $problems -ge 3 ]] || fail "every problem on its own line with file and line, got: $ERR"
_pass
assert_contains "$ERR" "indicators[0].components[2].method.numerator: unknown element 'so_cuoc_hop_khong_co'" \
  "the unknown element is named with its path"
assert_contains "$ERR" "pillars[0].indicators[7]: unknown indicator '10'" "the unknown indicator"
assert_contains "$ERR" "indicators[1].max_points" "the sum that does not add up"
assert_contains "$(tail -n 1 <<<"$ERR")" "dti-hub: cannot import framework: $T/broken.json:" \
  "the last line says what failed"
assert_contains "$ERR" "nothing was stored" "and that nothing was stored"
assert_eq 0 "$(hub framework list --json | jq length)" "the broken file stored nothing"

assert_exit 0 hub framework import "$FW" --by "Sở TT&TT"
assert_contains "$OUT" "as version 1 of the commune framework for 2023" "first import"
assert_exit 0 hub framework import "$FW"
assert_eq "unchanged: version 1 (ninh-thuan-commune-2023, commune 2023) is already in force" "$OUT" \
  "the same file again"
hub framework list --json >"$T/fw.json"
assert_eq '[1,"ninh-thuan-commune-2023","commune","2023","Sở TT&TT",true]' \
  "$(jq -c '.[0] | [.version, .id, .level, .period, .by, .in_force]' "$T/fw.json")" "framework list"
assert_eq 64 "$(jq -r '.[0].hash | length' "$T/fw.json")" "the content hash"
assert_exit 0 hub framework list
assert_contains "$OUT" "ninh-thuan-commune-2023" "framework list, text"

hub_start

# ---- the offices' figures ----

# 22738, by hand (component: points):
#  1.1 chu_tich 20 | 1.2 4 meetings 20 | 1.3 3/4 x 20 = 15 | 1.4 12 articles 15
#  | 1.5 one check of two 10                                   -> indicator 1:  80
#  2.1 plan 30 | 2.2 0/0, zero denominator "full" 40 | 2.3 both 30 -> 2: 100
#  3.1 600/1000 / 0.8 x 40 = 30 | 3.2 10/10 30 | 3.3 20/20 30      -> 3:  90
#  4.1 10/20 x 40 = 20 | 4.2 5/10 x 30 = 15 | 4.3 30               -> 4:  65
#  5.1 15/20 x 40 = 30 | 5.2 3 of 4 checks 30 | 5.3 tham_gia 10    -> 5:  70
#  6 informational (a camera is reported, earns nothing)
#  7.1 100/200 x 50 = 25 | 7.2 40/100 / 0.8 x 40 = 20 | 7.3 450/500 x 40 = 36
#  | 7.4 50% x 30 = 15 | 7.5 both 40                              -> 7: 136
#  8.1 15/100 / 0.3 x 50 = 25 | 8.2 60/100 x 50 = 30 | 8.3 3 products 35 -> 8: 90
#  9.1 70% x 40 = 28 | 9.2 3200/8000 / 0.8 x 40 = 20 | 9.3 800/1000 x 40 = 32
#  | 9.4 thuong_xuyen 30                                          -> 9: 110
# total 741 of 1000; the district then sets 1.4 to 6 articles (10): 736.
cat >"$T/a.csv" <<EOF
unit,element,period,value
$A,truong_ban_cds,$P,chu_tich
$A,so_cuoc_hop_bcd,$P,4
$A,so_cuoc_hop_chu_tich_chu_tri,$P,3
$A,so_tin_bai_tuyen_truyen,$P,12
$A,co_chuyen_muc_cds,$P,có
$A,co_hoi_nghi_quan_triet,$P,không
$A,co_ke_hoach_cds,$P,true
$A,so_van_ban_cds_yeu_cau,$P,0
$A,so_van_ban_cds_ban_hanh,$P,0
$A,co_quy_che_van_hanh,$P,true
$A,co_bo_tri_kinh_phi_cds,$P,true
$A,tong_so_ho,$P,1000
$A,so_ho_cap_quang,$P,600
$A,tong_so_thon,$P,10
$A,so_thon_co_4g,$P,10
$A,so_cbcc,$P,20
$A,so_may_tinh_cbcc,$P,20
$A,so_cbcc_duoc_tap_huan,$P,10
$A,so_thon_co_to_cnscd,$P,5
$A,co_cong_chuc_phu_trach_cds,$P,true
$A,so_may_tinh_co_phan_mem_diet_virus,$P,15
$A,co_quy_che_attt,$P,true
$A,co_phan_cong_attt,$P,true
$A,co_sao_luu_du_lieu,$P,false
$A,khong_co_su_co_nghiem_trong,$P,true
$A,muc_tham_gia_dien_tap,$P,tham_gia
$A,co_camera_giam_sat,$P,true
$A,tong_so_ho_so_tthc,$P,200
$A,so_ho_so_truc_tuyen,$P,100
$A,so_tthc_cap_xa,$P,100
$A,so_dvc_truc_tuyen_toan_trinh,$P,40
$A,tong_so_van_ban_di,$P,500
$A,so_van_ban_ky_so,$P,450
$A,ty_le_so_hoa_ho_so,$P,50
$A,su_dung_thu_dien_tu_cong_vu,$P,true
$A,su_dung_phan_mem_qlvb,$P,true
$A,tong_so_ho_kinh_doanh,$P,100
$A,so_ho_kd_tren_san_tmdt,$P,15
$A,so_ho_kd_thanh_toan_so,$P,60
$A,so_san_pham_quang_ba_truc_tuyen,$P,3
$A,ty_le_dan_co_tai_khoan_thanh_toan,$P,70
$A,dan_so_tu_14_tuoi,$P,8000
$A,so_nguoi_co_vneid_muc_2,$P,3200
$A,so_ho_co_dien_thoai_thong_minh,$P,800
$A,kenh_tuong_tac,$P,thuong_xuyen
EOF
# 22741: 1.1 pho_chu_tich 10 | 1.2 2 meetings 10 | 1.3 1/2 x 20 = 10 | 2.1 30 -> 60
printf 'unit,element,period,value\n%s,truong_ban_cds,%s,pho_chu_tich\n%s,so_cuoc_hop_bcd,%s,2\n%s,so_cuoc_hop_chu_tich_chu_tri,%s,1\n%s,co_ke_hoach_cds,%s,true\n' \
  $B $P $B $P $B $P $B $P >"$T/b.csv"
# 22783: 1.1 chu_tich 20 | 1.2 2 meetings 10 | 1.3 missing 0 | 2.1 30 -> 60, a tie with 22741
printf 'unit,element,period,value\n%s,truong_ban_cds,%s,chu_tich\n%s,so_cuoc_hop_bcd,%s,2\n%s,co_ke_hoach_cds,%s,có\n' \
  $C $P $C $P $C $P >"$T/c.csv"

for o in a b c; do
  unit_var=${o^^}
  agent_new $o "${!unit_var}"
  assert_exit 0 agent $o import "$T/$o.csv"
  assert_exit 0 agent $o sync
  assert_contains "$OUT" "accepted" "office $o's figures reach the hub"
done
# the district office corrects a figure of 22738: higher authority, it is what is scored
agent_new d $D
assert_exit 0 agent d set so_tin_bai_tuyen_truyen 6 --period $P --unit $A
assert_exit 0 agent d sync
assert_eq 6 "$(hub values --json --unit $A --period $P |
  jq '.[] | select(.element == "so_tin_bai_tuyen_truyen") | .value')" "the district's figure is current"

# ---- scoring ----

assert_exit 0 hub score --period $P --by "Tổ thẩm định"
assert_contains "$OUT" "run 1 scored period $P" "score: the run"
assert_contains "$OUT" "commune        65 units  framework version 1" "score: communes per level"
assert_contains "$OUT" "65 units in all" "score: the total"
assert_refused hub score --period 2019
assert_contains "$ERR" "no framework for period 2019" "scoring a period without a framework"

# ---- JSON ----

assert_exit 0 hub report --period $P --format json --out "$T/report.json"
assert_contains "$OUT" "wrote $T/report.json" "report --out"
jq -e . "$T/report.json" >/dev/null || fail "the JSON report parses"
_pass
r() { jq -c "$1" "$T/report.json"; }
assert_eq '["2023",1,null,"Tổ thẩm định",65]' "$(r '[.period, .run, .level, .ran_by, (.units | length)]')" \
  "report: period, run, level, operator, units"
assert_eq '[["22738",736,0.736,"Khá",1],["22741",60,0.06,"Yếu",2],["22783",60,0.06,"Yếu",2],["22744",0,0,"Yếu",4]]' \
  "$(r '[.units[0:4][] | [.code, .points, .dti, .band, .rank.level]]')" \
  "report: points worked out by hand, ranks with a tie, in rank order"
assert_eq '[1,1,16]' "$(r '[(.units[] | select(.code == "22783") | .rank.parent), (.units[] | select(.code == "22738") | .rank.parent, .rank.parent_units)]')" \
  "report: ranks within the parent district"
assert_eq '[75,100,90,65,70,0,136,90,110]' "$(r '[.units[0].indicators[].points]')" \
  "report: every main indicator's points (1.4 now 10)"
assert_eq '[["CQS",536,700],["KTS",490,650],["XHS",510,650]]' \
  "$(r '[.units[0].pillars[] | [.code, .points, .max]]')" "report: pillars"
assert_eq '[44,44]' "$(r '.units[0].completeness | [.present, .required]')" \
  "report: completeness: every required figure of 22738 collected"
assert_eq '[741,-5]' "$(r '.units[0].self_assessed | [.points, .gap]')" \
  "report: self-assessed 741 (the office's 12 articles), appraised 5 less"
assert_eq '[60,0]' "$(r '.units[1].self_assessed | [.points, .gap]')" "report: no gap for 22741"
assert_eq 'null' "$(r '.units[] | select(.code == "22744") | .self_assessed')" \
  "report: a commune that sent nothing has no self-assessment"
assert_eq 'null' "$(r '.units[0].growth')" "report: no 2022 result, no growth"
assert_eq '[20,20,15,10,10]' "$(r '[.units[0].components["1.1", "1.2", "1.3", "1.4", "1.5"]]')" \
  "report: component points"

# ---- CSV ----

hub report --period $P --level commune >"$T/report.csv"
assert_eq "efbbbf" "$(head -c 3 "$T/report.csv" | od -An -tx1 | tr -d ' \n')" "CSV: UTF-8 BOM"
assert_eq 66 "$(wc -l <"$T/report.csv")" "CSV: the header and one row per commune"
assert_eq 66 "$(grep -c $'\r$' "$T/report.csv")" "CSV: every line ends with CRLF"
assert_contains "$(head -n 1 "$T/report.csv")" "Mã đơn vị (code),Tên đơn vị (name),Cấp (level)" "CSV: header"
assert_contains "$(head -n 1 "$T/report.csv")" ",Chính quyền số (CQS),Kinh tế số (KTS),Xã hội số (XHS)," \
  "CSV: a column per pillar"
assert_eq "22738,Phường Đô Vinh,xã,582,Thành phố Phan Rang-Tháp Chàm,1,1,736,1000,0.736,Khá" \
  "$(sed -n 2p "$T/report.csv" | cut -d, -f1-11)" "CSV: the first row"
assert_eq "22741,Phường Phước Mỹ,2,60" "$(sed -n 3p "$T/report.csv" | cut -d, -f1,2,6,8)" "CSV: the tie, first"
assert_eq "22783,Xã Phước Bình,2,60" "$(sed -n 4p "$T/report.csv" | cut -d, -f1,2,6,8)" "CSV: the tie, second"
assert_refused hub report --period $P --level district
assert_contains "$ERR" "scored no district unit" "a level with no result"
assert_refused hub report --period 2024
assert_contains "$ERR" "period 2024 has not been scored" "a period never scored"
assert_exit 64 hub report --period $P --format pdf

# ---- HTML ----

assert_exit 0 hub report --period $P --format html --out "$T/report.html"
html=$(cat "$T/report.html")
assert_contains "$html" '<meta charset="utf-8">' "HTML: charset"
assert_contains "$html" "<svg" "HTML: inline SVG charts"
assert_contains "$html" "Kết quả đánh giá chỉ số chuyển đổi số (DTI) năm 2023" "HTML: Vietnamese heading"
assert_contains "$html" "<td>Phường Đô Vinh</td>" "HTML: the unit's name"
assert_not_contains "$html" "http://" "HTML: no external references"
assert_not_contains "$html" "https://" "HTML: no external references"

# ---- explain ----

assert_exit 0 hub explain --unit $A --period $P
assert_contains "$OUT" "22738 Phường Đô Vinh, period 2023: 736 of 1000 points, DTI 0.736, band Khá" "explain: totals"
assert_contains "$OUT" "stored inputs reproduce the result: yes" "explain: reproduced"
assert_contains "$OUT" "1.3    15/20  ok  ratio so_cuoc_hop_chu_tich_chu_tri=3 / so_cuoc_hop_bcd=4" \
  "explain: a ratio with its inputs"
assert_contains "$OUT" "1.4    10/20  ok  tiers so_tin_bai_tuyen_truyen=6 (>=24 -> 20, >=12 -> 15, >=6 -> 10, >=1 -> 5)" \
  "explain: tiers with the figure scored"
assert_contains "$OUT" "2.2    40/40  zero_denominator  ratio so_van_ban_cds_ban_hanh=0 / so_van_ban_cds_yeu_cau=0 (zero denominator: full)" \
  "explain: a zero denominator that earns full points"
assert_contains "$OUT" "6.1    0/0  informational  boolean co_camera_giam_sat=true" "explain: informational"
assert_contains "$OUT" "self-assessed: 741 points; appraised minus self-assessed: -5" "explain: the gap"
assert_exit 0 hub explain --unit $B --period $P --json
echo "$OUT" >"$T/explain.json"
assert_eq '[true,60,["co_bo_tri_kinh_phi_cds","co_chuyen_muc_cds"]]' \
  "$(jq -c '[.reproduced, .points, .missing_inputs[0:2]]' "$T/explain.json")" "explain --json: missing inputs"
assert_eq '[{"element":"so_cuoc_hop_chu_tich_chu_tri","value":1,"missing":false},{"element":"so_cuoc_hop_bcd","value":2,"missing":false}]' \
  "$(jq -c '.components[] | select(.code == "1.3") | [.inputs[] | {element, value, missing}]' "$T/explain.json")" \
  "explain --json: a component's inputs"
assert_refused hub explain --unit 584 --period $P
assert_contains "$ERR" "was not scored" "explain a unit that was not scored"

# ---- over HTTPS from the running hub ----

code=$(curl -sk --max-time 20 -o "$T/web.html" -w '%{http_code} %{content_type}' "$HUB_URL/v1/reports/$P.html")
assert_eq "200 text/html; charset=utf-8" "$code" "GET /v1/reports/2023.html"
web=$(cat "$T/web.html")
assert_contains "$web" "Phường Đô Vinh" "the page names the units in Vietnamese"
assert_contains "$web" "Xã Phước Bình" "the page names the units in Vietnamese"
assert_eq "$(cat "$T/report.html")" "$web" "the served page is the report"
code=$(curl -sk --max-time 20 -o "$T/web.csv" -w '%{http_code} %{content_type}' "$HUB_URL/v1/reports/$P.csv?level=commune")
assert_eq "200 text/csv; charset=utf-8" "$code" "GET /v1/reports/2023.csv?level=commune"
assert_eq "$(sha256sum <"$T/report.csv")" "$(sha256sum <"$T/web.csv")" "the served CSV is the report"
code=$(curl -sk --max-time 20 -o "$T/web.json" -w '%{http_code} %{content_type}' "$HUB_URL/v1/reports/$P.json")
assert_eq "200 application/json" "$code" "GET /v1/reports/2023.json"
assert_eq 736 "$(jq '.units[0].points' "$T/web.json")" "the served JSON"
code=$(curl -sk --max-time 20 -D "$T/h404" -o "$T/web404" -w '%{http_code}' "$HUB_URL/v1/reports/2022.html")
assert_eq 404 "$code" "a period never scored"
assert_contains "$(cat "$T/web404")" "period 2022 has not been scored" "the 404 says why"
assert_contains "$(tr -d '\r' <"$T/h404")" "X-DTI-Reason: not_found" "the 404's reason header"
code=$(curl -sk --max-time 20 -o /dev/null -w '%{http_code}' "$HUB_URL/v1/reports/$P.html?level=district")
assert_eq 404 "$code" "a level with no result"
code=$(curl -sk --max-time 20 -o /dev/null -w '%{http_code}' "$HUB_URL/v1/reports/$P.pdf")
assert_eq 404 "$code" "an unknown format"
code=$(curl -sk --max-time 20 -o /dev/null -w '%{http_code}' -X POST --data x "$HUB_URL/v1/reports/$P.html")
assert_eq 405 "$code" "reports are read with GET"

# scoring again with nothing changed: the same figures, a new run
assert_exit 0 hub score --period $P
assert_contains "$OUT" "run 2 scored period $P" "the second run"
hub report --period $P --format json >"$T/report2.json"
assert_eq "$(jq -c '[.units[] | [.code, .points, .rank, .input_hash]]' "$T/report.json")" \
  "$(jq -c '[.units[] | [.code, .points, .rank, .input_hash]]' "$T/report2.json")" \
  "a rerun gives identical results and input hashes"

hub_stop
done_ok
