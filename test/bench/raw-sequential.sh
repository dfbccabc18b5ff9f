#!/usr/bin/env bash
# The raw cycle (raw-cycle.sh) of every machine, one machine after another: how a team scripts
# patch verification by hand. Usage: raw-sequential.sh <plan file>, one machine a line:
#   <machine> <container> <role> <ip> <fqdn> <cycles>
# (environment and output: see raw-cycle.sh). Wall time is the bench's to measure.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/raw-cycle.sh"
while read -r m c role ip fqdn cycles; do
  [ -n "$m" ] || continue
  cycle_machine "$m" "$c" "$role" "$ip" "$fqdn" "$cycles" </dev/null
done <"$1"
