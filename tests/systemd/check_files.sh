#!/usr/bin/env bash
# sysusers.d and tmpfiles.d, applied to a scratch root, give the queue the
# modes the README promises: group letterd-submit may pass through the spool
# and write into tmp/ and new/, and nothing else.
# Usage: check_files.sh SOURCE_DIR
set -euo pipefail
src=$1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc" "$root/var/spool"
touch "$root/etc/passwd" "$root/etc/group" "$root/etc/shadow" "$root/etc/gshadow"
systemd-sysusers --root="$root" "$src/systemd/letterd.sysusers" >/dev/null 2>&1
systemd-tmpfiles --root="$root" --create "$src/systemd/letterd.tmpfiles"

grep -q '^letterd:x:[0-9]*:[0-9]*:.*:/var/lib/letterd:/usr/sbin/nologin$' "$root/etc/passwd"
grep -q '^letterd-submit:x:[0-9]*:letterd$' "$root/etc/group"
uid=$(awk -F: '$1 == "letterd" { print $3 }' "$root/etc/passwd")
submit=$(awk -F: '$1 == "letterd-submit" { print $3 }' "$root/etc/group")

fail=0
expect() {  # path mode owner-uid group-gid
  local got
  got=$(stat -c '%a %u %g' "$root/var/spool/letterd$1")
  if [[ "$got" != "$2 $3 $4" ]]; then
    echo "/var/spool/letterd$1: $got, want $2 $3 $4"
    fail=1
  fi
}
expect ""          710  "$uid" "$submit"
expect /tmp        3770 "$uid" "$submit"
expect /new        3770 "$uid" "$submit"
expect /rejected   750  "$uid" "$uid"
expect /accepted   750  "$uid" "$uid"
[[ $fail -eq 0 ]] && echo "queue modes as promised"
exit $fail
