// The ssh driver for real, against lab containers running Debian's sshd and reached only over
// SSH (the containers stand in for existing servers): host keys checked against known_hosts
// or trusted on first use, credentials from a secrets file, roles provisioned over SSH, a real
// .deb installed and uninstalled, snapshots through hooks (docker commit / recreate, as virsh
// would snapshot and revert a VM), and without hooks a snapshot check reported as not possible.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { Lab, type SshMachine } from "../../harness/config/schemas.ts";
import { ConfigError, LabError } from "../../harness/core/errors.ts";
import { repoRoot, stateDir } from "../../harness/core/paths.ts";
import { Labels } from "../../harness/lab/drivers/docker-engine.ts";
import { SshDriver } from "../../harness/lab/drivers/ssh-driver.ts";
import { diffFingerprints, fingerprint } from "../../harness/lab/fingerprint.ts";
import { ensureImages } from "../../harness/lab/images/build.ts";
import { PROVISION_MARK } from "../../harness/lab/provisioning.ts";
import { notPossibleStep, SnapshotNotPossible, snapshotCheck } from "../../harness/lab/snapshot-check.ts";
import { generateKeyPair } from "../../harness/lab/transports/keys.ts";
import { DebProvisioner } from "../../harness/patch/deb.ts";
import { docker, inContainer, tmpDir } from "./support.ts";
import { debArtifact, Timings } from "./vmssh-support.ts";
import { nullLogger } from "../../harness/core/log.ts";
import { runMachinePipeline, type StepRecord } from "../../harness/run/machine-pipeline.ts";
import type { SuiteRunResult } from "../../harness/run/mocha-runner.ts";

const LAB = "vmssh-ssh";
const NETWORK = `patchlab-${LAB}`;
const SUBNET = "172.30.84.0/24";
const HOOKED = { name: "hooked", ip: "172.30.84.10" };
const PLAIN = { name: "plain", ip: "172.30.84.11" };
const HOOK = path.join(repoRoot, "test/fixtures/ssh-hooks/docker-snapshot.sh");
const container = (machine: string) => `patchlab-${LAB}-${machine}`;

