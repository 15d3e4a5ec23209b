#!/usr/bin/env bash
# An office prints the fill-in template of the framework it received, fills
# some figures in (with awk, as a spreadsheet would), imports the file, and
# sees its provisional self-assessed score with what is still missing. Bad
# figures are refused at entry naming the bound, and nothing is recorded.
# After a sync and the hub's authoritative scoring, the hub's points for the
# unit equal the agent's preview exactly: same engine, same inputs, same
# input hash.
source "$(dirname "$0")/lib.sh"

P=2023
U=22750 # Phường Thanh Sơn, a commune
FW=$DTI_SOURCE_DIR/data/frameworks/ninh-thuan-commune-2023.json
NELEMENTS=$(jq '.elements | length' "$FW")

hub_setup
assert_exit 0 hub framework import "$FW"
hub_start
agent_new a $U

# before the first sync the office has no framework: a clear refusal, exit 1
assert_exit 1 agent a template --period $P
assert_contains "$ERR" "no framework for commune units in period $P yet; run 'dti-agent sync'" \
  "template before the framework arrived"
assert_exit 1 agent a score --period $P
assert_contains "$ERR" "run 'dti-agent sync'" "score before the framework arrived"

assert_exit 0 agent a sync

# ---- the template ----

assert_exit 0 agent a template --period $P --out "$T/template.csv"
assert_contains "$OUT" "$NELEMENTS figures for unit $U, period $P" "template --out says what it wrote"
assert_eq "efbbbf" "$(head -c 3 "$T/template.csv" | od -An -tx1 | tr -d ' \n')" "the template starts with a UTF-8 BOM"
assert_eq $((NELEMENTS + 1)) "$(wc -l <"$T/template.csv")" "one row per element, and the header"
assert_eq $((NELEMENTS + 1)) "$(grep -c $'\r$' "$T/template.csv")" "every line ends with CRLF"
assert_eq $'\xef\xbb\xbfunit,element,period,value,comment,author,ten_chi_tieu,kieu,gioi_han,bat_buoc,chi_so,minh_chung,mo_ta\r' \
  "$(head -n 1 "$T/template.csv")" "the header row"
assert_contains "$(cat "$T/template.csv")" \
  "$U,so_cuoc_hop_bcd,$P,,,,Số cuộc họp của Ban chỉ đạo CĐS trong năm,số nguyên,0..366,có,1.2; 1.3," \
  "a row: codes, blank value, Vietnamese name, type, bounds, required, components"
run agent a template --period $P
assert_eq "$(cat "$T/template.csv")" "$OUT" "the template on stdout is the file's content"

# fill in some figures, leave the others blank (the first three cells are codes,
# never quoted, so splitting on commas and joining again changes nothing else)
fill='
BEGIN {
  v["so_cuoc_hop_bcd"] = 4; v["so_cuoc_hop_chu_tich_chu_tri"] = 3; v["truong_ban_cds"] = "chu_tich"
  v["co_ke_hoach_cds"] = "có"; v["co_chuyen_muc_cds"] = "có"; v["so_tin_bai_tuyen_truyen"] = 13
  v["tong_so_ho"] = 1200; v["so_ho_cap_quang"] = 780; v["ty_le_so_hoa_ho_so"] = 62.5
  v["so_van_ban_cds_yeu_cau"] = 0; v["so_van_ban_cds_ban_hanh"] = 0; v["kenh_tuong_tac"] = "it_cap_nhat"
}
NR > 1 && ($2 in v) { $4 = v[$2] }
NR > 1 && $2 == "so_cuoc_hop_bcd" { $5 = "Biên bản họp số 1-4"; $6 = "Nguyễn Văn An" }
{ print }'
awk -F, -v OFS=, "$fill" "$T/template.csv" >"$T/filled.csv"
FILLED=12

# one figure out of bounds refuses the whole file, naming line and bound
awk -F, -v OFS=, 'NR > 1 && $2 == "tong_so_thon" { $4 = 5000 } { print }' "$T/filled.csv" >"$T/bad.csv"
bad_line=$(grep -n "^$U,tong_so_thon," "$T/bad.csv" | cut -d: -f1)
assert_refused agent a import "$T/bad.csv"
assert_contains "$ERR" "nothing was recorded" "import of a template with a bad figure"
assert_contains "$ERR" "bad.csv:$bad_line: tong_so_thon 5000 is above the maximum 1000" \
  "the refusal names the line and the bound"
assert_eq "[]" "$(agent a values --json)" "nothing recorded by the refused import"

assert_exit 0 agent a import "$T/filled.csv"
assert_contains "$OUT" "recorded $FILLED values" "import of the filled template"
assert_contains "$OUT" "$((NELEMENTS - FILLED)) rows without a value left as not collected" \
  "blank rows are skipped"
