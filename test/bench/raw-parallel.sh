#!/usr/bin/env bash
# The same raw cycle (raw-cycle.sh) on every machine at once, one background job per machine:
# as fast as that work goes on this host. Usage and output: as raw-sequential.sh.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/raw-cycle.sh"
pids=()
while read -r m c role ip fqdn cycles; do
  [ -n "$m" ] || continue
  cycle_machine "$m" "$c" "$role" "$ip" "$fqdn" "$cycles" </dev/null &
  pids+=($!)
done <"$1"
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
