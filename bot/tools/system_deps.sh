#!/usr/bin/env bash
# Debian packages the browser tests need: chromium and a CJK font.
# Installs them when missing (needs root, as on CI); otherwise says what to install.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qiE 'wenquanyi|noto.*cjk|wqy' || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ERROR: browser tests need: ${missing[*]}. Install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi
echo "==> apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q "${missing[@]}" >/dev/null
