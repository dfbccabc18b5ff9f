// The lab images on a real Docker engine: built once per recipe (a second call is a fast
// no-op), and each role image, started on a temporary internal network and provisioned by its
// role module, really serves: HTTPS with a lab-CA certificate, DNS for the lab domain, a
// PostgreSQL query, an SMB share, a DokuWiki one can log in to and edit.
import fs from "node:fs";
import https from "node:https";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type Docker from "dockerode";
import { expect } from "chai";
import { Lab, type DockerMachine } from "../../harness/config/schemas.ts";
import { DockerConnection } from "../../harness/lab/drivers/docker-connection.ts";
import { Labels, requireEngine } from "../../harness/lab/drivers/docker-engine.ts";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { LabError } from "../../harness/core/errors.ts";
import { ensureImages, imageStatus, imageTag, imagesDir, removeStaleImages } from "../../harness/lab/images/build.ts";
import { labPki } from "../../harness/lab/pki.ts";
import { BOOTED_CHECK } from "../../harness/lab/roles/common.ts";
import { DB, SMB, WIKI } from "../../harness/lab/roles/credentials.ts";
import { machineReadiness, provisionMachine } from "../../harness/lab/roles/index.ts";
import type { LabPki } from "../../harness/lab/roles/types.ts";
import type { MachineHandle } from "../../harness/lab/types.ts";
import { probeAll, waitUntil } from "../../harness/readiness/wait.ts";

const IMAGES = ["base", "web", "dns", "db", "file", "app", "client"];
const ROLES = ["web", "dns", "db", "file", "app", "client"] as const;
const NETWORK = "patchlab-imgtest";
const SUBNET = "172.30.99.0/24";
const DOMAIN = "lab.test";
const TEST_LABEL = "patchlab.test";
const ip = (i: number) => `172.30.99.${10 + i}`;

function measured(line: string): void {
  process.stdout.write(`      measured: ${line}\n`);
}

