// One lab on two Docker engines, for real: the test starts a second dockerd of its own
// (second-engine.ts), brings up a lab whose `branch` site lives there (test/fixtures/labs/
// engines.yaml: client + web on the default engine, bclient + dns on the branch engine, each
// engine with its own lab subnet), verifies a good and a known-bad patch on the branch
// engine's dns machine, restarts the branch dockerd in the middle of an install, and takes
// the lab down; then stops the second dockerd and removes its data.
import { execFile, execFileSync } from "node:child_process";
import path from "node:path";
import { expect } from "chai";
import type Docker from "dockerode";
import type { Decision } from "../../harness/gate/gate.ts";
import { repoRoot } from "../../harness/core/paths.ts";
import { batchFor, buildDeb, cli, cliProcess, docker, readJson, runDirFrom, tmpDir } from "./support.ts";
import { startSecondEngine, type SecondEngine } from "./second-engine.ts";

const LAB = path.join(repoRoot, "test/fixtures/labs/engines.yaml");
const ENGINE_NAME = "patchlab-engines-it"; // the fixture's sites.branch.engine is unix:///run/<this>/docker.sock
const BRANCH_SUBNET = "172.30.92.0/24";
const DNS = "patchlab-engines-dns";
const BCLIENT = "patchlab-engines-bclient";

interface StatusRow { machine: string; state: string; ip?: string; engine?: string; health: { role: string; healthy: boolean; detail: string }[] }

