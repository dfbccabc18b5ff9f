// Lab credentials come from a private secrets file (made with random values on first use) or
// the environment, never from committed config; known values are redacted from log lines, the
// terminal and every file of a run.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { ConfigError } from "../../../harness/core/errors.ts";
import { fileLogger } from "../../../harness/core/log.ts";
import { repoRoot } from "../../../harness/core/paths.ts";
import { labSecrets, redact, registerSecret, resetSecretsForTests, scrubTree, secretsFile } from "../../../harness/core/secrets.ts";

function catching(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("lab secrets", function () {
  this.timeout(10_000);
  let dir: string;
  const saved = { ...process.env };
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-secrets-"));
    process.env.PATCHLAB_STATE_DIR = path.join(dir, "state");
    delete process.env.PATCHLAB_SECRETS_FILE;
    for (const k of Object.keys(process.env)) if (k.startsWith("PATCHLAB_SECRET_")) delete process.env[k];
    resetSecretsForTests();
  });
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    resetSecretsForTests();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("are made on first use with random values in a private file outside committed config, and reused", () => {
    const s = labSecrets();
    const file = secretsFile();
    expect(file).to.equal(path.join(dir, "state", "secrets.yaml"));
    expect(fs.statSync(file).mode & 0o777).to.equal(0o600);
    expect(s.db).to.include({ user: "labuser" });
    expect(s.db.password).to.match(/^[A-Za-z0-9_-]{24}$/);
    expect(new Set([s.db.password, s.file.password, s.wiki.password]).size).to.equal(3);
    expect(s.ssh.privateKey).to.match(/BEGIN OPENSSH PRIVATE KEY/);
    expect(s.ssh.publicKey).to.match(/^ssh-ed25519 /);
    resetSecretsForTests();
    expect((labSecrets()).db.password).to.equal(s.db.password);
  });

  it("take PATCHLAB_SECRET_<NAME> from the environment over the file", async () => {
    process.env.PATCHLAB_SECRET_DB_PASSWORD = "from-the-environment-1";
    expect((labSecrets()).db.password).to.equal("from-the-environment-1");
  });

  it("refuse a secrets file inside lab-config or elsewhere in the committed tree", async () => {
    for (const file of [path.join(repoRoot, "lab-config", "secrets.yaml"), path.join(repoRoot, "harness", "secrets.yaml")]) {
      process.env.PATCHLAB_SECRETS_FILE = file;
      resetSecretsForTests();
      const e = catching(labSecrets);
      expect(e).to.be.instanceOf(ConfigError);
      expect((e as ConfigError).message).to.match(/inside the repository's committed files/);
      expect((e as ConfigError).remedy).to.match(/PATCHLAB_SECRETS_FILE/);
      expect(fs.existsSync(file)).to.equal(false);
    }
  });

  it("refuse a secrets file other users can read, an unknown PATCHLAB_SECRET_ variable, a bad value", async () => {
    const file = path.join(dir, "s.yaml");
    process.env.PATCHLAB_SECRETS_FILE = file;
    labSecrets();
    fs.chmodSync(file, 0o644);
    resetSecretsForTests();
    expect(((catching(labSecrets)) as ConfigError).remedy).to.equal(`make it private: chmod 600 ${file}`);
    fs.chmodSync(file, 0o600);
    process.env.PATCHLAB_SECRET_DB_PASWORD = "typo-in-the-name";
    resetSecretsForTests();
    expect(((catching(labSecrets)) as ConfigError).message).to.match(/PATCHLAB_SECRET_DB_PASWORD names no lab secret/);
    delete process.env.PATCHLAB_SECRET_DB_PASWORD;
    process.env.PATCHLAB_SECRET_WIKI_PASSWORD = "short";
    resetSecretsForTests();
    const e = (catching(labSecrets)) as ConfigError;
    expect(e.field).to.equal("wiki.password");
    expect(e.remedy).to.match(/PATCHLAB_SECRET_WIKI_PASSWORD/);
  });

  it("are redacted in every form they travel in: plain, JSON-escaped, URL-encoded, basic auth", () => {
    process.env.PATCHLAB_SECRET_DB_PASSWORD = 'p@ss"w/rd%42';
    process.env.PATCHLAB_SECRET_DB_USER = "labuser";
    const forms = ['p@ss"w/rd%42', 'p@ss\\"w/rd%42', encodeURIComponent('p@ss"w/rd%42'), Buffer.from('labuser:p@ss"w/rd%42').toString("base64")];
    for (const f of forms) expect(redact(`before ${f} after`)).to.equal("before [redacted:db.password] after");
    expect(redact("nothing secret here")).to.equal("nothing secret here");
  });

  it("never reach a log file", () => {
    registerSecret("canary-Secret-42", "test.canary");
    const file = path.join(dir, "m.log");
    const log = fileLogger(file, { machine: "web" });
    log.info("dpkg said: password=canary-Secret-42", { output: "connect with canary-Secret-42" });
    const text = fs.readFileSync(file, "utf8");
    expect(text).to.not.include("canary-Secret-42");
    expect(text).to.include("password=[redacted:test.canary]");
  });

  it("are scrubbed from every file under a run directory: text rewritten, binary masked in place", () => {
    registerSecret("canary-Secret-42", "test.canary");
    const run = path.join(dir, "run");
    fs.mkdirSync(path.join(run, "allure-results"), { recursive: true });
    fs.writeFileSync(path.join(run, "gate.json"), JSON.stringify({ message: "dpkg: canary-Secret-42" }));
    const bin = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0]), Buffer.from("xcanary-Secret-42y")]);
    fs.writeFileSync(path.join(run, "allure-results", "shot.png"), bin);
    fs.writeFileSync(path.join(run, "clean.txt"), "nothing");
    const changed = scrubTree(run).map((f) => path.relative(run, f)).sort();
    expect(changed).to.deep.equal(["allure-results/shot.png", "gate.json"]);
    expect(JSON.parse(fs.readFileSync(path.join(run, "gate.json"), "utf8")).message).to.equal("dpkg: [redacted:test.canary]");
    const masked = fs.readFileSync(path.join(run, "allure-results", "shot.png"));
    expect(masked.length).to.equal(bin.length);
    expect(masked.includes("canary-Secret-42")).to.equal(false);
  });

  it("never reach the terminal of a command (stdout and stderr)", () => {
    const script = `import { redactOutput } from ${JSON.stringify(path.join(repoRoot, "harness/core/secrets.ts"))};
redactOutput(); console.log("out: canary-Secret-42"); process.stderr.write("err: canary-Secret-42\\n");`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { env: { ...process.env, PATCHLAB_SECRET_FILE_PASSWORD: "canary-Secret-42" }, encoding: "utf8", cwd: repoRoot });
    expect(r.stdout).to.equal("out: [redacted:file.password]\n");
    expect(r.stderr).to.include("err: [redacted:file.password]");
  });
});
