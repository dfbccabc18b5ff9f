// The lab's passwords reach a machine through the environment or stdin only, are applied again
// on a machine provisioned earlier, and are left alone when they already work.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { resetSecretsForTests } from "../../core/secrets.ts";
import { ensureProvisioned, provisionKey } from "../provisioning.ts";
import type { Connection, ExecOptions, ExecResult } from "../types.ts";
import { fakeLab } from "./testing.ts";
import type { LabPki } from "./types.ts";

interface Call {
  cmd: string;
  env: Record<string, string>;
  stdin: string;
}

/** A machine that records what it is asked to run; `works` says whether a login check succeeds. */
function fakeConn(machine: string, o: { mark?: string; works: boolean }): Connection & { calls: Call[] } {
  const calls: Call[] = [];
  const ok = (stdout = ""): ExecResult => ({ exitCode: 0, stdout, stderr: "", durationMs: 1 });
  return {
    machine,
    calls,
    async exec(cmd: string | string[], opts: ExecOptions = {}) {
      const c = Array.isArray(cmd) ? cmd.join(" ") : cmd;
      calls.push({ cmd: c, env: opts.env ?? {}, stdin: String(opts.stdin ?? "") });
      if (c.startsWith("cat /etc/patchlab/provisioned")) return o.mark ? ok(`${o.mark}\n`) : { ...ok(), exitCode: 1 };
      if (/psql -X -h 127|smbclient/.test(c)) return { ...ok(), exitCode: o.works ? 0 : 1 };
      return ok();
    },
    async upload() {},
    async download() {
      return Buffer.alloc(0);
    },
    async restart() {},
    async waitUntilReady() {},
  };
}

describe("roles: the lab's passwords", function () {
  const saved = { ...process.env };
  const pw = { PATCHLAB_SECRET_DB_PASSWORD: "db-Pass-1234567", PATCHLAB_SECRET_FILE_PASSWORD: "smb-Pass-1234567", PATCHLAB_SECRET_WIKI_PASSWORD: "wiki-Pass-1234567" };
  const pki = { caCertPem: "ca", caCertPath: "/ca.pem", issue: async () => ({ certPem: "", keyPem: "" }) } as LabPki;
  const { handles } = fakeLab([
    { name: "db", roles: ["db"], ip: "172.30.99.12" },
    { name: "file", roles: ["file"], ip: "172.30.99.13" },
    { name: "app", roles: ["app"], ip: "172.30.99.14" },
  ]);
  const ctx = { machines: handles, pki, connect: () => undefined as never };
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-pw-"));
    Object.assign(process.env, pw, { PATCHLAB_STATE_DIR: dir });
    resetSecretsForTests();
  });
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    resetSecretsForTests();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("are set on a machine provisioned earlier (a lab up before, or other secrets), through env and stdin only", async () => {
    const key = provisionKey(handles, pki);
    for (const m of handles) {
      const conn = fakeConn(m.spec.name, { mark: key, works: false });
      expect(await ensureProvisioned(conn, m, ctx), "already provisioned").to.equal(false);
      const sets = conn.calls.filter((c) => /ALTER ROLE|smbpasswd|password_hash/.test(c.cmd + c.stdin));
      expect(sets.length, `${m.spec.name}: a step setting the password`).to.equal(1);
      for (const c of conn.calls) for (const v of Object.values(pw)) expect(c.cmd, `${m.spec.name}: command line`).to.not.include(v);
      const given = JSON.stringify(sets.map((c) => c.env));
      expect(Object.values(pw).some((v) => given.includes(v)), `${m.spec.name}: the password travels in the environment`).to.equal(true);
    }
  });

  it("change nothing when the password already works", async () => {
    const key = provisionKey(handles, pki);
    for (const m of handles.filter((x) => x.spec.name !== "app")) {
      const conn = fakeConn(m.spec.name, { mark: key, works: true });
      await ensureProvisioned(conn, m, ctx);
      expect(conn.calls.filter((c) => /ALTER ROLE|smbpasswd/.test(c.cmd + c.stdin)).map((c) => c.cmd), m.spec.name).to.deep.equal([]);
    }
  });
});
