// Fixture patches for the watchers, built with dpkg-deb by the tests (buildDeb): each one
// passes an ordinary install and the immediate checks, and hurts in a way only a watcher
// sees. All target the web role (nginx). Reused by the run's pipeline tests.
import type { DebSpec } from "./support.ts";

/** Start a helper detached from dpkg's exec (own session, no inherited pipes) so dpkg returns. */
const detach = (cmd: string, out = "/dev/null") => `setsid ${cmd} </dev/null >${out} 2>&1 &`;

const script = (body: string) => `#!/bin/sh\n${body.trim()}\n`;

const stopOnRemove = (pattern: string) =>
  script(`
if [ "$1" = remove ] || [ "$1" = purge ]; then
  pkill -f ${pattern} || true
fi
exit 0`);

/** A daemon that writes an error line to the machine's console (the container log) every 0.3 s. */
export const errorLinesFixture: DebSpec = {
  name: "patchlab-fixture-errord",
  version: "1.0.0",
  files: {
    "usr/sbin/patchlab-errord": script(`
# Ships metrics to a collector that is not there, and says so, over and over.
n=0
while :; do
  n=$((n + 1))
  echo "patchlab-errord[$$]: ERROR: cannot send metrics batch $n to collector 127.0.0.1:8125: Connection refused"
  sleep 0.3
done`),
  },
  postinst: script(`
set -e
chmod 755 /usr/sbin/patchlab-errord
# Its output goes where the machine's services log: the console (what \`docker logs\` shows).
${detach("/usr/sbin/patchlab-errord", "/proc/1/fd/1")}
exit 0`),
  postrm: stopOnRemove("patchlab-errord"),
};

/** A helper that burns a CPU core. */
export const cpuBurnerFixture: DebSpec = {
  name: "patchlab-fixture-indexer",
  version: "1.0.0",
  files: { "usr/sbin/patchlab-indexer": script("while :; do :; done") },
  postinst: script(`
set -e
chmod 755 /usr/sbin/patchlab-indexer
${detach("/usr/sbin/patchlab-indexer")}
exit 0`),
  postrm: stopOnRemove("patchlab-indexer"),
};

/** A helper whose memory grows steadily (~40 MB/s, capped at 600 MB). */
export const memoryGrowerFixture: DebSpec = {
  name: "patchlab-fixture-cache",
  version: "1.0.0",
  files: {
    "usr/sbin/patchlab-cache": `#!/usr/bin/perl
# A cache that never evicts.
my @kept;
while (1) {
  push @kept, "x" x (4 << 20) if @kept < 150;
  select(undef, undef, undef, 0.1);
}
`,
  },
  postinst: script(`
set -e
chmod 755 /usr/sbin/patchlab-cache
${detach("/usr/sbin/patchlab-cache")}
exit 0`),
  postrm: stopOnRemove("patchlab-cache"),
};

/** nginx crashes (SIGKILL) every ~1.5 s and a watchdog the patch installs starts it again. */
export const crashRestartFixture: DebSpec = {
  name: "patchlab-fixture-nginx-guard",
  version: "1.0.0",
  depends: "nginx-common",
  files: {
    "usr/sbin/patchlab-nginx-guard": script(`
# "Restarts nginx when it dies" -- and a bug that kills it first.
while :; do
  sleep 1.5
  pkill -KILL -x nginx
  sleep 0.2
  /etc/init.d/nginx start >/dev/null 2>&1
done`),
  },
  postinst: script(`
set -e
chmod 755 /usr/sbin/patchlab-nginx-guard
${detach("/usr/sbin/patchlab-nginx-guard")}
exit 0`),
  postrm: stopOnRemove("patchlab-nginx-guard"),
};

/**
 * Puts a slow hop in front of the site: an nginx server that matches every host name (so it
 * wins over the default server) proxies to a small HTTP server that answers like the site,
 * 0.8 s late. Every check still passes; every answer is slower.
 */
