// SSH credentials of ssh-driver machines come from the environment or the machines: section of
// the lab secrets file; errors say where they looked and never what a secret is; what is found
// is redacted from everything patchlab writes.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigError } from "../../../harness/core/errors.ts";
import { redact } from "../../../harness/core/redact.ts";
import { envPrefix, sshCredentials } from "../../../harness/lab/transports/secrets.ts";

function thrown(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("ssh secrets", () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-secrets-"));
    file = path.join(dir, "secrets.yaml");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads a key file (relative to the secrets file), a passphrase and a password", () => {
    fs.writeFileSync(path.join(dir, "id"), "PRIVATE-KEY-BYTES");
    fs.writeFileSync(file, "db: { user: labuser, password: x }\nmachines:\n  web:\n    privateKeyFile: id\n    passphrase: pp\n  db:\n    password: pw\n", { mode: 0o600 });
    const web = sshCredentials("web", { file, env: {} });
    expect(web.privateKey!.toString()).to.equal("PRIVATE-KEY-BYTES");
    expect(web).to.deep.include({ passphrase: "pp", source: `secrets file ${file}, entry machines.web` });
    expect(sshCredentials("db", { file, env: {} })).to.deep.include({ password: "pw" });
  });

  it("registers what it finds for redaction", () => {
    fs.writeFileSync(file, "machines:\n  web:\n    password: Sup3r-s3cret-pw\n", { mode: 0o600 });
    sshCredentials("web", { file, env: {} });
    expect(redact("login with Sup3r-s3cret-pw now")).to.not.contain("Sup3r-s3cret-pw");
  });

  it("the environment wins over the file", () => {
    fs.writeFileSync(file, "machines:\n  legacy-web:\n    password: from-file\n", { mode: 0o600 });
    expect(envPrefix("legacy-web")).to.equal("PATCHLAB_SECRET_MACHINE_LEGACY_WEB_");
    const c = sshCredentials("legacy-web", { file, env: { PATCHLAB_SECRET_MACHINE_LEGACY_WEB_PASSWORD: "from-env" } });
    expect(c).to.deep.include({ password: "from-env", source: "environment PATCHLAB_SECRET_MACHINE_LEGACY_WEB_*" });
  });

  it("refuses a secrets file others can read", () => {
    fs.writeFileSync(file, "machines:\n  web:\n    password: hunter2\n", { mode: 0o644 });
    const e = thrown(() => sshCredentials("web", { file, env: {} }));
    expect(e.message).to.match(/readable by others \(mode 644\)/);
    expect(e.remedy).to.equal(`chmod 600 ${file}`);
  });

  it("a missing entry names the variables and the file, never any value", () => {
    fs.writeFileSync(file, "machines:\n  other:\n    password: hunter2\n", { mode: 0o600 });
    const e = thrown(() => sshCredentials("web", { file, env: {} }));
    expect(e.message).to.contain("PATCHLAB_SECRET_MACHINE_WEB_PRIVATE_KEY").and.contain(file);
    expect(e.describe()).to.not.contain("hunter2");
  });

  it("a broken secrets file is reported without quoting it", () => {
    fs.writeFileSync(file, "machines:\n  web: { password: hunter2\n", { mode: 0o600 });
    expect(thrown(() => sshCredentials("web", { file, env: {} })).describe()).to.not.contain("hunter2");
    fs.writeFileSync(file, "machines:\n  web:\n    pasword: hunter2\n", { mode: 0o600 });
    const e = thrown(() => sshCredentials("web", { file, env: {} }));
    expect(e.message).to.contain("machines.web");
    expect(e.describe()).to.not.contain("hunter2");
  });
});
