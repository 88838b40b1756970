#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for the hotline (idempotent): Debian packages, the Python
# virtualenv with the pinned dependencies, and Asterisk 22 in its chroot.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in mmdebstrap:mmdebstrap espeak-ng:espeak-ng sox:sox sipp:sip-tester ffmpeg:ffmpeg ip:iproute2 \
            unshare:util-linux chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "setup: need root for apt-get install ${need[*]}" >&2; exit 1; fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

.venv/bin/python -m hotline.cli --site "${SITE:-etc/site.example.toml}" asterisk install
