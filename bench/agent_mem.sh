#!/usr/bin/env bash
# bench/agent_mem.sh - peak memory and time of one `dti-agent sync` that
# pushes 100,000 pending records, through the real command-line programs:
# a hub is created (init, units import, enroll), an agent is initialised
# with the token while the hub is down, 100,000 rows are imported into the
# agent, the hub is started, and `/usr/bin/time -v dti-agent sync` runs.
# Prints figures; asserts nothing. Everything lives in a temporary
# directory that is removed at the end; the hub is stopped by its PID.
#
# usage: bash bench/agent_mem.sh [BUILD_DIR]       (default: build)
# env:   ROWS (default 100000), DTI_UNITS (units CSV), KEEP=1 (keep the directory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
rows=${ROWS:-100000}
[ -d "$build" ] || { echo "agent_mem: no build directory '$build'" >&2; exit 1; }
hub_bin=$(cd "$build" && pwd)/hub/dti-hub
agent_bin=$(cd "$build" && pwd)/agent/dti-agent
units=${DTI_UNITS:-$here/../../shared/data/units-ninh-thuan-2023.csv}
time_bin=/usr/bin/time

for f in "$hub_bin" "$agent_bin" "$time_bin"; do
    [ -x "$f" ] || { echo "agent_mem: cannot find '$f' (build dti-hub and dti-agent first)" >&2; exit 1; }
done
[ -r "$units" ] || { echo "agent_mem: cannot read '$units'" >&2; exit 1; }
case $rows in '' | *[!0-9]*) echo "agent_mem: ROWS must be a number" >&2; exit 1 ;; esac
if [ "$rows" -lt 1 ] || [ "$rows" -gt 204000 ]; then
    echo "agent_mem: ROWS must be 1..204000 (120 elements x 1700 periods)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dti-agent-mem.XXXXXX")
hub_pid=
cleanup() {
    if [ -n "$hub_pid" ]; then
        kill -TERM "$hub_pid" 2>/dev/null || true
        wait "$hub_pid" 2>/dev/null || true
    fi
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# A loopback port nobody listens on (bounded tries).
port=
for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[ -n "$port" ] || { echo "agent_mem: no free port found" >&2; exit 1; }

hub=$tmp/hub agent=$tmp/agent
unit=$(awk -F, 'NR > 1 && $3 == "commune" { print $1; exit }' "$units")
"$hub_bin" --dir "$hub" init --listen "127.0.0.1:$port" >/dev/null
"$hub_bin" --dir "$hub" units import "$units" >/dev/null
token=$("$hub_bin" --dir "$hub" enroll --unit "$unit")
# the hub is not running yet: init records the token, enrolment completes at sync
"$agent_bin" --dir "$agent" init --token "$token" >/dev/null

# 100,000 rows of typical commune data: 120 elements per period, period by
# period (2023, the other years, quarters, months), integers 0-500, ~10%
# booleans, ~2% short Vietnamese text, one author.
awk -v rows="$rows" -v unit="$unit" 'BEGIN {
    np = 0; per[np++] = "2023"
    for (y = 2000; y <= 2099; y++) if (y != 2023) per[np++] = y
    for (y = 2000; y <= 2099; y++) for (q = 1; q <= 4; q++) per[np++] = y "Q" q
    for (y = 2000; y <= 2099; y++) for (m = 1; m <= 12; m++) per[np++] = sprintf("%d-%02d", y, m)
    split("dan_so lao_dong giao_duc y_te nong_nghiep ha_tang ngan_sach an_sinh", sec, " ")
    for (i = 0; i < 120; i++) {
        if (i % 3 == 0) el[i] = sprintf("e%03d", i + 1)
        else if (i % 3 == 1) el[i] = sprintf("chi_so_%d_%d", int(i / 10) + 1, i % 10 + 1)
        else el[i] = sprintf("%s.chi_tieu_%02d", sec[int(i / 3) % 8 + 1], int(i / 24) + 1)
    }
    split("đạt|chưa đạt|Tốt|Khá|đang triển khai", txt, "|")
    srand(42)
    print "unit,element,period,value,comment,author"
    for (i = 0; i < rows; i++) {
        r = int(rand() * 100)
        if (r < 10) v = (rand() < 0.5) ? "true" : "false"
        else if (r < 12) v = txt[int(rand() * 5) + 1]
        else v = int(rand() * 501)
        printf "%s,%s,%s,%s,,Nguyễn Văn A\n", unit, el[i % 120], per[int(i / 120)], v
    }
}' >"$tmp/values.csv"
"$agent_bin" --dir "$agent" import "$tmp/values.csv" >/dev/null

"$hub_bin" --dir "$hub" serve >"$tmp/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 200); do
    grep -q "listening on" "$tmp/hub.log" && break
    kill -0 "$hub_pid" 2>/dev/null || { cat "$tmp/hub.log" >&2; exit 1; }
    sleep 0.05
done
grep -q "listening on" "$tmp/hub.log" || { echo "agent_mem: the hub did not start" >&2; exit 1; }

set +e
"$time_bin" -v -o "$tmp/time.txt" "$agent_bin" --dir "$agent" sync >"$tmp/sync.out" 2>&1
status=$?
set -e
rss_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time.txt")
elapsed=$(awk -F': ' '/Elapsed \(wall clock\) time/ { print $2 }' "$tmp/time.txt")
user=$(awk -F': ' '/User time \(seconds\)/ { print $2 }' "$tmp/time.txt")
sys=$(awk -F': ' '/System time \(seconds\)/ { print $2 }' "$tmp/time.txt")
held=$("$hub_bin" --dir "$hub" values --unit "$unit" | wc -l)

echo "dti-agent sync of $rows records (unit $unit), hub on 127.0.0.1:$port"
sed 's/^/  sync: /' "$tmp/sync.out"
echo "  exit status:                 $status"
echo "  maximum resident set size:   $rss_kb kB = $(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }') MiB   (target <= 16 MiB)"
echo "  sync time (wall clock):      $elapsed   (user ${user} s, system ${sys} s)"
echo "  values the hub holds:        $held"
