// SSH credentials come from the environment or the secrets file; errors say where they looked
// and never what a secret is.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigError } from "../../../harness/core/errors.ts";
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
    fs.writeFileSync(file, "ssh:\n  web:\n    privateKeyFile: id\n    passphrase: pp\n  db:\n    password: pw\n", { mode: 0o600 });
    const web = sshCredentials("web", { file, env: {} });
    expect(web.privateKey!.toString()).to.equal("PRIVATE-KEY-BYTES");
    expect(web).to.deep.include({ passphrase: "pp", source: `secrets file ${file}, entry web` });
    expect(sshCredentials("db", { file, env: {} })).to.deep.include({ password: "pw" });
  });

  it("the environment wins over the file", () => {
    fs.writeFileSync(file, "ssh:\n  legacy-web:\n    password: from-file\n", { mode: 0o600 });
    expect(envPrefix("legacy-web")).to.equal("PATCHLAB_SECRET_LEGACY_WEB_");
    const c = sshCredentials("legacy-web", { file, env: { PATCHLAB_SECRET_LEGACY_WEB_PASSWORD: "from-env" } });
    expect(c).to.deep.include({ password: "from-env", source: "environment PATCHLAB_SECRET_LEGACY_WEB_*" });
  });

  it("refuses a secrets file others can read", () => {
    fs.writeFileSync(file, "ssh:\n  web:\n    password: hunter2\n", { mode: 0o644 });
    const e = thrown(() => sshCredentials("web", { file, env: {} }));
    expect(e.message).to.match(/readable by others \(mode 644\)/);
    expect(e.remedy).to.equal(`chmod 600 ${file}`);
  });

  it("a missing entry names the variables and the file, never any value", () => {
    fs.writeFileSync(file, "ssh:\n  other:\n    password: hunter2\n", { mode: 0o600 });
    const e = thrown(() => sshCredentials("web", { file, env: {} }));
    expect(e.message).to.contain("PATCHLAB_SECRET_WEB_PRIVATE_KEY").and.contain(file);
    expect(e.describe()).to.not.contain("hunter2");
  });

  it("a broken secrets file is reported without quoting it", () => {
    fs.writeFileSync(file, "ssh:\n  web: { password: hunter2\n", { mode: 0o600 });
    expect(thrown(() => sshCredentials("web", { file, env: {} })).describe()).to.not.contain("hunter2");
    fs.writeFileSync(file, "ssh:\n  web:\n    pasword: hunter2\n", { mode: 0o600 });
    const e = thrown(() => sshCredentials("web", { file, env: {} }));
    expect(e.message).to.contain("ssh.web");
    expect(e.describe()).to.not.contain("hunter2");
  });
});
