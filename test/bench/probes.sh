#!/bin/sh
# The service probes of one role, run ON THE LAB'S CLIENT machine (POSIX sh: the client's /bin/sh
# is dash), the way a team checks a server by hand: curl, openssl, dig, psql, smbclient.
# Used by the raw scripts (raw-cycle.sh) and the Ansible playbook alike, piped in once per role
# and phase (`docker exec -i <client> sh -s -- <role> <ip> <fqdn> < probes.sh`): the cheapest way
# to run the same checks, so the comparison is against the floor of the raw work.
#
# Each block mirrors one role suite check for check (suites/roles/<role>.spec.ts, depth full):
# same tool, same target (pinned to the machine's address), same expectation. One line per check:
#   ok <check>            |   not ok <check>: <why>
# Exit status: the number of failed checks (0 = all passed).
#
# Arguments: <role> <ip> <fqdn>. Environment: MACHINES="name fqdn ip roles,..;..." (every lab
# machine, for the dns checks), DOMAIN (the lab's zone). Credentials: the lab's, from its secrets
# (DB_PASSWORD, SMB_PASSWORD: the bench passes harness/lab/roles/credentials.ts's), passed to
# the tools by environment, as the suites do.
role=$1 ip=$2 fqdn=$3
failed=0
ok() { echo "ok $1"; }
no() { echo "not ok $1: $2"; failed=$((failed + 1)); }
CA=/usr/local/share/ca-certificates/patchlab-lab-ca.crt

web() {
  # The same curl call as suites/support/http.ts: headers and body, pinned with --resolve.
  get() { curl -sS -i --max-time 10 --resolve "$fqdn:$2:$ip" "$1"; }
  # 1. home page over HTTP: 200 and the marker.
  out=$(get "http://$fqdn/" 80)
  case "$out" in "HTTP/1.1 200"*patchlab-web-ok*) ok "home page over HTTP" ;; *) no "home page over HTTP" "$(echo "$out" | head -1)" ;; esac
  # 2. health check.
  out=$(get "http://$fqdn/healthz" 80)
  case "$out" in "HTTP/1.1 200"*) ok "health check /healthz" ;; *) no "health check /healthz" "$(echo "$out" | head -1)" ;; esac
  # 3. HTTPS verified against the lab CA only (--capath to nowhere: no system CA may vouch).
  out=$(curl -sS -i --max-time 10 --resolve "$fqdn:443:$ip" --cacert $CA --capath /nonexistent-capath "https://$fqdn/" 2>&1)
  case "$out" in "HTTP/1.1 200"*patchlab-web-ok*) ok "HTTPS with a lab-CA certificate" ;; *) no "HTTPS with a lab-CA certificate" "$(echo "$out" | head -1)" ;; esac
  # 4. and 5.: the certificate as suites/support/tls.ts reads it (one s_client per check, as there).
  cert() { openssl s_client -connect "$ip:443" -servername "$fqdn" </dev/null 2>/dev/null | openssl x509 -noout "$@"; }
  if cert -ext subjectAltName | grep -q "DNS:$fqdn\(,\|$\)"; then ok "certificate names the machine"; else no "certificate names the machine" "no DNS:$fqdn SAN"; fi
  if cert -checkend 604800 >/dev/null; then ok "certificate valid > 7 days"; else no "certificate valid > 7 days" "expires within 7 days"; fi
  # 6. a burst of 50 sequential requests, every one a 200.
  bad=0 i=0
  while [ $i -lt 50 ]; do
    c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --resolve "$fqdn:80:$ip" "http://$fqdn/")
    [ "$c" = 200 ] || bad=$((bad + 1))
    i=$((i + 1))
  done
  if [ $bad = 0 ]; then ok "burst of 50 requests"; else no "burst of 50 requests" "$bad failed"; fi
  # 7. a Server header.
  if get "http://$fqdn/" 80 | grep -qi '^server:'; then ok "Server header"; else no "Server header" "none"; fi
}

