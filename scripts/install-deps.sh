#!/usr/bin/env bash
# Install the Debian 12 packages dtisync builds and tests with.
# Idempotent: does nothing (and prints nothing) when all are present.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libsqlite3-dev sqlite3
  libcurl4-openssl-dev
  libprotobuf-c-dev protobuf-c-compiler
  libssl-dev openssl
  libevent-dev
  libzstd-dev
  libjansson-dev
  libcmocka-dev
  curl
  jq
  faketime
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