async function removeLeftovers(docker: Docker): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=images`] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})));
  const nets = await docker.listNetworks({ filters: { label: [`${TEST_LABEL}=images`] } });
  await Promise.all(nets.map((n) => docker.getNetwork(n.Id).remove().catch(() => {})));
}

function get(url: string, opts: https.RequestOptions = {}): Promise<{ status: number; body: string; peerCert?: unknown }> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith("https:") ? https : http;
    const req = mod.get(url, { timeout: 5000, ...opts }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once("timeout", () => req.destroy(new Error("timeout")));
    req.once("error", reject);
  });
}

describe("lab images (real Docker)", function () {
  let docker: Docker;
  let tags: Map<string, string>;

  before(async function () {
    this.timeout(1800_000);
    docker = await requireEngine();
    const started = Date.now();
    const built: string[] = [];
    tags = await ensureImages(docker, IMAGES, {
      onProgress: (l) => {
        if (/\] # built /.test(l)) built.push(l.replace(/^\[\w+\] # /, ""));
      },
    });
    for (const b of built) measured(b);
    measured(`ensureImages (${built.length ? `built ${built.length}` : "all present"}) took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const s of await imageStatus(docker, IMAGES)) measured(`${s.tag} ${((s.sizeBytes ?? 0) / 1e6).toFixed(0)} MB`);
  });

  it("returns a tag for every image asked for, patchlab/<name>:<recipe hash>", async () => {
    for (const name of IMAGES) expect(tags.get(name)).to.equal(await imageTag(name));
  });

  it("a second ensureImages of all seven is a no-op taking well under 2 s", async () => {
    const t0 = Date.now();
    const again = await ensureImages(docker, IMAGES, { onProgress: (l) => expect.fail(`unexpected build output: ${l}`) });
    const ms = Date.now() - t0;
    measured(`no-op ensureImages: ${ms} ms`);
    expect(ms).to.be.below(2000);
    expect([...again]).to.deep.equal([...tags]);
  });

  it("two concurrent ensureImages calls agree and build nothing", async () => {
    const [a, b] = await Promise.all([ensureImages(docker, ["web", "db"]), ensureImages(docker, ["db", "client"])]);
    expect(a.get("db")).to.equal(b.get("db"));
  });

  it("labels every image patchlab.managed, kind=image and its recipe hash", async () => {
    for (const s of await imageStatus(docker, IMAGES)) {
      const info = await docker.getImage(s.tag).inspect();
      expect(info.Config.Labels?.[Labels.managed], s.name).to.equal("true");
      expect(info.Config.Labels?.[Labels.kind], s.name).to.equal("image");
      expect(info.Config.Labels?.[Labels.recipeHash], s.name).to.equal(s.hash);
      expect(info.Config.Entrypoint, s.name).to.deep.equal(["/usr/bin/tini", "--", "/usr/local/sbin/patchlab-init"]);
      expect(info.Config.Env, s.name).to.include("DEBIAN_FRONTEND=noninteractive");
    }
  });

  describe("building from a changed recipe (a tiny image on the real base)", function () {
    let root: string;
    let state: string;
    const made: string[] = [];
    const buildFile = fileURLToPath(new URL("../../harness/lab/images/build.ts", import.meta.url));
    const engineFile = fileURLToPath(new URL("../../harness/lab/drivers/docker-engine.ts", import.meta.url));

    before(() => {
      root = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-imgtest-recipes-"));
      state = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-imgtest-state-"));
      fs.cpSync(path.join(imagesDir(), "base"), path.join(root, "base"), { recursive: true, verbatimSymlinks: true });
      fs.mkdirSync(path.join(root, "tiny"));
      fs.writeFileSync(path.join(root, "tiny/Dockerfile"), `ARG BASE\nFROM \${BASE}\nRUN echo ${process.pid}-${Date.now()} > /etc/patchlab-tiny\n`);
      fs.mkdirSync(path.join(root, "broken"));
      fs.writeFileSync(path.join(root, "broken/Dockerfile"), "ARG BASE\nFROM ${BASE}\nRUN echo about-to-fail && false\n");
    });

    after(async function () {
      this.timeout(60_000);
      for (const tag of made) await docker.getImage(tag).remove().catch(() => {});
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(state, { recursive: true, force: true });
    });

    it("uses the existing base (same recipe, same tag) and builds only the new image", async () => {
      expect(await imageTag("base", { imagesDir: root })).to.equal(tags.get("base"));
      const tinyTag = await imageTag("tiny", { imagesDir: root });
      made.push(tinyTag);
      const lines: string[] = [];
      const t0 = Date.now();
      const m = await ensureImages(docker, ["tiny"], { imagesDir: root, stateDir: state, onProgress: (l) => lines.push(l) });
      measured(`tiny image built in ${Date.now() - t0} ms`);
      expect(m.get("tiny")).to.equal(tinyTag);
      expect(lines.some((l) => l.startsWith("[base]")), "base must not be rebuilt").to.equal(false);
      const info = await docker.getImage(tinyTag).inspect();
      expect(info.Config.Labels?.[Labels.recipeHash]).to.match(new RegExp(`^${tinyTag.split(":")[1]}`));
      expect(fs.readdirSync(path.join(state, "image-builds")).filter((f) => f.endsWith(".log"))).to.have.length(1);
    });

    it("two processes building the same new image at once: one builds, the other waits and reuses it", async () => {
      fs.appendFileSync(path.join(root, "tiny/Dockerfile"), "RUN echo second > /etc/patchlab-tiny-2\n");
      const tinyTag = await imageTag("tiny", { imagesDir: root });
      made.push(tinyTag);
      const script = path.join(state, "ensure-tiny.mts");
      fs.writeFileSync(
        script,
        `import { docker } from ${JSON.stringify(engineFile)};\nimport { ensureImages } from ${JSON.stringify(buildFile)};\n` +
          `let built = false;\nconst m = await ensureImages(docker(), ["tiny"], { imagesDir: ${JSON.stringify(root)}, stateDir: ${JSON.stringify(state)}, onProgress: (l) => { if (l.includes("# built")) built = true; } });\n` +
          `console.log(JSON.stringify({ tag: m.get("tiny"), built }));\n`,
      );
      const run = () =>
        new Promise<{ tag: string; built: boolean }>((resolve, reject) => {
          const p = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
          let out = "";
          let err = "";
          p.stdout.on("data", (b: Buffer) => (out += b.toString()));
          p.stderr.on("data", (b: Buffer) => (err += b.toString()));
          p.once("close", (code) => (code === 0 ? resolve(JSON.parse(out.trim().split("\n").pop()!)) : reject(new Error(`exit ${code}: ${err}`))));
        });
      const results = await Promise.all([run(), run()]);
      expect(results.map((r) => r.tag)).to.deep.equal([tinyTag, tinyTag]);
      expect(results.filter((r) => r.built)).to.have.length(1);
      expect(fs.readdirSync(path.join(state, "image-builds")).filter((f) => f.endsWith(".lock"))).to.deep.equal([]);
    });

    it("a failing build throws LabError image-build naming the image, the log's last lines and the log path", async () => {
      const err = await ensureImages(docker, ["broken"], { imagesDir: root, stateDir: state }).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(LabError);
      const e = err as LabError;
      expect(e.kind).to.equal("image-build");
      expect(e.message).to.contain("image broken").and.contain("about-to-fail");
      const logPath = /--- last \d+ lines of (\S+) ---/.exec(e.message)?.[1];
      expect(logPath && fs.existsSync(logPath), e.message).to.equal(true);
      expect(e.remedy).to.contain(logPath!);
    });

    it("stale tags of a changed recipe can be listed for removal, current ones never", async () => {
      const r = await removeStaleImages(docker, { imagesDir: root, dryRun: true });
      expect(r.removed).to.include(made[0]);
      expect(r.removed).to.not.include(made[1]);
      expect(r.removed).to.not.include(tags.get("base"));
    });
  });

  describe("role machines on an internal network", function () {
    let stateDir: string;
    let pki: LabPki;
    let lab: Lab;
    let handles: MachineHandle[];
    const conns = new Map<string, DockerConnection>();
    const readyMs = new Map<string, number>();
    const h = (role: string) => handles.find((m) => m.spec.name === role)!;
    const conn = (role: string) => conns.get(role)!;
    const onClient = async (cmd: string, env?: Record<string, string>) => {
      const r = await conn("client").exec(cmd, { timeoutMs: 30_000, ...(env ? { env } : {}) });
      return { ...r, out: r.stdout.trim() };
    };

    before(async function () {
      this.timeout(300_000);
      await removeLeftovers(docker);
      stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-imgtest-"));
      lab = Lab.parse({
        name: "imgtest",
        domain: DOMAIN,
        network: { subnet: SUBNET },
        machines: ROLES.map((role, i) => ({
          name: role,
          image: role,
          roles: [role],
          applications: role === "app" ? ["dokuwiki"] : [],
          owner: { name: "test", contact: "test@example.org" },
          site: "hq",
          criticality: "low",
          ip: ip(i),
        })),
      });
      pki = await labPki(stateDir, lab);
      await docker.createNetwork({
        Name: NETWORK,
        Driver: "bridge",
        Internal: true,
        CheckDuplicate: true,
        IPAM: { Config: [{ Subnet: SUBNET, Gateway: "172.30.99.1" }] },
        Labels: { [Labels.managed]: "true", [Labels.kind]: "test", [TEST_LABEL]: "images" },
      });
      handles = lab.machines.map((spec) => ({ spec, lab, container: `${NETWORK}-${spec.name}`, ip: spec.ip!, fqdn: `${spec.name}.${DOMAIN}` }));
      const startedAt = new Map<string, number>();
      for (const m of handles) {
        const c = await docker.createContainer({
          name: m.container,
          Image: tags.get((m.spec as DockerMachine).image)!,
          Hostname: m.spec.name,
          Domainname: DOMAIN,
          Labels: { [Labels.managed]: "true", [Labels.kind]: "test", [TEST_LABEL]: "images" },
          HostConfig: { NetworkMode: NETWORK, Init: false },
          NetworkingConfig: { EndpointsConfig: { [NETWORK]: { IPAMConfig: { IPv4Address: m.ip }, Aliases: [m.spec.name, m.fqdn] } } },
        });
        conns.set(m.spec.name, new DockerConnection(docker, m.container, m.spec.name));
        startedAt.set(m.spec.name, Date.now());
        await c.start();
      }
      const ctx = { machines: handles, pki, connect: (m: MachineHandle) => conns.get(m.spec.name)! };
      await Promise.all(
        handles.map(async (m) => {
          const c = conns.get(m.spec.name)!;
          await provisionMachine(c, m, ctx);
          await waitUntil(machineReadiness(m, pki), { machine: m.spec.name, ip: m.ip, conn: c }, Date.now() + 120_000);
          readyMs.set(m.spec.name, Date.now() - startedAt.get(m.spec.name)!);
        }),
      );
      measured(`ready after start (incl. provision): ${[...readyMs].map(([k, v]) => `${k} ${v} ms`).join(", ")}`);
    });

    after(async function () {
      this.timeout(120_000);
      if (docker) await removeLeftovers(docker);
      if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    });

    it("every role machine became ready per its role module after provision", () => {
      expect([...readyMs.keys()].sort()).to.deep.equal([...ROLES].sort());
    });

    it("one readiness probe round of a ready machine is cheap (it also runs after every restore)", async () => {
      const costs: string[] = [];
      for (const m of handles) {
        const t0 = Date.now();
        const r = await probeAll(machineReadiness(m, pki), { machine: m.spec.name, ip: m.ip, conn: conn(m.spec.name) });
        const ms = Date.now() - t0;
        costs.push(`${m.spec.name} ${ms} ms`);
        expect(r.ok, r.detail).to.equal(true);
        expect(ms, m.spec.name).to.be.below(m.spec.name === "web" ? 200 : 1000);
      }
      measured(`one probe round: ${costs.join(", ")}`);
    });

    it("provisioning again changes nothing and stays ready", async () => {
      const ctx = { machines: handles, pki, connect: (m: MachineHandle) => conn(m.spec.name) };
      const before = await conn("web").download("/etc/ssl/patchlab/server.crt");
      const zoneBefore = await conn("dns").download(`/etc/bind/db.${DOMAIN}`);
      for (const m of handles) await provisionMachine(conn(m.spec.name), m, ctx);
      expect((await conn("web").download("/etc/ssl/patchlab/server.crt")).equals(before)).to.equal(true);
      expect((await conn("dns").download(`/etc/bind/db.${DOMAIN}`)).equals(zoneBefore)).to.equal(true);
      for (const m of handles) await waitUntil(machineReadiness(m, pki), { machine: m.spec.name, ip: m.ip, conn: conn(m.spec.name) }, Date.now() + 30_000);
    });

    it("web answers HTTPS with a certificate that verifies against the lab CA, and serves its marker", async () => {
      const page = await get(`https://${h("web").ip}/`, { ca: pki.caCertPem, servername: h("web").fqdn, headers: { host: h("web").fqdn } });
      expect(page.status).to.equal(200);
      expect(page.body).to.contain("patchlab-web-ok");
      const health = await get(`http://${h("web").ip}/healthz`);
      expect([health.status, health.body]).to.deep.equal([200, "ok"]);
      // And a client machine that trusts the lab CA (provisioned) verifies it by name.
      const r = await onClient(`curl -sS --resolve web.${DOMAIN}:443:${h("web").ip} https://web.${DOMAIN}/`);
      expect(r.exitCode, r.stderr).to.equal(0);
      expect(r.out).to.contain("patchlab-web-ok");
    });

    it("web rejects an untrusting client: the certificate is not the image's placeholder", async () => {
      const err = await get(`https://${h("web").ip}/`, { servername: h("web").fqdn }).then(() => undefined, (e: Error) => e);
      expect(err?.message).to.match(/self[- ]signed|unable to (get|verify)/i);
    });

    it("dns resolves web.<domain>, every machine and www from the client", async () => {
      const dns = h("dns").ip;
      expect((await onClient(`dig @${dns} +short web.${DOMAIN}`)).out).to.equal(h("web").ip);
      expect((await onClient(`dig @${dns} +short db.${DOMAIN}`)).out).to.equal(h("db").ip);
      expect((await onClient(`dig @${dns} +short www.${DOMAIN}`)).out.split("\n")).to.deep.equal([`web.${DOMAIN}.`, h("web").ip]);
      const rec = await onClient(`dig @${dns} +norecurse example.org A | grep -E 'status|flags'`);
      expect(rec.out, "recursion must be off").to.match(/status: REFUSED|flags: qr(?! .*ra)/);
    });

    it("db answers a query on inventory from the client, as labuser over TCP", async () => {
      const r = await onClient(`psql -h ${h("db").ip} -U labuser -d inventory -tAc "select hostname from assets order by id"`, { PGPASSWORD: DB.password });
      expect(r.exitCode, r.stderr).to.equal(0);
      expect(r.out.split("\n")).to.include.members(["web", "db", "client"]);
      // The image's throw-away password no longer works: provisioning replaced it with the lab's.
      const wrong = await onClient(`PGPASSWORD=labpass psql -h ${h("db").ip} -U labuser -d inventory -tAc "select 1"`);
      expect(wrong.exitCode).to.not.equal(0);
    });

    it("the file share lists readme.txt via smbclient from the client", async () => {
      const r = await onClient(`smbclient //${h("file").ip}/shared -U labuser -c 'ls'`, { PASSWD: SMB.password });
      expect(r.exitCode, r.stderr).to.equal(0);
      expect(r.out).to.contain("readme.txt");
      const put = await onClient(`echo hi > /tmp/up.txt && smbclient //${h("file").ip}/shared -U labuser -c 'put /tmp/up.txt up.txt; ls up.txt'`, { PASSWD: SMB.password });
      expect(put.exitCode, put.stderr).to.equal(0);
      const anon = await onClient(`smbclient -N //${h("file").ip}/shared -c ls`);
      expect(anon.exitCode).to.not.equal(0);
    });

    it("the wiki serves its start page with the marker", async () => {
      const r = await get(`http://${h("app").ip}/dokuwiki/doku.php?id=start`);
      expect(r.status).to.equal(200);
      expect(r.body).to.contain("patchlab-wiki-ok");
      const root = await get(`http://${h("app").ip}/`);
      expect(root.status).to.equal(302);
    });

    it("a user logs in to the wiki as labadmin and edits a page (curl from the client)", async () => {
      const base = `http://${h("app").ip}/dokuwiki`;
      const text = `edited-${Date.now()}`;
      const script = `
set -eu
B=${base}; J=$(mktemp); P=playground:patchlab
field() { tr '>' '\\n' | grep "name=\\"$1\\"" | sed -n "s/.*value=\\"\\([^\\"]*\\)\\".*/\\1/p" | head -1; }
tok=$(curl -s -c $J -b $J "$B/doku.php?id=start&do=login" | field sectok)
printf %s "$WIKI_PASSWORD" | curl -s -c $J -b $J -o /dev/null --data-urlencode "sectok=$tok" -d id=start -d do=login -d u=labadmin --data-urlencode "p@-" "$B/doku.php"
curl -s -c $J -b $J "$B/doku.php?id=start" | grep -q 'do=logout' || { echo "login failed"; exit 1; }
form=$(curl -s -c $J -b $J "$B/doku.php?id=$P&do=edit")
curl -s -c $J -b $J -o /dev/null \\
  --data-urlencode "sectok=$(echo "$form" | field sectok)" -d id=$P --data-urlencode "date=$(echo "$form" | field date)" \\
  -d prefix=. -d suffix= --data-urlencode "changecheck=$(echo "$form" | field changecheck)" \\
  --data-urlencode "wikitext=${text}" -d summary=patchlab -d "do[save]=1" "$B/doku.php"
curl -s "$B/doku.php?id=$P&do=export_raw"
`;
      const r = await conn("client").exec(["sh", "-c", script], { timeoutMs: 30_000, env: { WIKI_PASSWORD: WIKI.password } });
      expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout.trim()).to.equal(text);
      const anon = await get(`${base}/doku.php?id=playground:patchlab&do=edit`);
      expect(anon.status).to.equal(200);
      expect(anon.body, "anonymous users may only view the source").to.not.contain('name="do[save]"');
    });

    it("a maintainer script may restart a service (invoke-rc.d is allowed at run time)", async () => {
      const r = await conn("web").exec("p=$(cat /run/nginx.pid); invoke-rc.d nginx restart >/dev/null 2>&1; sleep 0.3; test \"$(cat /run/nginx.pid)\" != \"$p\" && pgrep -x nginx >/dev/null");
      expect(r.exitCode, r.stdout + r.stderr).to.equal(0);
      await waitUntil(machineReadiness(h("web"), pki), { machine: "web", ip: h("web").ip, conn: conn("web") }, Date.now() + 10_000);
    });

    it("web is ready again quickly after a stop/start, and patchlab-init stops its services on SIGTERM", async () => {
      const c = docker.getContainer(h("web").container);
      const t0 = Date.now();
      await c.stop({ t: 10 });
      const stopMs = Date.now() - t0;
      const logs = (await c.logs({ stdout: true, stderr: true })).toString();
      expect(logs).to.contain("patchlab-init: stopped");
      const t1 = Date.now();
      await c.start();
      await waitUntil(machineReadiness(h("web"), pki), { machine: "web", ip: h("web").ip, conn: conn("web") }, Date.now() + 10_000);
      const readyMs = Date.now() - t1;
      const booted = await conn("web").exec(BOOTED_CHECK);
      measured(`web: docker stop ${stopMs} ms; start -> ready ${readyMs} ms`);
      expect(stopMs).to.be.below(5000);
      expect(readyMs).to.be.below(3000);
      expect(booted.exitCode).to.equal(0);
    });

    it("lab machines have bookworm main only as apt source and no policy-rc.d", async () => {
      const r = await conn("client").exec("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v '^#' | grep .; test ! -e /usr/sbin/policy-rc.d");
      expect(r.exitCode).to.equal(0);
      expect(r.stdout.trim()).to.equal("deb http://deb.debian.org/debian bookworm main");
    });
  });
});