agent a values --json --period $P >"$T/values.json"
assert_eq $FILLED "$(jq length "$T/values.json")" "exactly the filled figures are held"
assert_eq '["pending"]' "$(jq -c '[.[].state] | unique' "$T/values.json")" "all pending"
assert_eq '[true,"Nguyễn Văn An","Biên bản họp số 1-4",62.5]' \
  "$(jq -c '[(.[] | select(.element == "co_ke_hoach_cds") | .value),
             (.[] | select(.element == "so_cuoc_hop_bcd") | .author, .comment),
             (.[] | select(.element == "ty_le_so_hoa_ho_so") | .value)]' "$T/values.json")" \
  "values, author and comment as filled in"

# a new template carries what is held
assert_exit 0 agent a template --period $P
assert_contains "$OUT" "$U,so_cuoc_hop_bcd,$P,4,Biên bản họp số 1-4,Nguyễn Văn An,Số cuộc họp" \
  "the next template is filled in with the figures held"

# ---- entry checks at set ----

agent a values --json >"$T/before.json"
assert_refused agent a set so_cuoc_hop_bcd 400 --period $P
assert_contains "$ERR" "so_cuoc_hop_bcd 400 is above the maximum 366" "set names the bound"
assert_refused agent a set co_ke_hoach_cds 3 --period $P
assert_contains "$ERR" "co_ke_hoach_cds expects a boolean" "set names the type"
assert_refused agent a set khong_co_chi_tieu_nay 1 --period $P
assert_contains "$ERR" "element 'khong_co_chi_tieu_nay' is not in framework ninh-thuan-commune-2023" \
  "an unknown element is refused"
assert_eq "$(cat "$T/before.json")" "$(agent a values --json)" "nothing recorded by the refused sets"

# ---- the provisional score ----

assert_exit 0 agent a score --period $P
assert_contains "$OUT" "Điểm tự đánh giá (tạm tính)" "the preview is marked provisional"
assert_contains "$OUT" "$FILLED pending sync" "the preview says which figures it used"
assert_contains "$OUT" "missing: co_hoi_nghi_quan_triet (Có tổ chức hội nghị quán triệt, phổ biến về CĐS trong năm)" \
  "missing inputs by code and Vietnamese name"
assert_exit 0 agent a score --period $P --json
echo "$OUT" >"$T/preview.json"
pv() { jq -c "$1" "$T/preview.json"; }
assert_eq true "$(pv .provisional)" "provisional: true"
assert_eq "\"$U\"" "$(pv .unit)" "the unit"
assert_eq '{"pending":12}' "$(pv .figures.by_state)" "the states of the figures used"
assert_eq '[20,"ok",20,"ok",30,"ok",40,"zero_denominator"]' \
  "$(pv '[.components[] | select(.code == "1.1" or .code == "1.2" or .code == "2.1" or .code == "2.2") | .points, .note]')" \
  "components scored from the figures filled in"
assert_eq '["missing",[{"element":"co_hoi_nghi_quan_triet","name":"Có tổ chức hội nghị quán triệt, phổ biến về CĐS trong năm"}]]' \
  "$(pv '[.components[] | select(.code == "1.5") | .note, .missing]')" "a check not collected is missing"
present=$(pv .inputs_present)
assert_eq "$present" "$(pv '.inputs_required - (.missing | length)')" "missing lists every required figure not collected"
assert_ne 0 "$present" "some inputs are present"
assert_eq '"ninh-thuan-commune-2023"' "$(pv .framework.id)" "the framework"
[[ $(pv .input_hash) =~ ^\"[0-9a-f]{64}\"$ ]] || fail "input_hash is 64 hex digits: $(pv .input_hash)"

# ---- the hub's authoritative score agrees ----

assert_exit 0 agent a sync
assert_exit 0 agent a score --period $P --json
echo "$OUT" >"$T/preview2.json"
assert_eq '{"synced":12}' "$(jq -c .figures.by_state "$T/preview2.json")" "after sync the figures are synced"
assert_eq "$(pv '[.points, .dti, .input_hash]')" "$(jq -c '[.points, .dti, .input_hash]' "$T/preview2.json")" \
  "the same figures give the same preview"

assert_exit 0 hub score --period $P
hub report --period $P --format json >"$T/report.json"
jq --arg u $U '.units[] | select(.code == $u)' "$T/report.json" >"$T/hub.json"
assert_eq "$(pv '[.points, .max, .dti, .band, .completeness, .input_hash]')" \
  "$(jq -c '[.points, .max, .dti, .band, .completeness.ratio, .input_hash]' "$T/hub.json")" \
  "hub report: points, max, DTI value, band, completeness and input hash equal the preview"
assert_eq "$(pv '[.components[] | {(.code): .points}] | add')" "$(jq -c .components "$T/hub.json")" \
  "hub report: every component's points equal the preview's"
hub explain --unit $U --period $P --json >"$T/explain.json"
assert_eq "$(pv '[.components[] | [.code, .points, .note]]')" \
  "$(jq -c '[.components[] | [.code, .points, .note]]' "$T/explain.json")" \
  "hub explain: every component's points and note equal the preview's"
assert_eq "$(pv '[.indicators[] | [.code, .points]]')" \
  "$(jq -c '[.indicators[] | [.code, .points]]' "$T/explain.json")" \
  "hub explain: every main indicator's points equal the preview's"

hub_stop
done_ok
