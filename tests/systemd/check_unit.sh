#!/usr/bin/env bash
# The unit verifies clean and rates 2.0 or lower in systemd-analyze security.
# Usage: check_unit.sh UNIT LETTERD_BINARY
set -euo pipefail
unit=$1
binary=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# verify checks that ExecStart's program exists: point it at the build's.
sed "s|/usr/sbin/letterd|$binary|g" "$unit" >"$work/letterd.service"
out=$(systemd-analyze verify "$work/letterd.service" 2>&1) || { echo "$out"; exit 1; }
if [[ -n "$out" ]]; then
  echo "systemd-analyze verify is not clean:"
  echo "$out"
  exit 1
fi

rating=$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: $rating"
[[ -n "$rating" ]] || { echo "no rating"; exit 1; }
awk -v r="$rating" 'BEGIN { exit !(r <= 2.0) }' || { echo "exposure $rating is above 2.0"; exit 1; }
echo "unit verifies clean and rates $rating"