dns() {
  q() { dig @"$ip" "$1" "$2" +norecurse +time=2 +tries=1; }
  status() { echo "$1" | sed -n 's/.*status: \([A-Z]*\).*/\1/p'; }
  aa() { echo "$1" | grep -q '^;; flags:[a-z ]* aa[ ;]'; }
  ans() { echo "$1" | awk -v t="$2" '/^;; ANSWER SECTION:/{a=1;next} /^$/{a=0} a && $4==t {print $5}'; }
  nss=$(echo "$MACHINES" | tr ';' '\n' | awk '$4 ~ /(^|,)dns(,|$)/ {print $2"."}' | sort | tr '\n' ' ')
  # SOA with authority, primary among the lab's dns machines.
  out=$(q "$DOMAIN" SOA); mname=$(ans "$out" SOA)
  if [ "$(status "$out")" = NOERROR ] && aa "$out" && echo " $nss" | grep -q " $mname "; then ok "SOA with authority"; else no "SOA with authority" "$(status "$out") $mname"; fi
  # NS = the lab's dns machines.
  out=$(q "$DOMAIN" NS); got=$(ans "$out" NS | sort | tr '\n' ' ')
  if [ "$got" = "$nss" ]; then ok "NS lists the dns machines"; else no "NS lists the dns machines" "$got"; fi
  # A and PTR of every machine (one dig per name, as the suite does).
  bada="" badp=""
  for m in $(echo "$MACHINES" | tr ' ;' ',\n'); do
    n=$(echo "$m" | cut -d, -f2) a=$(echo "$m" | cut -d, -f3)
    [ "$(ans "$(q "$n" A)" A)" = "$a" ] || bada="$bada $n"
    rev=$(echo "$a" | awk -F. '{print $4"."$3"."$2"."$1".in-addr.arpa"}')
    [ "$(ans "$(q "$rev" PTR)" PTR)" = "$n." ] || badp="$badp $a"
  done
  if [ -z "$bada" ]; then ok "A of every machine"; else no "A of every machine" "$bada"; fi
  if [ -z "$badp" ]; then ok "PTR of every machine"; else no "PTR of every machine" "$badp"; fi
  # NXDOMAIN, authoritative, for a fresh random name.
  out=$(q "patchlab-nx-$(od -An -N4 -tx1 /dev/urandom | tr -d ' ').$DOMAIN" A)
  if [ "$(status "$out")" = NXDOMAIN ] && aa "$out"; then ok "NXDOMAIN"; else no "NXDOMAIN" "$(status "$out")"; fi
  # AA on the NS answer and on every machine's A answer.
  noaa=""
  aa "$(q "$DOMAIN" NS)" || noaa="NS"
  for n in $(echo "$MACHINES" | tr ';' '\n' | awk '{print $2}'); do aa "$(q "$n" A)" || noaa="$noaa $n"; done
  if [ -z "$noaa" ]; then ok "AA flag"; else no "AA flag" "$noaa"; fi
}

db() {
  export PGPASSWORD=${DB_PASSWORD:-labpass}
  psqlc() { PGCONNECT_TIMEOUT=5 psql -h "$ip" -p 5432 -U labuser -d inventory -X -q -A -t -F '|' -v ON_ERROR_STOP=1 -f -; }
  # Login over TCP as the lab role (inet_server_addr proves the network path).
  out=$(echo "select current_user, inet_server_addr(), 6 * 7;" | psqlc 2>&1)
  if [ "$out" = "labuser|$ip|42" ]; then ok "network login"; else no "network login" "$out"; fi
  # The sample data.
  out=$(echo "select hostname, site from assets order by hostname;" | psqlc 2>&1)
  miss=""; for h in app client db dns file web; do echo "$out" | grep -q "^$h|." || miss="$miss $h"; done
  if [ -z "$miss" ]; then ok "sample data"; else no "sample data" "missing$miss"; fi
  # Write + read back inside a rolled-back transaction; a second session must not see it.
  mark="patchlab-check-$(od -An -N4 -tx1 /dev/urandom | tr -d ' ')"
  out=$(printf "begin;\ninsert into assets (hostname, site) values ('%s', 'lab') returning id;\nselect hostname, site from assets where hostname = '%s';\nrollback;\n" "$mark" "$mark" | psqlc 2>&1)
  left=$(echo "select count(*) from assets where hostname = '$mark';" | psqlc 2>&1)
  if echo "$out" | grep -q "^$mark|lab$" && [ "$left" = 0 ]; then ok "rolled-back write"; else no "rolled-back write" "$out / $left"; fi
  # A second session served while another holds a transaction open (3 s, as in the suite).
  tag="patchlab-a-$(od -An -N3 -tx1 /dev/urandom | tr -d ' ')"
  echo "begin; select '$tag', pg_sleep(3); commit;" | psqlc >/dev/null 2>&1 &
  sleep 1
  n=$(echo "select count(*) from pg_stat_activity where usename = current_user and pid <> pg_backend_pid() and query like '%$tag%' and state = 'active';" | psqlc 2>&1)
  wait $! && a=0 || a=$?
  if [ "$n" = 1 ] && [ $a = 0 ]; then ok "second session"; else no "second session" "count $n, first session exit $a"; fi
}

