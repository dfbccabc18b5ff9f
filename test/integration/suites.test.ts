// Every role's suite and the DokuWiki browser suite on the healthy reference lab, through
// `patchlab verify` as a user runs it: full depth passes every check of every machine, each
// with the service's answer time; limited depth runs one smoke check per suite; a service
// that stops answering fails its suite (exit 1) with a message a reviewer understands.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { cli, inContainer, type CliResult } from "./support.ts";
import { repoRoot } from "../../harness/core/paths.ts";

/** The lab under test: the reference lab, or (while developing a suite) another lab with the same machines. */
const LAB = process.env.PATCHLAB_SUITES_TEST_LAB ?? "reference";
const LAB_NAME = path.basename(LAB).replace(/\.ya?ml$/, "");

interface AllureStep {
  name: string;
  steps?: AllureStep[];
  attachments?: { name: string; type: string; source: string }[];
}
interface AllureResult extends AllureStep {
  status: string;
  labels: { name: string; value: string }[];
  parameters: { name: string; value: string }[];
  statusDetails?: { message?: string };
}

const ALL_SUITES = ["roles/web", "roles/dns", "roles/db", "roles/file", "roles/app", "apps/dokuwiki/wiki", "roles/ssh", "roles/client"];

function resultsDirOf(r: CliResult): string {
  const m = /^results: (.+)$/m.exec(r.stdout);
  if (!m) throw new Error(`no results line in verify output:\n${r.stdout}\n${r.stderr}`);
  return path.resolve(repoRoot, m[1]!.trim(), "allure-results");
}

function allureResults(dir: string): AllureResult[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith("-result.json")).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as AllureResult);
}

const attachmentsOf = (s: AllureStep): { name: string; type: string }[] => [...(s.attachments ?? []), ...(s.steps ?? []).flatMap(attachmentsOf)];
const label = (r: AllureResult, n: string) => r.labels.find((l) => l.name === n)?.value;

describe("suites: patchlab verify on the healthy reference lab", function () {
  this.timeout(600_000);

  before(async function () {
    const up = await cli(["lab", "up", LAB]);
    expect(up.code, up.stdout + up.stderr).to.equal(0);
  });

  it("full depth: every check of every suite passes, each recording the service's answer time", async function () {
    const r = await cli(["verify", LAB, "--depth", "full"]);
    console.log(`      verify --depth full: ${(r.ms / 1000).toFixed(1)} s (${/in \d+ suites, depth full, ([\d.]+ s)/.exec(r.stdout)?.[1]} running the suites)`);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    for (const s of ALL_SUITES) expect(r.stdout, s).to.match(new RegExp(`: ${s.replace(/\//g, "\\/")}: ok (\\d+)/\\1 passed`));
    const results = allureResults(resultsDirOf(r));
    expect(results.length, "checks in the full run").to.be.at.least(30);
    expect(results.filter((x) => x.status !== "passed").map((x) => `${x.name}: ${x.statusDetails?.message}`)).to.deep.equal([]);
    // Every check measured the service, and said so in Allure (outside the history id).
    const untimed = results.filter((x) => !x.parameters.some((p) => p.name === "latencyMs" && Number(p.value) >= 0)).map((x) => x.name);
    expect(untimed, "checks without a latencyMs parameter").to.deep.equal([]);
    // The browser flow really logged in and edited a page, with a screenshot per step and the console errors attached.
    const flow = results.find((x) => x.name.startsWith("dokuwiki lets a user log in"))!;
    expect(flow.steps!.map((s) => s.name)).to.include.members(["log in as labadmin", "create a page", "edit the page", "find the page with the wiki's search", "view the page's history", "log out"]);
    const files = attachmentsOf(flow);
    expect(files.filter((a) => a.type === "image/png").length, "screenshots").to.be.at.least(8);
    expect(files.map((a) => a.name)).to.include("console errors");
    expect(files.map((a) => a.name), "a passing check keeps no trace").to.not.include("trace.zip");
    expect(new Set(results.map((x) => label(x, "machine")))).to.deep.equal(new Set(["web", "dns", "db", "file", "app", "ssh", "client"]));
  });

  it("limited depth: one fast smoke check per suite", async function () {
    const r = await cli(["verify", LAB, "--depth", "limited"]);
    console.log(`      verify --depth limited: ${(r.ms / 1000).toFixed(1)} s (${/in \d+ suites, depth limited, ([\d.]+ s)/.exec(r.stdout)?.[1]} running the suites)`);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const results = allureResults(resultsDirOf(r));
    expect(results.map((x) => x.name).sort()).to.deep.equal([
      "app serves the wiki's start page",
      "client opens the web machines' HTTPS pages, trusting them through its own trust store",
      "db accepts a network login as the lab role and answers a query",
      "dns serves the lab zone's SOA with authority",
      "dokuwiki shows its start page in a browser",
      "file lists the share as the lab user",
      "ssh lets the lab user log in with the client's key and run a command",
      "web serves its home page over HTTP",
    ]);
    expect(results.every((x) => x.status === "passed")).to.equal(true);
  });

  it("-m and --suite run one suite by hand; an unknown suite is bad input (exit 3) naming the choices", async function () {
    const one = await cli(["verify", LAB, "-m", "dns", "--suite", "dns"]);
    expect(one.code, one.stdout + one.stderr).to.equal(0);
    expect(one.stdout).to.match(/dns: roles\/dns: ok 6\/6 passed/).and.match(/in 1 suites/);
    const bad = await cli(["verify", LAB, "-m", "dns", "--suite", "dokuwiki"]);
    expect(bad.code).to.equal(3);
    expect(bad.stderr).to.contain('no suite "dokuwiki" on machine(s) dns').and.contain("use one of: roles/dns");
  });

  it("a service that stops answering fails its suite: exit 1, the failed checks named with what the client saw", async function () {
    inContainer(`patchlab-${LAB_NAME}-file`, "/etc/init.d/smbd stop >/dev/null");
    try {
      const r = await cli(["verify", LAB, "-m", "file"]);
      expect(r.code, r.stdout + r.stderr).to.equal(1);
      expect(r.stdout).to.match(/file: roles\/file: FAILED 0\/4 passed/);
      expect(r.stdout).to.contain("FAILED: file role > file lists the share as the lab user");
      expect(r.stdout).to.match(/NT_STATUS_CONNECTION_REFUSED \(nothing listens for SMB on port 445\)/);
      // Never the password, in any message.
      expect(r.stdout + r.stderr).to.not.contain("labpass");
    } finally {
      inContainer(`patchlab-${LAB_NAME}-file`, "/etc/init.d/smbd start >/dev/null");
    }
  });
});