async function cleanup(): Promise<void> {
  // The vm test's lab network shares the vmssh subnet: a leftover of it would block ours.
  await docker.getContainer("patchlab-vmssh-vm-client").remove({ force: true }).catch(() => undefined);
  for (const n of await docker.listNetworks({ filters: { name: ["patchlab-vmssh-vm"] } })) if (n.Name === "patchlab-vmssh-vm") await docker.getNetwork(n.Id).remove();
  const cs = await docker.listContainers({ all: true, filters: { label: [`${Labels.lab}=${LAB}`] } });
  for (const c of cs) await docker.getContainer(c.Id).remove({ force: true });
  const imgs = await docker.listImages({ filters: { label: [`${Labels.lab}=${LAB}`, `${Labels.kind}=test-snapshot`] } });
  for (const i of imgs) await docker.getImage(i.Id).remove({ force: true }).catch(() => undefined);
  for (const n of await docker.listNetworks({ filters: { name: [NETWORK] } })) if (n.Name === NETWORK) await docker.getNetwork(n.Id).remove();
  // The driver's record of the lab's snapshots goes with them.
  fs.rmSync(path.join(stateDir(), "ssh-snapshots", `${LAB}.json`), { force: true });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

describe("ssh driver: existing machines reached only over SSH", function () {
  this.timeout(300_000);
  const t = new Timings();
  let dir: string;
  let lab: Lab;
  let driver: SshDriver;
  let secrets: string;

  const sshMachine = (name: string, ip: string, ssh: Record<string, unknown>) => ({
    name,
    driver: "ssh",
    ssh: { host: ip, credentials: "vmssh-test", ...ssh },
    roles: ["client"],
    owner: { name: "Tests", contact: "tests@corp.example" },
    site: "lab",
    criticality: "low",
  });

  before(async function () {
    dir = tmpDir("ssh-driver");
    await cleanup();
    const tags = await t.time("sshd image (built once, then reused)", () => ensureImages(docker, ["sshd"], { imagesDir: path.join(repoRoot, "test/fixtures/images") }));
    await docker.createNetwork({
      Name: NETWORK,
      Driver: "bridge",
      Internal: true,
      CheckDuplicate: true,
      IPAM: { Config: [{ Subnet: SUBNET, Gateway: "172.30.84.1" }] },
      Labels: { [Labels.managed]: "true", [Labels.lab]: LAB, [Labels.kind]: "test-network" },
    });
    const key = generateKeyPair("vmssh-test");
    for (const m of [HOOKED, PLAIN]) {
      const c = await docker.createContainer({
        name: container(m.name),
        Image: tags.get("sshd")!,
        Hostname: m.name,
        Labels: { [Labels.lab]: LAB, [Labels.kind]: "test-machine" },
        HostConfig: { NetworkMode: NETWORK, Tmpfs: { "/run": "rw,exec", "/tmp": "rw,exec" } },
        NetworkingConfig: { EndpointsConfig: { [NETWORK]: { IPAMConfig: { IPv4Address: m.ip } } } },
      });
      await c.start();
      // What the machine's administrator did beforehand: authorise the harness's key.
      execFileSync("docker", ["exec", "-i", container(m.name), "sh", "-c", "cat > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys"], { input: key.publicKey + "\n" });
    }
    fs.writeFileSync(path.join(dir, "id_ed25519"), key.privateKey, { mode: 0o600 });
    secrets = path.join(dir, "secrets.yaml");
    fs.writeFileSync(secrets, "machines:\n  vmssh-test:\n    privateKeyFile: id_ed25519\n", { mode: 0o600 });
    // The plain machine's key, verified out of band (read from the machine itself, not over SSH).
    const hostKey = inContainer(container(PLAIN.name), "cat /etc/ssh/ssh_host_ed25519_key.pub").trim().split(" ").slice(0, 2).join(" ");
    fs.writeFileSync(path.join(dir, "known_hosts_plain"), `${PLAIN.ip} ${hostKey}\n`);

    const hookArgv = (op: string) => ["bash", HOOK, op, "{lab}", "{machine}", "{label}", "{host}"];
    lab = Lab.parse({
      name: LAB,
      domain: "vmssh-ssh.test",
      network: { subnet: SUBNET },
      machines: [
        sshMachine(HOOKED.name, HOOKED.ip, {
          knownHosts: path.join(dir, "known_hosts_hooked"),
          trustOnFirstUse: true,
          hooks: { snapshot: hookArgv("snapshot"), restore: hookArgv("restore"), delete: hookArgv("delete"), timeoutSeconds: 120 },
        }),
        sshMachine(PLAIN.name, PLAIN.ip, { knownHosts: path.join(dir, "known_hosts_plain") }),
      ],
    });
    driver = new SshDriver({ secretsFile: secrets });
  });

  after(async function () {
    if (driver && lab) await driver.down(lab, { purgeSnapshots: true });
    await cleanup();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    t.print("ssh driver timings");
  });

  it("refuses a machine whose host key is not known (no trust on first use), before running anything", async () => {
    fs.writeFileSync(path.join(dir, "known_hosts_empty"), "");
    const strict = Lab.parse({ ...lab, machines: [sshMachine("strict", PLAIN.ip, { knownHosts: path.join(dir, "known_hosts_empty") })] });
    const t0 = Date.now();
    const e = await rejection(new SshDriver({ secretsFile: secrets }).up(strict, { runId: "t", deadline: Date.now() + 30_000 }));
    expect(e).to.be.instanceOf(LabError);
    expect(e.message).to.match(/172\.30\.84\.11 is not in .*known_hosts_empty \(it presented ssh-ed25519 SHA256:/);
    expect(Date.now() - t0, "a host key problem is not waited on").to.be.lessThan(10_000);
    expect(inContainer(container(PLAIN.name), `test -e ${PROVISION_MARK} && echo yes || echo no`).trim()).to.equal("no");
  });

  it("a missing secret is a ConfigError naming where it looked, not a lab timeout", async () => {
    const other = Lab.parse({ ...lab, machines: [sshMachine("nosecret", PLAIN.ip, { knownHosts: path.join(dir, "known_hosts_plain"), credentials: "absent" })] });
    const e = await rejection(new SshDriver({ secretsFile: secrets }).up(other, { runId: "t", deadline: Date.now() + 30_000 }));
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.match(/no SSH credentials named "absent" \(looked in PATCHLAB_SECRET_MACHINE_ABSENT_PRIVATE_KEY\[_FILE\]\/PASSWORD and in .*secrets\.yaml, section machines\)/);
  });

  it("brings both machines up over SSH: the new host key recorded (trust on first use), roles provisioned", async () => {
    await t.time("up (reach + provision two machines)", () => driver.up(lab, { runId: "vmssh-ssh-test", deadline: Date.now() + 60_000 }));
    const recorded = fs.readFileSync(path.join(dir, "known_hosts_hooked"), "utf8");
    expect(recorded).to.match(/^172\.30\.84\.10 ssh-ed25519 AAAA\S+\n/);
    for (const m of [HOOKED, PLAIN]) {
      // The machine's own view (docker exec), independent of the SSH transport.
      expect(inContainer(container(m.name), `cat ${PROVISION_MARK}`).trim()).to.match(/^[0-9a-f]{16}$/);
      expect(inContainer(container(m.name), "test -s /usr/local/share/ca-certificates/patchlab-lab-ca.crt && echo ca").trim()).to.equal("ca");
    }
    const status = await driver.status(lab);
    expect(status.map((s) => [s.machine, s.state, s.health.every((h) => h.healthy)])).to.deep.equal([["hooked", "running", true], ["plain", "running", true]]);
    // Provisioning is idempotent: a second up changes nothing on the machines.
    const before = inContainer(container(PLAIN.name), `stat -c %Y ${PROVISION_MARK}`);
    await driver.up(lab, { runId: "vmssh-ssh-test", deadline: Date.now() + 60_000 });
    expect(inContainer(container(PLAIN.name), `stat -c %Y ${PROVISION_MARK}`)).to.equal(before);
  });

  it("with snapshot hooks: snapshot -> install -> uninstall -> restore, and a restore alone undoes an install", async () => {
    const m = driver.handlesFor(lab).find((h) => h.spec.name === HOOKED.name)!;
    const conn = driver.connect(m);
    const deb = await debArtifact(dir, { name: "patchlab-ssh-hooked", version: "1.0.0", files: { "etc/patchlab-ssh-hooked.conf": "x=1\n" }, postinst: "#!/bin/sh\necho done > /var/lib/patchlab-ssh-hooked.state\n" }, ["client"]);
    const snap = await t.time("snapshot (hook: docker commit)", () => driver.snapshot(m, "pre-patch", "vmssh-ssh-test"));
    expect(snapshotCheck(snap)).to.deep.equal({ possible: true });
    expect((await driver.snapshots(lab)).map((s) => `${s.machine}:${s.label}`)).to.deep.equal(["hooked:pre-patch"]);
    const before = await fingerprint(conn);

    const prov = new DebProvisioner();
    expect((await t.time("install .deb over SSH", () => prov.install(conn, deb))).ok).to.equal(true);
    expect(inContainer(container(HOOKED.name), "dpkg-query -W -f='${Status}' patchlab-ssh-hooked")).to.equal("install ok installed");
    expect((await t.time("uninstall .deb over SSH", () => prov.uninstall(conn, deb))).ok).to.equal(true);
    await t.time("restore (hook: recreate from the commit) until ready", () => driver.restore(m, snap, Date.now() + 60_000));
    expect(diffFingerprints(before, await fingerprint(conn)).equal).to.equal(true);

    // The restore really is one: installed, then restored without uninstalling.
    expect((await new DebProvisioner().install(conn, deb)).ok).to.equal(true);
    await driver.restore(m, snap, Date.now() + 60_000);
    const after = await fingerprint(conn);
    const diff = diffFingerprints(before, after);
    expect(diff.equal, diff.differences.join("\n")).to.equal(true);
    expect(after.packages["patchlab-ssh-hooked"]).to.equal(undefined);

    await driver.deleteSnapshot(snap);
    expect(await driver.snapshots(lab)).to.deep.equal([]);
    expect((await docker.listImages({ filters: { reference: [`patchlab-snap/${LAB}-hooked:pre-patch`] } })).length).to.equal(0);
  });

  it("a failing hook is a LabError naming the hook and its output, and nothing is removed", async () => {
    const m = driver.handlesFor(lab).find((h) => h.spec.name === HOOKED.name)!;
    const ghost = { lab: LAB, machine: HOOKED.name, label: "never-taken", ref: "never-taken", createdAt: new Date().toISOString() };
    const e = await rejection(driver.restore(m, ghost, Date.now() + 30_000));
    expect(e).to.be.instanceOf(LabError);
    expect((e as LabError).kind).to.equal("restore");
    expect(e.message).to.match(/restore hook of hooked \(bash .*docker-snapshot\.sh restore vmssh-ssh hooked never-taken 172\.30\.84\.10\) exited 1: .*No such image/);
    expect((await driver.status(lab)).find((s) => s.machine === HOOKED.name)!.state).to.equal("running");
  });

  it("without hooks: the snapshot check is reported as not possible, the rollback is the uninstall, and restoring is refused", async () => {
    const m = driver.handlesFor(lab).find((h) => h.spec.name === PLAIN.name)!;
    const conn = driver.connect(m);
    const snap = await driver.snapshot(m, "pre-patch", "vmssh-ssh-test");
    const check = snapshotCheck(snap);
    expect(check.possible).to.equal(false);
    expect(check).to.have.property("reason").that.matches(/has no snapshot hooks/);
    const before = await fingerprint(conn);

    const deb = await debArtifact(dir, { name: "patchlab-ssh-plain", version: "1.0.0", files: { "etc/patchlab-ssh-plain.conf": "y=2\n" } }, ["client"]);
    const prov = new DebProvisioner();
    expect((await prov.install(conn, deb)).ok).to.equal(true);
    expect(await prov.isInstalled(conn, deb)).to.equal(true);
    expect((await prov.uninstall(conn, deb)).ok).to.equal(true);
    const diff = diffFingerprints(before, await fingerprint(conn));
    expect(diff.equal, diff.differences.join("\n")).to.equal(true);

    const e = await rejection(driver.restore(m, snap, Date.now() + 30_000));
    expect(e).to.be.instanceOf(SnapshotNotPossible);
    expect((e as LabError).kind).to.equal("restore");
    const step = notPossibleStep(PLAIN.name, snap, "PL-TEST");
    expect(step.status, "never a silent pass").to.equal("broken");
    expect(step.message).to.match(/snapshot check not possible on plain: .*rolled back by uninstall only/);
    expect(await driver.snapshots(lab)).to.deep.equal([]); // nothing was recorded as a snapshot
  });

  it("the machine pipeline of a run, over SSH only: with hooks the restore is checked exact; without them the snapshot check is reported not possible", async () => {
    const results: Record<string, string[]> = {};
    for (const name of [HOOKED.name, PLAIN.name]) {
      const m = driver.handlesFor(lab).find((h) => h.spec.name === name)!;
      const deb = await debArtifact(dir, { name: `patchlab-ssh-pipe-${name}`, version: "1.0.0", files: { [`etc/patchlab-ssh-pipe-${name}.conf`]: "z=3\n" } }, ["client"]);
      const steps: StepRecord[] = [];
      // Lifecycle steps only: the suites are the same code whatever the driver (the vm test runs the web suite).
      const need = { phases: ["baseline", "install", "post-install", "uninstall", "post-uninstall"] as const, suites: [], restart: false };
      await t.time(`machine pipeline on ${name}`, () =>
        runMachinePipeline({
          driver, machine: m, all: driver.handlesFor(lab), artifacts: [deb], requirements: new Map([[deb.patch.id, { ...need, phases: [...need.phases] }]]), mode: "isolate",
          provisioner: new DebProvisioner(), runId: `vmssh-ssh-pipe-${name}`, runDir: dir, caCertPath: path.join(dir, "ca.crt"), log: nullLogger, deadlineMs: 120_000,
          runSuite: async (): Promise<SuiteRunResult> => { throw new Error("no suites were asked for"); },
          hooks: { step: (r) => steps.push(r), suite: () => undefined, blame: () => undefined, note: () => undefined, progress: () => undefined },
        }),
      );
      results[name] = steps.map((s) => `${s.step}:${s.status}${s.step === "restore" || s.status !== "passed" ? ` ${s.message}` : ""}`);
      expect(inContainer(container(name), `dpkg-query -W patchlab-ssh-pipe-${name} >/dev/null 2>&1 && echo installed || echo absent`).trim(), `${name} is left without the patch`).to.equal("absent");
    }
    const [hInstall, ...hRest] = results[HOOKED.name]!;
    expect([hInstall, ...hRest].slice(0, 5), "hooked").to.deep.equal(["install:passed", "restart:passed", "idempotence:passed", "uninstall:passed", "residue:passed"]);
    expect(hRest[4], "hooked: the restore is checked exact").to.match(/^restore:passed /);
    expect(hRest[5]).to.match(/^pipeline:passed/);
    const plain = results[PLAIN.name]!;
    expect(plain.slice(0, 5), "plain").to.deep.equal(["install:passed", "restart:passed", "idempotence:passed", "uninstall:passed", "residue:passed"]);
    expect(plain[5], "plain: never a silent pass").to.match(/^restore:skipped snapshot check not possible: .*has no snapshot hooks.*; after uninstall: /);
    expect(plain[6]).to.match(/^pipeline:passed/);
    expect(await driver.snapshots(lab), "the run's snapshots are gone").to.deep.equal([]);
  });
});