file() {
  export PASSWD=${SMB_PASSWORD:-labpass}
  smb() { smbclient -t 5 "//$ip/shared" -U labuser -c "$1" 2>&1; }
  # The share lists readme.txt.
  if smb ls | grep -q '^ *readme\.txt '; then ok "lists the share"; else no "lists the share" "no readme.txt"; fi
  # put, get back, same content, delete.
  n="patchlab-check-$(od -An -N4 -tx1 /dev/urandom | tr -d ' ')"
  head -c 64 /dev/urandom | base64 > /tmp/$n
  smb "put /tmp/$n $n.txt" >/dev/null && smb "get $n.txt /tmp/$n.back" >/dev/null && smb "del $n.txt" >/dev/null && r=0 || r=1
  if [ $r = 0 ] && cmp -s /tmp/$n /tmp/$n.back; then ok "put and get back"; else no "put and get back" "round trip failed"; fi
  rm -f /tmp/$n /tmp/$n.back
  # put, rename, listed under the new name only, delete, gone.
  n="patchlab-check-$(od -An -N4 -tx1 /dev/urandom | tr -d ' ')"
  echo "$n" > /tmp/$n
  smb "put /tmp/$n $n.txt" >/dev/null; smb "rename $n.txt $n-renamed.txt" >/dev/null
  l1=$(smb ls); smb "del $n-renamed.txt" >/dev/null; l2=$(smb ls); rm -f /tmp/$n
  if echo "$l1" | grep -q " $n-renamed.txt " && ! echo "$l1" | grep -q " $n.txt " && ! echo "$l2" | grep -q "$n-renamed"; then ok "rename and delete"; else no "rename and delete" "listing wrong"; fi
  # A wrong password is refused for the password.
  if PASSWD="wrong-$n" smb ls | grep -q NT_STATUS_LOGON_FAILURE; then ok "wrong password refused"; else no "wrong password refused" "not NT_STATUS_LOGON_FAILURE"; fi
}

app() {
  get() { curl -sS -i --max-time "${2:-10}" --resolve "$fqdn:80:$ip" "http://$fqdn$1"; }
  out=$(get "/dokuwiki/doku.php?id=start")
  case "$out" in "HTTP/1.1 200"*patchlab-wiki-ok*) ok "wiki start page" ;; *) no "wiki start page" "$(echo "$out" | head -1)" ;; esac
  out=$(get "/")
  if echo "$out" | head -1 | grep -q ' 30[12378] ' && echo "$out" | grep -qi '^location:.*/dokuwiki/'; then ok "/ redirects to the wiki"; else no "/ redirects to the wiki" "$(echo "$out" | head -1)"; fi
  out=$(get "/dokuwiki/doku.php?id=start")
  if echo "$out" | head -1 | grep -q ' 200' && echo "$out" | grep -qi '^content-type: text/html' && ! echo "$out" | grep -q '<?php'; then ok "PHP rendered"; else no "PHP rendered" "$(echo "$out" | head -1)"; fi
  bad=""
  for p in lib/exe/css.php lib/exe/js.php; do
    out=$(get "/dokuwiki/$p" 20)
    { echo "$out" | head -1 | grep -q ' 200' && [ "$(echo "$out" | wc -c)" -gt 1000 ]; } || bad="$bad $p"
  done
  if [ -z "$bad" ]; then ok "stylesheet and scripts"; else no "stylesheet and scripts" "$bad"; fi
}

case "$role" in
  web | dns | db | file | app) $role ;;
  *) echo "not ok probes: no probes for role $role"; exit 100 ;;
esac
exit $failed
