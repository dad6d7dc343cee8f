#!/bin/sh
# Format checks of a generated case: tshark decodes every capture without malformed packets,
# checksums are right, and (optionally) sigtrace ingest/directory accept the files.
#   check.sh CASE_DIR [--sigtrace]
set -u
D=$1
fail=0
for f in "$D"/captures/*; do
  b=$(basename "$f")
  case "$b" in
    intl-gw*) std="ITU" ;;           # the 14-bit M2PA link needs the ITU label; 24-bit links there are M3UA
    *) std="Chinese ITU" ;;
  esac
  bad=$(tshark -r "$f" -o "mtp3.standard:$std" -o sctp.checksum:CRC-32C -o udp.check_checksum:TRUE \
        -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
        -Y '_ws.malformed || _ws.expert.severity == error || sctp.checksum.status == 0 || udp.checksum.status == 0 || tcp.checksum.status == 0' \
        2>/dev/null | wc -l)
  n=$(tshark -r "$f" -T fields -e frame.number 2>/dev/null | wc -l)
  isup=$(tshark -r "$f" -o "mtp3.standard:$std" -Y isup -T fields -e isup.message_type 2>/dev/null | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
  sip=$(tshark -r "$f" -Y sip -T fields -e sip.Method -e sip.Status-Code 2>/dev/null | sort | uniq -c | awk '{printf "%s%s:%s ", $2, $3, $1}')
  echo "$b frames=$n malformed_or_error=$bad isup[$isup] sip[$sip]"
  [ "$bad" -ne 0 ] && fail=1
done
if [ "${2:-}" = "--sigtrace" ]; then
  db=$(mktemp -u /tmp/adv-check-XXXXXX.duckdb)
  /work/main/.venv/bin/sigtrace ingest "$D/captures" "$D/cdr" --db "$db" --json > "$db.ingest.json" 2>&1 || fail=1
  /work/main/.venv/bin/sigtrace directory "$D/exchanges.csv" "$D/trunks.csv" --db "$db" || fail=1
  /work/main/.venv/bin/sigtrace sql "select (select count(*) from decode_errors) as decode_errors, (select count(*) from cdr_rejects) as cdr_rejects, (select count(*) from isup_messages) as isup, (select count(*) from sip_messages) as sip, (select count(*) from cdr_legs) as cdr_legs" --db "$db" --format csv
  rm -f "$db" "$db.wal"
fi
exit $fail
