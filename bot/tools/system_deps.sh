#!/usr/bin/env bash
# Debian packages the tests need: chromium and a CJK font (browser tests), Dovecot (the e-mail channel against
# a real IMAP server). Installs them when missing (needs root, as on CI); otherwise says what to install.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qiE 'wenquanyi|noto.*cjk|wqy' || missing+=(fonts-wqy-microhei)
[ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ERROR: the tests need: ${missing[*]}. Install with: sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi
echo "==> apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The packages' own services (Dovecot's on ports 143/993) are not started: the tests start what they need.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -q >/dev/null
apt-get install -y -q "${missing[@]}" >/dev/null
