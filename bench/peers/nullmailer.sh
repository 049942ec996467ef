#!/usr/bin/env bash
# nullmailer as an organiser would use it: nullmailer-inject queues each
# letter (through the setuid nullmailer-queue), then nullmailer-send
# delivers the queue over SMTP and exits (pausetime 0). Its paths
# (/etc/nullmailer, /var/spool/nullmailer, /usr/lib/nullmailer) are
# compiled in, so it runs in a private mount namespace where overlays put
# them in place: the host is left untouched. Needs root (unshare, setpriv).
#
# Usage: nullmailer.sh PEERS WORK MSGDIR PORT
#   PEERS   the extracted nullmailer package (usr/bin, usr/sbin, usr/lib)
#   WORK    a scratch directory
#   MSGDIR  rendered letters, one NAME.eml each; the recipient is NAME@example.org
# Exits 0 when every letter was delivered.
set -euo pipefail
peers=$1 work=$2 msgdir=$3 port=$4

if [[ ${NULLMAILER_INSIDE:-} != 1 ]]; then
  rm -rf "$work" && mkdir -p "$work/etc/nullmailer" "$work/spool-layer/nullmailer" "$work/spool"/{queue,tmp,failed}
  echo bench.example.org >"$work/etc/mailname"
  echo "127.0.0.1 smtp --port=$port" >"$work/etc/nullmailer/remotes"
  echo 0 >"$work/etc/nullmailer/pausetime"
  echo example.org >"$work/etc/nullmailer/defaulthost"
  echo example.org >"$work/etc/nullmailer/defaultdomain"
  mkfifo "$work/spool/trigger"
  chown -R mail:root "$work/spool"
  chmod 750 "$work/spool/queue" "$work/spool/tmp"
  chmod 600 "$work/spool/trigger"
  NULLMAILER_INSIDE=1 exec unshare --mount --propagation private "$0" "$@"
fi

mount -t overlay nm-etc -o "lowerdir=$work/etc:/etc" /etc
mount -t overlay nm-lib -o "lowerdir=$peers/usr/lib:/usr/lib" /usr/lib
mount -t overlay nm-spool -o "lowerdir=$work/spool-layer:/var/spool" /var/spool
mount --bind "$work/spool" /var/spool/nullmailer

export NULLMAILER_QUEUE=$peers/usr/sbin/nullmailer-queue
for letter in "$msgdir"/*.eml; do
  name=$(basename "$letter" .eml)
  "$peers/usr/bin/nullmailer-inject" -f letters@example.org -a "$name@example.org" <"$letter"
done
setpriv --reuid=mail --regid=mail --clear-groups "$peers/usr/sbin/nullmailer-send" >"$work/send.log" 2>&1
# nullmailer-send exits 0 even when letters stay queued: count them.
[[ -z $(ls -A /var/spool/nullmailer/queue) && -z $(ls -A /var/spool/nullmailer/failed) ]]
