#!/usr/bin/env bash
# Command (2): install what is needed, build, and run the whole test suite -
# unit tests, vectors and integration tests - first in a normal build, then
# again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/install-deps.sh

echo "== build (RelWithDebInfo) =="
scripts/build.sh "$here/build"
echo "== tests =="
(cd build && ctest --output-on-failure -j2)

if [ "${DTI_SKIP_ASAN:-0}" != 1 ]; then
  echo "== build (ASan + UBSan) =="
  scripts/build.sh "$here/build-asan" -DDTI_SANITIZE=ON
  echo "== tests under ASan + UBSan =="
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j2)
fi
