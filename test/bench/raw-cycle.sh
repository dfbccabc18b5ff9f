# shellcheck shell=bash
# The raw verification cycle of one machine, the way a team scripts it by hand with the docker
# CLI: snapshot (docker commit), baseline probes, install (docker cp + dpkg -i), probes,
# uninstall (dpkg --purge), probes, restore (docker rm + docker run from the snapshot + wait
# until the service answers). Sourced by raw-sequential.sh (one machine after another) and
# raw-parallel.sh (every machine at once). No harness: no fingerprint, no report, no gate.
#
# It does the SAME work as the patchlab run it is compared with: the bench passes, per machine,
# the install cycles patchlab did (read from that run's records: the chained aggregate, then each
# patch alone when the aggregate was rejected), and probes only the roles that have a suite.
#
# Environment (set by the bench):
#   CLIENT     the lab's client container (vantage point of every probe)
#   NETWORK    the lab's docker network;  DOMAIN the lab's DNS zone
#   MACHINES   every lab machine "name fqdn ip roles;..." (for the dns probes)
#   PROBE_ROLES  roles that have a suite, space separated (others are not probed)
#   RAW_TAG    a unique tag for this script run's snapshot images
# Output: one line per timed step, "T <machine> <step> <ms>", and per probe run
#   "P <machine> <phase> <passed> <failed>", on stdout (the bench parses it); probe details on stderr.

HERE=${HERE:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Runs the probes of <role> against <ip> <fqdn> from the client: one `docker exec`, the script
# piped on stdin. Prints the P line; the check lines go to stderr for a person to read.
probe() { # machine phase role ip fqdn
  local out rc
  case " $PROBE_ROLES " in *" $3 "*) ;; *) return 0 ;; esac
  # The lab's passwords pass through by name (-e NAME): never on a command line.
  out=$(docker exec -i -e MACHINES="$MACHINES" -e DOMAIN="$DOMAIN" -e DB_PASSWORD -e SMB_PASSWORD "$CLIENT" sh -s -- "$3" "$4" "$5" <"$HERE/probes.sh")
  rc=$?
  echo "$out" | sed "s/^/[$1 $2] /" >&2
  echo "P $1 $2 $(echo "$out" | grep -c '^ok ') $(echo "$out" | grep -c '^not ok ')"
  return $rc
}

# Is the service of <role> on <container>/<ip> answering? The same conditions patchlab's role
# readiness waits for (harness/lab/roles/<role>.ts): ports open and the service's own answer.
ready() { # role container ip fqdn
  local tcp='exec 3<>/dev/tcp/'
  case $1 in
    web) (eval "$tcp$3/80") 2>/dev/null && (eval "$tcp$3/443") 2>/dev/null &&
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$3/healthz")" = 200 ] ;;
    dns) docker exec "$2" sh -c "test \"\$(dig @127.0.0.1 +short +time=1 +tries=1 $4 A)\" = $3" 2>/dev/null ;;
    db) (eval "$tcp$3/5432") 2>/dev/null &&
      PGPASSWORD=${DB_PASSWORD:-labpass} docker exec -e PGPASSWORD -e PGCONNECT_TIMEOUT=2 "$2" psql -h 127.0.0.1 -U labuser -d inventory -tAc 'select count(*) from assets' >/dev/null 2>&1 ;;
    file) (eval "$tcp$3/445") 2>/dev/null &&
      PASSWD=${SMB_PASSWORD:-labpass} docker exec -e PASSWD "$2" smbclient -t 3 //127.0.0.1/shared -U labuser -c 'ls readme.txt' >/dev/null 2>&1 ;;
    app) (eval "$tcp$3/80") 2>/dev/null &&
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$3/dokuwiki/doku.php?id=start")" = 200 ] ;;
    *) docker exec "$2" true ;;
  esac
}

# Polls ready() fast at first and backs off to 0.5 s, as patchlab's waitUntil does; 120 s at most.
wait_ready() { # role container ip fqdn
  local delay=0.025 until=$(($(date +%s) + 120))
  until ready "$@"; do
    [ "$(date +%s)" -lt $until ] || { echo "[$2] not ready after 120 s" >&2; return 1; }
    sleep $delay
    delay=$(awk -v d=$delay 'BEGIN { d *= 2; print (d > 0.5 ? 0.5 : d) }')
  done
}

# Recreates <container> from <image> with the machine's name, address and aliases on the lab
# network (labels, command and environment come with the committed image).
recreate() { # container image machine ip fqdn
  docker rm -f "$1" >/dev/null &&
    docker run -d --name "$1" --hostname "$3" --domainname "$DOMAIN" \
      --network "$NETWORK" --ip "$4" --network-alias "$3" --network-alias "$5" \
      --cap-add NET_ADMIN --cap-add SYS_PTRACE --tmpfs /run:rw,exec --tmpfs /tmp:rw,exec \
      "$2" >/dev/null
}

# One machine's whole cycle. <cycles>: install sets separated by ";", each a ","-list of
# <deb path>:<package>, installed together in that order and removed in reverse.
cycle_machine() { # machine container role ip fqdn cycles
  local m=$1 c=$2 role=$3 ip=$4 fqdn=$5 cycles=$6 t snap set item deb pkg ok rev
  snap="bench-raw/$c:$RAW_TAG"
  t=$(now_ms); docker commit "$c" "$snap" >/dev/null || return 1
  echo "T $m snapshot $(($(now_ms) - t))"
  t=$(now_ms); probe "$m" baseline "$role" "$ip" "$fqdn"; echo "T $m baseline $(($(now_ms) - t))"
  IFS=';' read -ra sets <<<"$cycles"
  for set in "${sets[@]}"; do
    IFS=',' read -ra items <<<"$set"
    ok=1 rev=()
    t=$(now_ms)
    for item in "${items[@]}"; do
      deb=${item%:*} pkg=${item##*:}
      # /var/cache exists on every image (docker cp cannot write into the /tmp tmpfs).
      docker cp "$deb" "$c:/var/cache/" &&
        docker exec -e DEBIAN_FRONTEND=noninteractive "$c" dpkg --force-confold -i "/var/cache/$(basename "$deb")" >/dev/null 2>&1 ||
        { ok=0; break; }
      rev=("$pkg" "${rev[@]}")
    done
    echo "T $m install $(($(now_ms) - t))"
    if [ $ok = 1 ]; then
      t=$(now_ms); probe "$m" post-install "$role" "$ip" "$fqdn"; echo "T $m post-install $(($(now_ms) - t))"
      t=$(now_ms)
      for pkg in "${rev[@]}"; do docker exec -e DEBIAN_FRONTEND=noninteractive "$c" dpkg --purge "$pkg" >/dev/null 2>&1 || ok=0; done
      echo "T $m uninstall $(($(now_ms) - t))"
      if [ $ok = 1 ]; then
        t=$(now_ms); probe "$m" post-uninstall "$role" "$ip" "$fqdn"; echo "T $m post-uninstall $(($(now_ms) - t))"
      fi
    fi
    # Restore: whatever happened above, the machine goes back to its snapshot.
    t=$(now_ms); recreate "$c" "$snap" "$m" "$ip" "$fqdn" && wait_ready "$role" "$c" "$ip" "$fqdn"
    echo "T $m restore $(($(now_ms) - t))"
  done
  # The snapshot's tag goes; the image itself stays while the restored machine runs on it.
  docker rmi -f "$snap" >/dev/null 2>&1 || true
}
