#!/usr/bin/env bash
# Functions dtisync does not use, and why (run by CTest as lint/checksrc):
#   sprintf, vsprintf   unbounded: use snprintf, xasprintf or buf_printf
#   strcpy, strcat      unbounded: use memcpy with a checked length, or snprintf
#   atoi, atol, atof    no error reporting: use parse_u64, parse_i64, parse_double
#   strtok              hidden global state: parse explicitly
#   gets                cannot be bounded at all
#   rand, srand         not random: use crypto_random (or a seeded generator in benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
banned='\b(sprintf|vsprintf|strcpy|strcat|atoi|atol|atof|strtok|gets|rand|srand)[[:space:]]*\('
hits=$(git ls-files 'common/*.[ch]' 'proto/*.[ch]' 'net/*.[ch]' 'agent/*.[ch]' 'hub/*.[ch]' \
  'bench/*.[ch]' 2>/dev/null | xargs grep -nE "$banned" || true)
if [ -n "$hits" ]; then
  echo "functions dtisync does not use (see scripts/checksrc.sh for why and what instead):"
  echo "$hits"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "checksrc: no banned function in the sources"
echo "1 passed, 0 failed"
