#!/usr/bin/env bash
# Shared set-up for run.sh and test.sh: system packages when missing, then a venv
# with lmgate installed. Usage: scripts/setup.sh [pip extra, e.g. test] [apt package ...]
set -euo pipefail
cd "$(dirname "$0")/.."

extra="${1:-}"
shift || true
apt_needed=("$@")
command -v nginx >/dev/null 2>&1 || apt_needed+=(nginx-light)
[ -e /usr/lib/nginx/modules/ngx_http_js_module.so ] || [ -e /etc/nginx/modules/ngx_http_js_module.so ] \
  || apt_needed+=(libnginx-mod-http-js)
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_needed+=(python3-venv)

missing=()
for pkg in "${apt_needed[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "lmgate needs these Debian packages; install them, then run this again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]} ..." >&2
  # Debian starts nginx's system service on :80 when installed; lmgate runs its own.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
spec="."
[ -n "$extra" ] && spec=".[$extra]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$spec"
