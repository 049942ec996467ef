#!/usr/bin/env bash
# Intake at scale: COUNT files (default 100000) waiting in new/ before
# `letterd run --once` starts, the relay unreachable so only intake is
# timed. Prints the wall time and peak RSS from /usr/bin/time.
# Usage: bench/ingest.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
letterd=$(realpath "${LETTERD_BIN:-build/letterd}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/queue/new" "$work/queue/tmp"
/usr/bin/python3 - "$count" "$work/queue/new" <<'PY'
import json, sys
count, new = int(sys.argv[1]), sys.argv[2]
for i in range(count):
    sub = {"id": f"s{i}", "campaign": "legal-advocacy", "letters": ["justice-secretary"],
           "supporter": {"name": f"Supporter {i}", "email": f"s{i}@example.org",
                         "postcode": "SW1A 1AA", "address": "1 Example Street"},
           "authorisation": {"given": True, "at": "2026-11-24T10:00:00Z", "statement": "I authorise it."}}
    with open(f"{new}/s{i}.json", "w") as f:
        json.dump(sub, f)
PY
cat >"$work/letterd.yaml" <<YAML
queue_dir: $work/queue
database: $work/letterd.db
log_level: warn
relays:
  local: { url: "smtp://127.0.0.1:9", tls: none }   # discard port: nothing listens
campaigns:
  legal-advocacy:
    relay: local
    from: { address: letters@example.org, name: "{{supporter.name}} via Example Campaign" }
    require: [postcode, address]
    targets: $PWD/config/targets/uk-mps.csv
    letters:
      justice-secretary: { template: $PWD/templates/justice-secretary.txt, to: { target: justice-secretary } }
YAML
/usr/bin/time -f "ingest of $count files: %e s wall, peak RSS %M KiB" "$letterd" -c "$work/letterd.yaml" run --once 2>&1 \
  | grep -E "^ingest of" || true
left=$(ls "$work/queue/new" | wc -l)
echo "left in new/: $left; messages: $(sqlite3 "$work/letterd.db" 'SELECT count(*) FROM messages')"
