#!/bin/sh
# Is the service of <role> answering, asked on the machine itself: the same in-machine
# conditions raw-cycle.sh's ready() checks (dns answers for the machine's own name; db and file
# let the lab's user log in). Used by the Ansible runner (ansible.builtin.script); passwords
# come by environment (DB_PASSWORD, SMB_PASSWORD), never on a command line.
# Arguments: <role> <ip> <fqdn>. Exit 0 when ready.
role=$1 ip=$2 fqdn=$3
case $role in
  dns) test "$(dig @127.0.0.1 +short +time=1 +tries=1 "$fqdn" A)" = "$ip" ;;
  db) PGPASSWORD=$DB_PASSWORD PGCONNECT_TIMEOUT=2 psql -h 127.0.0.1 -U labuser -d inventory -tAc 'select count(*) from assets' >/dev/null ;;
  file) PASSWD=$SMB_PASSWORD smbclient -t 3 //127.0.0.1/shared -U labuser -c 'ls readme.txt' >/dev/null ;;
  *) true ;;
esac