export const slowAnswersFixture: DebSpec = {
  name: "patchlab-fixture-slow-proxy",
  version: "1.0.0",
  depends: "nginx-common",
  files: {
    "usr/sbin/patchlab-slow-backend": `#!/usr/bin/perl
use strict;
use IO::Socket::INET;
$SIG{CHLD} = "IGNORE";
my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:8089", Listen => 128, ReuseAddr => 1) or die "listen: $!";
while (1) {
  my $c = $s->accept or next;
  if (fork) { close $c; next }
  my $req = <$c> // "";
  while (my $l = <$c>) { last if $l =~ /^\\r?\\n$/ }
  my ($path) = $req =~ m{^\\S+ (\\S+)};
  $path //= "/";
  $path =~ s/\\?.*//;
  select(undef, undef, undef, 0.8);
  my ($code, $body) = (200, "ok");
  if ($path ne "/healthz") {
    $path .= "index.html" if $path =~ m{/$};
    if ($path !~ /\\.\\./ && open(my $f, "<", "/var/www/patchlab$path")) { local $/; $body = <$f> }
    else { ($code, $body) = (404, "not found\\n") }
  }
  print $c "HTTP/1.0 $code X\\r\\nContent-Type: text/html\\r\\nContent-Length: " . length($body) . "\\r\\nConnection: close\\r\\n\\r\\n$body";
  close $c;
  exit 0;
}
`,
    "etc/nginx/conf.d/patchlab-fixture-slow.conf": `# Installed by patchlab-fixture-slow-proxy.
server {
    listen 80;
    listen 443 ssl;
    server_name ~.;
    ssl_certificate     /etc/ssl/patchlab/server.crt;
    ssl_certificate_key /etc/ssl/patchlab/server.key;
    location / { proxy_pass http://127.0.0.1:8089; }
}
`,
  },
  postinst: script(`
set -e
chmod 755 /usr/sbin/patchlab-slow-backend
${detach("/usr/sbin/patchlab-slow-backend")}
sleep 0.3
nginx -t -q
invoke-rc.d nginx reload
# A reload is asynchronous: wait (up to 10 s) until answers come through the new hop.
i=0
while [ $i -lt 50 ]; do
  t=$(curl -s -o /dev/null -w '%{time_total}' http://127.0.0.1/healthz || echo 0)
  case "$t" in 0.[0-6]*|0) i=$((i + 1)); sleep 0.2 ;; *) break ;; esac
done
exit 0`),
  postrm: script(`
if [ "$1" = remove ] || [ "$1" = purge ]; then
  pkill -f patchlab-slow-backend || true
  invoke-rc.d nginx reload || true
fi
exit 0`),
};

/** Installs cleanly, passes the immediate checks, and stops nginx `afterS` seconds later. */
export const delayedBreakFixture = (afterS: number): DebSpec => ({
  name: "patchlab-fixture-logrotate-hook",
  version: "1.0.0",
  depends: "nginx-common",
  files: {
    "usr/sbin/patchlab-rotate-hook": script(`
# A log rotation hook that "restarts" nginx later -- and never starts it again.
sleep ${afterS}
/etc/init.d/nginx stop >/dev/null 2>&1`),
  },
  postinst: script(`
set -e
chmod 755 /usr/sbin/patchlab-rotate-hook
${detach("/usr/sbin/patchlab-rotate-hook")}
exit 0`),
  postrm: stopOnRemove("patchlab-rotate-hook"),
});

/** A good patch: security headers for nginx, reloaded (the demo batch's good patch). */
export const goodFixture: DebSpec = {
  name: "patchlab-fixture-good-headers",
  version: "1.0.0",
  depends: "nginx-common",
  files: {
    "etc/nginx/conf.d/patchlab-fixture-headers.conf": "add_header X-Content-Type-Options nosniff always;\nadd_header Referrer-Policy same-origin always;\n",
  },
  postinst: script(`
set -e
if [ "$1" = configure ]; then
  nginx -t -q
  invoke-rc.d nginx reload
fi`),
  postrm: script(`
if [ "$1" = remove ] || [ "$1" = purge ]; then invoke-rc.d nginx reload || true; fi
exit 0`),
};
