// The bench's patches, built with dpkg-deb like the self-tests' (test/integration/support.ts
// buildDeb): a good nginx patch, a good patch for every other server role (each reloads its
// service, as a real config update would), and one known-bad nginx patch (its config does not
// parse and its postinst restarts nginx regardless, leaving it stopped). Manifests and batches
// are written beside the .debs; batches name the lab by path or name.
import fs from "node:fs";
import path from "node:path";
import { buildDeb, type DebSpec } from "../integration/support.ts";

export interface BenchPatch { id: string; role: string; deb: string; pkg: string; good: boolean; }

const reload = (svc: string) => `#!/bin/sh\nset -e\nif [ "$1" = configure ]; then invoke-rc.d ${svc} reload; fi\n`;
const reloadAfterRemove = (svc: string) => `#!/bin/sh\nset -e\nif [ "$1" = remove ] || [ "$1" = purge ]; then invoke-rc.d ${svc} reload || true; fi\n`;

const SPECS: { id: string; role: string; good: boolean; spec: DebSpec }[] = [
  {
    id: "BENCH-WEB-OK", role: "web", good: true,
    spec: {
      name: "patchlab-bench-nginx-headers", version: "1.0.0", depends: "nginx-common",
      files: { "etc/nginx/conf.d/patchlab-bench-headers.conf": "add_header X-Content-Type-Options nosniff always;\n" },
      postinst: `#!/bin/sh\nset -e\nif [ "$1" = configure ]; then nginx -t -q; invoke-rc.d nginx reload; fi\n`,
      postrm: reloadAfterRemove("nginx"),
    },
  },
  {
    id: "BENCH-WEB-BAD", role: "web", good: false,
    spec: {
      name: "patchlab-bench-nginx-tuning", version: "2.0.0", depends: "nginx-common",
      files: { "etc/nginx/conf.d/patchlab-bench-tuning.conf": "worker_connections 4096;\n" },
      // The bug on purpose: the failed start is ignored and nginx is left stopped.
      postinst: `#!/bin/sh\nif [ "$1" = configure ]; then invoke-rc.d nginx stop || true; invoke-rc.d nginx start || true; fi\nexit 0\n`,
    },
  },
  {
    id: "BENCH-DNS-OK", role: "dns", good: true,
    spec: { name: "patchlab-bench-bind-note", version: "1.0.0", files: { "usr/share/doc/patchlab-bench-bind-note/README": "bench fixture\n" }, postinst: reload("named"), postrm: reloadAfterRemove("named") },
  },
  {
    id: "BENCH-DB-OK", role: "db", good: true,
    spec: {
      name: "patchlab-bench-pg-logging", version: "1.0.0",
      files: { "etc/postgresql/15/main/conf.d/patchlab-bench.conf": "log_min_messages = warning\n" },
      postinst: reload("postgresql"), postrm: reloadAfterRemove("postgresql"),
    },
  },
  {
    id: "BENCH-FILE-OK", role: "file", good: true,
    spec: { name: "patchlab-bench-samba-note", version: "1.0.0", files: { "usr/share/doc/patchlab-bench-samba-note/README": "bench fixture\n" }, postinst: reload("smbd"), postrm: reloadAfterRemove("smbd") },
  },
  {
    id: "BENCH-APP-OK", role: "app", good: true,
    spec: {
      name: "patchlab-bench-apache-note", version: "1.0.0",
      files: { "etc/apache2/conf-available/patchlab-bench.conf": "# bench fixture: not enabled\n" },
      postinst: reload("apache2"), postrm: reloadAfterRemove("apache2"),
    },
  },
];

/** Builds every fixture .deb and its manifest in `dir`. */
export function buildPatches(dir: string): BenchPatch[] {
  fs.mkdirSync(dir, { recursive: true });
  return SPECS.map(({ id, role, good, spec }) => {
    const deb = buildDeb(dir, spec);
    fs.writeFileSync(
      path.join(dir, `${id}.yaml`),
      [`id: ${id}`, `title: bench fixture ${id}`, "severity: moderate", "kind: deb", `deb: { file: ${path.basename(deb)} }`, `appliesTo: { roles: [${role}] }`, ""].join("\n"),
    );
    return { id, role, deb, pkg: spec.name, good };
  });
}

/** A batch of `ids` for `lab` (a lab name or an absolute lab file path); returns its path. */
export function writeBatch(dir: string, name: string, lab: string, ids: string[]): string {
  const file = path.join(dir, `batch-${name}.yaml`);
  fs.writeFileSync(file, [`name: ${name}`, `lab: ${lab}`, "patches:", ...ids.map((id) => `  - ${id}.yaml`), ""].join("\n"));
  return file;
}
