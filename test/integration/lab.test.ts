// The reference lab for real: six machines on Docker, healthy roles, HTTPS that verifies
// against the lab CA from the client, and exact sub-second restores.
import { expect } from "chai";
import { cli, docker, inContainer } from "./support.ts";
import { loadLab } from "../../harness/config/loader.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import { diffStates, machineState, volatileFor } from "../../harness/lab/state.ts";

const CLIENT = "patchlab-reference-client";
const WEB = "patchlab-reference-web";
const CA_IN_CLIENT = "/usr/local/share/ca-certificates/patchlab-lab-ca.crt";

interface StatusRow { machine: string; state: string; roles: string[]; health: { role: string; healthy: boolean; detail: string }[] }

describe("reference lab on Docker", function () {
  before(async function () {
    const r = await cli(["lab", "up"]);
    expect(r.code, `lab up failed:\n${r.stderr.slice(-3000)}`).to.equal(0);
  });

  after(async function () {
    const imgs = await docker.listImages({ filters: { label: ["patchlab.snapshot=selftest"] } });
    for (const i of imgs) await docker.getImage(i.Id).remove({ force: true });
  });

  it("lab status shows every machine running with every role healthy", async function () {
    const r = await cli(["lab", "status", "--json"]);
    expect(r.code, r.stderr).to.equal(0);
    const rows = JSON.parse(r.stdout) as StatusRow[];
    expect(rows.map((x) => x.machine)).to.include.members(["app", "client", "db", "dns", "file", "ssh", "web"]);
    for (const row of rows) {
      expect(row.state, row.machine).to.equal("running");
      for (const h of row.health) expect(h.healthy, `${row.machine}/${h.role}: ${h.detail}`).to.equal(true);
    }
    expect(rows.find((x) => x.machine === "web")!.roles).to.deep.equal(["web"]);
  });

  it("lab status reports a role unhealthy when its service stops", async function () {
    inContainer(WEB, "/etc/init.d/nginx stop >/dev/null 2>&1 || true");
    try {
      const r = await cli(["lab", "status", "--json"]);
      expect(r.code).to.equal(2);
      const web = (JSON.parse(r.stdout) as StatusRow[]).find((x) => x.machine === "web")!;
      expect(web.health[0]!.healthy).to.equal(false);
    } finally {
      inContainer(WEB, "/etc/init.d/nginx start >/dev/null 2>&1 || true");
    }
  });

  it("the web machine answers HTTPS from the client with a certificate that verifies against the lab CA", function () {
    const out = inContainer(CLIENT, `curl -sS --cacert ${CA_IN_CLIENT} -o /dev/null -w '%{http_code} %{ssl_verify_result}' https://web.lab.test/`);
    expect(out.trim()).to.equal("200 0");
  });

  it("the same HTTPS request fails against a CA that is not the lab's (the check can fail)", function () {
    const out = inContainer(
      CLIENT,
      "d=$(mktemp -d) && openssl req -x509 -newkey rsa:2048 -nodes -keyout $d/k -out $d/c -days 1 -subj /CN=other-ca 2>/dev/null && " +
        // --capath too: Debian's curl also trusts /etc/ssl/certs, where the lab CA is installed.
        "curl -sS --cacert $d/c --capath $d https://web.lab.test/ >/dev/null 2>&1; echo exit=$?",
    );
    expect(out.trim()).to.equal("exit=60"); // curl: peer certificate cannot be authenticated
  });

  it("snapshot, change, restore: the fingerprint equals the one before, and a restore is sub-second", async function () {
    const fp = async () => {
      const r = await cli(["lab", "fingerprint", "-m", "web"]);
      expect(r.code, r.stderr).to.equal(0);
      return JSON.parse(r.stdout) as { packages: Record<string, string>; files: Record<string, string>; listening: string[] };
    };
    const snap = await cli(["lab", "snapshot", "-m", "web", "-l", "selftest"]);
    expect(snap.code, snap.stderr).to.equal(0);
    const before = await fp();
    expect(before.listening).to.include.members(["tcp/80", "tcp/443"]);
    expect(Object.keys(before.packages)).to.include("nginx");

    inContainer(WEB, "echo '# drift' >> /etc/nginx/nginx.conf && /etc/init.d/nginx stop >/dev/null 2>&1; true");
    const changed = await fp();
    expect(changed.files["/etc/nginx/nginx.conf"]).to.not.equal(before.files["/etc/nginx/nginx.conf"]);
    expect(changed.listening).to.not.include("tcp/80");

    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await cli(["lab", "restore", "-m", "web", "-l", "selftest", "--json"]);
      expect(r.code, r.stderr).to.equal(0);
      times.push((JSON.parse(r.stdout) as { ms: number }[])[0]!.ms);
    }
    const after = await fp();
    expect(after).to.deep.equal(before);
    const best = Math.min(...times);
    console.log(`      restore of web (recreate + ready): ${times.join(", ")} ms`);
    expect(best, `restore took ${times.join(", ")} ms`).to.be.below(1000);
  });

  it("lab up on a running lab reuses it instead of recreating machines", async function () {
    const ids = async () => (await docker.listContainers({ filters: { label: ["patchlab.lab=reference", "patchlab.kind=machine"] } })).map((c) => c.Id).sort();
    const before = await ids();
    const r = await cli(["lab", "up"]);
    expect(r.code, r.stderr).to.equal(0);
    expect(await ids()).to.deep.equal(before);
    console.log(`      lab up on a running lab: ${r.ms} ms`);
    expect(r.ms).to.be.below(20_000);
  });

  it("a machine whose image grew too deep from restores is flattened to one layer, state unchanged", async function () {
    const fp = async () => JSON.parse((await cli(["lab", "fingerprint", "-m", "web"])).stdout);
    const before = await fp();
    const { lab } = await loadLab("reference");
    const driver = new DockerDriver(docker);
    const web = driver.handlesFor(lab).find((m) => m.spec.name === "web")!;
    const info = await docker.getContainer(web.container).inspect();
    const layers = (await docker.getImage(info.Image).inspect()).RootFS.Layers?.length ?? 0;
    process.env.PATCHLAB_MAX_LAYERS = String(layers + 1);
    expect(await driver.flattenIfDeep(web, info), "not deep enough: left alone").to.equal(false);
    process.env.PATCHLAB_MAX_LAYERS = String(layers - 1);
    try {
      expect(await driver.flattenIfDeep(web, info)).to.equal(true);
    } finally {
      delete process.env.PATCHLAB_MAX_LAYERS;
    }
    await driver.waitReady(web, Date.now() + 60_000);
    const now = await docker.getContainer(web.container).inspect();
    expect((await docker.getImage(now.Image).inspect()).RootFS.Layers?.length).to.equal(1);
    expect(await fp()).to.deep.equal(before);
  });

  for (const name of ["dns", "db"]) {
    it(`a warm standby of ${name} swapped in by name and address is exact (fingerprint), answers at its name, and leaves nothing behind`, async function () {
      const fp = async () => {
        const r = await cli(["lab", "fingerprint", "-m", name]);
        expect(r.code, r.stderr).to.equal(0);
        return JSON.parse(r.stdout) as unknown;
      };
      const { lab } = await loadLab("reference");
      const driver = new DockerDriver(docker);
      const m = driver.handlesFor(lab).find((x) => x.spec.name === name)!;
      const before = await fp();
      const snap = await driver.snapshot(m, "selftest-standby");
      try {
        const timed = async (standby: boolean) => {
          inContainer(m.container, "echo drift > /etc/patchlab-drift");
          if (standby) {
            driver.prepareRestore(m, snap);
            // The standby boots while the patch would be tested.
            for (let i = 0; i < 100 && !(await docker.listContainers({ filters: { name: [`${m.container}-standby`] } })).length; i++) await new Promise((r) => setTimeout(r, 100));
            await new Promise((r) => setTimeout(r, 3000));
          }
          const old = (await docker.getContainer(m.container).inspect()).Id;
          const t = Date.now();
          await driver.restore(m, snap, Date.now() + 60_000);
          const ms = Date.now() - t;
          const now = await docker.getContainer(m.container).inspect();
          expect(now.Id).to.not.equal(old);
          expect(now.NetworkSettings.Networks[`patchlab-${lab.name}`]!.IPAddress).to.equal(m.ip);
          expect(now.NetworkSettings.Networks[`patchlab-${lab.name}`]!.Aliases).to.include.members([name, m.fqdn]);
          expect(await fp()).to.deep.equal(before);
          return { ms, id: now.Id };
        };
        const plain = await timed(false);
        const warm = await timed(true);
        console.log(`      restore of ${name}: recreated ${plain.ms} ms, standby swapped in ${warm.ms} ms`);
        const sb = await docker.listContainers({ all: true, filters: { name: [`${m.container}-standby`] } });
        expect(sb, "no standby left once it was swapped in").to.deep.equal([]);
        // The swapped-in machine serves at its name from the client's vantage point.
        const probe = name === "dns"
          ? inContainer(CLIENT, `dig +short +time=2 +tries=2 @${m.ip} web.${lab.domain}`)
          : inContainer(CLIENT, `getent hosts ${m.fqdn} && timeout 5 bash -c 'echo > /dev/tcp/${m.fqdn}/5432' && echo open`);
        expect(probe.trim()).to.match(name === "dns" ? /^\d+\.\d+\.\d+\.\d+$/ : new RegExp(`${m.ip.replace(/\./g, "\\.")}[\\s\\S]*open`));
        // A standby that is never used goes with its snapshot.
        driver.prepareRestore(m, snap);
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        await driver.deleteSnapshot(snap);
      }
      expect(await docker.listContainers({ all: true, filters: { name: [`${m.container}-standby`] } })).to.deep.equal([]);
    });
  }

  it("after a restore, the state that reuses the hashes of the machine's image layers is exact, and still sees a file changed since", async function () {
    const { lab } = await loadLab("reference");
    const driver = new DockerDriver(docker);
    const m = driver.handlesFor(lab).find((x) => x.spec.name === "web")!;
    const conn = driver.connect(m);
    const opts = { volatile: volatileFor(m), fsToken: `container-layers:${m.container}` };
    const snap = await driver.snapshot(m, "selftest-layers");
    try {
      const before = await machineState(conn, opts);
      inContainer(WEB, "echo '# drift' >> /etc/nginx/mime.types");
      await driver.restore(m, snap, Date.now() + 60_000);
      let t = Date.now();
      const after = await machineState(conn, { ...opts, since: before });
      const reusedMs = Date.now() - t;
      expect(diffStates(before, after).changes, "restored: equal to the state before").to.deep.equal([]);
      t = Date.now();
      const full = await machineState(conn, { volatile: opts.volatile });
      const fullMs = Date.now() - t;
      expect(diffStates(before, full).changes).to.deep.equal([]);
      // A file of an image layer written on the restored machine gets a new ctime: read again, so seen.
      inContainer(WEB, "echo '# drift' >> /etc/nginx/mime.types");
      const changed = await machineState(conn, { ...opts, since: before });
      expect(diffStates(before, changed).changes.map((c) => c.key)).to.include("/etc/nginx/mime.types");
      console.log(`      state after restore: ${reusedMs} ms reusing the layers' hashes, ${fullMs} ms reading every file (${Object.keys(before.files).length} files)`);
    } finally {
      await driver.restore(m, snap, Date.now() + 60_000);
      await driver.deleteSnapshot(snap);
    }
  });
});