/** What of the lab one engine holds: machine containers, the lab network, tagged snapshots. */
async function labOn(d: Docker, run?: string): Promise<{ containers: string[]; networks: { name: string; subnet: string | undefined }[]; snapshots: string[] }> {
  const label = run ? `patchlab.run=${run}` : "patchlab.lab=engines";
  const cs = await d.listContainers({ all: true, filters: { label: [label] } });
  const nets = (await d.listNetworks({ filters: { name: ["patchlab-engines"] } })).filter((n) => n.Name === "patchlab-engines");
  const imgs = await d.listImages({ filters: { label: ["patchlab.kind=snapshot", label] } });
  return {
    containers: cs.map((c) => c.Names[0]!.replace(/^\//, "")).sort(),
    networks: run ? [] : nets.map((n) => ({ name: n.Name, subnet: n.IPAM?.Config?.[0]?.Subnet })),
    snapshots: imgs.flatMap((i) => (i.RepoTags ?? []).filter((t) => t !== "<none>:<none>")),
  };
}

/** A dns patch: `bad` leaves named with a broken configuration after install. */
function dnsPatch(dir: string, id: string, bad: boolean): string {
  const name = id.toLowerCase();
  const deb = buildDeb(dir, {
    name,
    version: "1.0",
    files: { [`usr/share/doc/${name}/README`]: "several-engines fixture\n" },
    ...(bad ? { postinst: "#!/bin/sh\necho 'this is not a bind directive;' >> /etc/bind/named.conf.options\ninvoke-rc.d named stop || true\ninvoke-rc.d named start || true\nexit 0\n" } : {}),
  });
  return batchFor(dir, { id, deb, lab: LAB, roles: ["dns"] });
}

describe("several engines: one lab on two Docker engines", function () {
  let eng2: SecondEngine;
  let dir: string;
  let started = 0;

  before(async function () {
    started = Date.now();
    eng2 = await startSecondEngine({ name: ENGINE_NAME, subnet: BRANCH_SUBNET, bridgeCidr: "172.30.93.1/24" });
    dir = tmpDir("engines");
  });

  after(async function () {
    // Whatever a failed test left: the lab goes from both engines, then the second engine and its data.
    await cli(["lab", "down", LAB, "--purge"]).catch(() => undefined);
    await eng2?.stop();
    // The main engine's default bridge survived the second engine (its image builds need it).
    execFileSync("ip", ["link", "show", "docker0"], { stdio: "pipe" });
    console.log(`      several-engines test took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  });

  it("lab up puts each machine on its site's engine, each engine with its own lab subnet, images copied not rebuilt", async function () {
    const r = await cli(["lab", "up", LAB]);
    expect(r.code, r.stderr.slice(-3000)).to.equal(0);
    const main = await labOn(docker);
    const branch = await labOn(eng2.docker);
    expect(main.containers).to.deep.equal(["patchlab-engines-client", "patchlab-engines-web"]);
    expect(branch.containers).to.deep.equal([BCLIENT, DNS]);
    expect(main.networks).to.deep.equal([{ name: "patchlab-engines", subnet: "172.30.89.0/24" }]);
    expect(branch.networks).to.deep.equal([{ name: "patchlab-engines", subnet: BRANCH_SUBNET }]);
    const dns = await eng2.docker.getContainer(DNS).inspect();
    expect(dns.NetworkSettings.Networks["patchlab-engines"]!.IPAddress).to.equal("172.30.92.11");
    // The branch engine's images are the default engine's, byte for byte (saved and loaded, same id).
    const tag = dns.Config.Image;
    expect((await eng2.docker.getImage(tag).inspect()).Id).to.equal((await docker.getImage(tag).inspect()).Id);
    expect(r.stderr).to.match(/copied to unix:\/\/\/run\/patchlab-engines-it\/docker\.sock/);
  });

  it("lab status names each machine's engine, every role healthy", async function () {
    const r = await cli(["lab", "status", LAB, "--json"]);
    expect(r.code, r.stderr).to.equal(0);
    const rows = JSON.parse(r.stdout) as StatusRow[];
    expect(rows.map((x) => [x.machine, x.engine])).to.deep.equal([
      ["client", "unix:///var/run/docker.sock"],
      ["web", "unix:///var/run/docker.sock"],
      ["bclient", eng2.url],
      ["dns", eng2.url],
    ]);
    for (const row of rows) for (const h of row.health) expect(h.healthy, `${row.machine}/${h.role}: ${h.detail}`).to.equal(true);
    const text = await cli(["lab", "status", LAB]);
    expect(text.stdout).to.match(/ENGINE/).and.match(new RegExp(`dns\\s+running\\s+172\\.30\\.92\\.11\\s+${eng2.url.replace(/[/.]/g, "\\$&")}`));
  });

  it("approves a good patch on the branch engine's machine, checked from the branch client", async function () {
    const r = await cli(["run", dnsPatch(dir, "ENG-GOOD", false)]);
    expect(r.code, r.stdout + r.stderr.slice(-3000)).to.equal(0);
    const gate = readJson<Decision>(path.join(runDirFrom(r.stdout + r.stderr), "gate.json"));
    const p = gate.patches[0]!;
    expect(p.verdict).to.equal("approved");
    // Only reachable from a client on the branch engine: lab networks are internal.
    expect(p.counts.passed, JSON.stringify(p.counts)).to.be.greaterThan(5);
    expect((await labOn(eng2.docker, gate.run!.id)).snapshots).to.deep.equal([]);
  });

  it("rejects a known-bad patch on the branch engine's machine, naming the failing check", async function () {
    const r = await cli(["run", dnsPatch(dir, "ENG-BAD", true)]);
    expect(r.code, r.stdout + r.stderr.slice(-3000)).to.equal(1);
    const gate = readJson<Decision>(path.join(runDirFrom(r.stdout + r.stderr), "gate.json"));
    const p = gate.patches[0]!;
    expect(p.verdict).to.equal("rejected");
    const regression = p.reasons.find((x) => x.rule === "regression");
    expect(regression, JSON.stringify(p.reasons)).to.include({ machine: "dns", phase: "post-install" });
    // Restored: named answers again from the branch client.
    const st = JSON.parse((await cli(["lab", "status", LAB, "--json"])).stdout) as StatusRow[];
    expect(st.find((x) => x.machine === "dns")!.health.every((h) => h.healthy)).to.equal(true);
  });

  it("a restart of the branch engine's dockerd mid-install is a lab error: needs review (exit 2), never rejected; the lab put back", async function () {
    const name = "eng-restart";
    const deb = buildDeb(dir, { name, version: "1.0", files: { [`usr/share/doc/${name}/README`]: "fault fixture\n" }, postinst: "#!/bin/sh\nsleep 60\nexit 0\n" });
    const batch = batchFor(dir, { id: "ENG-RESTART", deb, lab: LAB, roles: ["dns"] });
    const fp = async () => JSON.parse((await cli(["lab", "fingerprint", LAB, "-m", "dns"])).stdout) as unknown;
    const before = await fp();
    const child = cliProcess(["run", batch]);
    let out = "";
    child.stdout!.on("data", (b) => (out += b));
    child.stderr!.on("data", (b) => (out += b));
    const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    // Wait until the installer's own postinst runs on dns, as the branch engine sees it.
    const t0 = Date.now();
    for (;;) {
      const running = await new Promise<boolean>((r) => execFile("docker", ["-H", eng2.url, "exec", DNS, "pgrep", "-f", `${name}.postinst`], (e) => r(!e)));
      if (running) break;
      expect(Date.now() - t0, `install never started:\n${out.slice(-3000)}`).to.be.lessThan(300_000);
      await new Promise((r) => setTimeout(r, 300));
    }
    await eng2.kill("SIGTERM");
    await eng2.start();
    const code = await done;
    expect(code, out.slice(-3000)).to.equal(2);
    const runDir = runDirFrom(out);
    const gate = readJson<Decision>(path.join(runDir, "gate.json"));
    const p = gate.patches[0]!;
    expect(p.verdict, JSON.stringify(p.reasons)).to.equal("needs-review");
    expect(p.reasons.every((x) => x.effect !== "rejects"), JSON.stringify(p.reasons)).to.equal(true);
    const install = p.reasons.find((x) => x.phase === "install" && x.kind === "step");
    expect(install, JSON.stringify(p.reasons)).to.include({ machine: "dns", outcome: "broken" });
    // The lab error names the engine it came from.
    expect(install!.message).to.contain(eng2.url);
    // Completed steps keep their results: the baseline suites ran before the restart.
    expect(p.counts.passed, JSON.stringify(p.counts)).to.be.greaterThan(0);
    // The lab is back: every machine on both engines runs healthy, dns exactly as before, nothing of the run left.
    const st = JSON.parse((await cli(["lab", "status", LAB, "--json"])).stdout) as StatusRow[];
    for (const row of st) for (const h of row.health) expect(h.healthy, `${row.machine}/${h.role}: ${h.detail}`).to.equal(true);
    expect(await fp()).to.deep.equal(before);
    for (const d of [docker, eng2.docker]) expect(await labOn(d, gate.run!.id)).to.deep.equal({ containers: [], networks: [], snapshots: [] });
  });

  it("lab down leaves nothing of the lab on either engine", async function () {
    const r = await cli(["lab", "down", LAB, "--purge"]);
    expect(r.code, r.stderr).to.equal(0);
    for (const d of [docker, eng2.docker]) expect(await labOn(d)).to.deep.equal({ containers: [], networks: [], snapshots: [] });
  });
});
