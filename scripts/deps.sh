#!/usr/bin/env bash
# Installs the Debian 12 packages pg_europeana needs to build, test, run the demo and the
# benchmarks. Idempotent: when everything is present it only runs dpkg-query (well under
# a second). Needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
  # build
  cmake g++ make pkg-config
  # PostgreSQL server, headers, pgTAP and pg_prove
  postgresql-15 postgresql-server-dev-15 postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl
  # inference and images
  libtorch-dev libopencv-dev
  # HTTP client, checksums, JSON
  libcurl4-openssl-dev libssl-dev nlohmann-json3-dev
  # client tools
  libpqxx-dev
  # unit tests and the libFuzzer target; the fake Europeana server (cpp-httplib, gzip)
  libgtest-dev clang libclang-rt-14-dev libcpp-httplib-dev zlib1g-dev
  # benchmark baselines (the pilot's Python pipeline) and test-model export
  python3 python3-torch python3-torchvision python3-pil python3-numpy
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} Debian packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: missing ${missing[*]} and not root (no sudo)" >&2; exit 1; }
  SUDO="sudo"
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
