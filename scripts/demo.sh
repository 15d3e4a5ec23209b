#!/usr/bin/env bash
# Command (1): install what is needed, build, and run the main job end to end
# on the embedded default (SQLite): a provincial hub on 127.0.0.1 with Ninh
# Thuận's units, three commune offices that enrol and record figures while
# the hub is down, then sync when it comes up - ending with what the hub holds.
#
#   scripts/demo.sh            (state goes to ./demo-data, wiped at start)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/install-deps.sh
scripts/build.sh "$here/build"

HUB="$here/build/hub/dti-hub"
AGENT="$here/build/agent/dti-agent"
UNITS="$here/data/units-ninh-thuan-2023.csv"   # a copy of shared/data, so the demo stands alone
D="$here/demo-data"
PORT=${DTI_DEMO_PORT:-18443}
rm -rf "$D"
mkdir -p "$D"
hub_pid=
cleanup() { [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null; true; }
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# first N CMD...: run CMD to completion, show its first N lines
first() { local n=$1; shift; "$@" > "$D/.out"; head -n "$n" "$D/.out"; }

step "operator: create the hub and import Ninh Thuận's administrative units"
"$HUB" --dir "$D/hub" init --listen "127.0.0.1:$PORT"
"$HUB" --dir "$D/hub" units import "$UNITS"

step "operator: import the commune indicator framework for 2023 (JSON data, no code)"
"$HUB" --dir "$D/hub" framework import "$here/data/frameworks/ninh-thuan-commune-2023.json"

step "operator: issue enrolment tokens for three communes"
declare -A unit_of=([thanhson]=22750 [phuocchien]=22837 [myhai]=22780)
for office in thanhson phuocchien myhai; do
  "$HUB" --dir "$D/hub" enroll --unit "${unit_of[$office]}" > "$D/$office.token"
  echo "$office (${unit_of[$office]}): $(cut -c1-48 "$D/$office.token")..."
done

step "offices: enrol while the hub is still down (enrolment completes on the first sync)"
for office in thanhson phuocchien myhai; do
  "$AGENT" --dir "$D/$office" init --token "$(cat "$D/$office.token")"
done

step "offices: record figures offline"
"$AGENT" --dir "$D/thanhson" set so_cuoc_hop_bcd 4 --period 2023 --author "Nguyễn Văn An" \
  --comment "Biên bản họp quý I-IV"
"$AGENT" --dir "$D/thanhson" set truong_ban_cds chu_tich --period 2023
"$AGENT" --dir "$D/thanhson" set co_ke_hoach_cds có --period 2023
cat > "$D/thanhson.csv" <<'CSV'
unit,element,period,value,comment,author
22750,tong_so_ho,2023,2150,,Nguyễn Văn An
22750,so_ho_cap_quang,2023,1763,Số liệu VNPT tháng 11,Nguyễn Văn An
22750,tong_so_ho_so_tthc,2023,1840,,Nguyễn Văn An
22750,so_ho_so_truc_tuyen,2023,1212,,Nguyễn Văn An
22750,so_cbcc,2023,21,,Nguyễn Văn An
22750,so_cbcc_duoc_tap_huan,2023,17,,Nguyễn Văn An
CSV
"$AGENT" --dir "$D/thanhson" import "$D/thanhson.csv"
cat > "$D/phuocchien.csv" <<'CSV'
unit,element,period,value,comment,author
22837,so_cuoc_hop_bcd,2023,3,Thiếu biên bản quý IV,Trần Thị Bích
22837,truong_ban_cds,2023,pho_chu_tich,,Trần Thị Bích
22837,tong_so_ho,2023,640,,Trần Thị Bích
22837,so_ho_cap_quang,2023,310,,Trần Thị Bích
22837,so_cbcc,2023,14,,Trần Thị Bích
22837,so_cbcc_duoc_tap_huan,2023,6,,Trần Thị Bích
22837,ghi_chu_do_thi_thong_minh,2023,Đường truyền chập chờn mùa mưa,,Trần Thị Bích
CSV
"$AGENT" --dir "$D/phuocchien" import "$D/phuocchien.csv"
"$AGENT" --dir "$D/myhai" set so_cuoc_hop_bcd 2 --period 2023
"$AGENT" --dir "$D/myhai" set so_dvc_truc_tuyen_toan_trinh 17 --period 2023
"$AGENT" --dir "$D/myhai" set so_tthc_cap_xa 95 --period 2023

step "an office tries to sync while the hub is down: exit 75, nothing lost"
set +e
"$AGENT" --dir "$D/myhai" sync
rc=$?
set -e
echo "(exit $rc)"
"$AGENT" --dir "$D/myhai" status

step "operator: start the hub"
"$HUB" --dir "$D/hub" serve 2> "$D/hub.log" &
hub_pid=$!
for _ in $(seq 1 50); do
  curl -sk "https://127.0.0.1:$PORT/v1/health" >/dev/null 2>&1 && break
  sleep 0.1
done
echo "hub running (pid $hub_pid), log in $D/hub.log"

step "offices: the link is back - sync"
for office in thanhson phuocchien myhai; do
  echo "-- $office"
  "$AGENT" --dir "$D/$office" sync
done

step "offices: sync again - nothing is sent twice"
"$AGENT" --dir "$D/thanhson" sync

step "hub: enrolled agents"
"$HUB" --dir "$D/hub" agents

step "hub: what the hub now holds"
"$HUB" --dir "$D/hub" values --period 2023

step "hub: the same as JSON (one commune)"
first 20 "$HUB" --dir "$D/hub" values --unit 22837 --json

step "office: provisional self-assessment with the framework received on sync"
first 25 "$AGENT" --dir "$D/thanhson" score --period 2023

step "operator: authoritative scoring, ranking and the report"
"$HUB" --dir "$D/hub" score --period 2023
first 5 "$HUB" --dir "$D/hub" report --period 2023 --level commune --format csv
"$HUB" --dir "$D/hub" report --period 2023 --level commune --format html --out "$D/report-2023.html"
echo "HTML report: $D/report-2023.html (also served at https://127.0.0.1:$PORT/v1/reports/2023.html)"
first 14 "$HUB" --dir "$D/hub" explain --unit 22750 --period 2023
