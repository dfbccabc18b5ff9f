// Chained verification on the real lab: a machine's patches are installed together and checked
// once (what production will get); when the aggregate fails, blame names the patch or the pair.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import type { Decision } from "../../harness/gate/gate.ts";
import { JournalData } from "../../harness/run/journal.ts";
import { buildDeb, cli, readJson, runDirFrom, tmpDir } from "./support.ts";

/** A batch of several .deb patches for the web machine. */
function batchOf(dir: string, name: string, debs: { id: string; deb: string }[]): string {
  for (const d of debs) {
    fs.writeFileSync(path.join(dir, `${d.id}.yaml`), [`id: ${d.id}`, `title: test patch ${d.id}`, "severity: moderate", "kind: deb", `deb: { file: ${path.basename(d.deb)} }`, "appliesTo: { roles: [web] }", ""].join("\n"));
  }
  const batch = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(batch, [`name: ${name}`, "lab: reference", "patches:", ...debs.map((d) => `  - ${d.id}.yaml`), ""].join("\n"));
  return batch;
}

/** An nginx conf patch whose maintainer scripts stop and start nginx (a bad combined config leaves it stopped). */
function nginxConf(dir: string, name: string, conf: string): string {
  return buildDeb(dir, {
    name,
    version: "1.0",
    depends: "nginx-common",
    files: { [`etc/nginx/conf.d/${name}.conf`]: conf },
    postinst: "#!/bin/sh\n[ \"$1\" = configure ] && { invoke-rc.d nginx stop || true; invoke-rc.d nginx start || true; }\nexit 0\n",
    postrm: "#!/bin/sh\ninvoke-rc.d nginx stop || true\ninvoke-rc.d nginx start || true\nexit 0\n",
  });
}

describe("chained verification on the reference lab", function () {
  let dir: string;
  before(async function () {
    const up = await cli(["lab", "up"]);
    expect(up.code, up.stderr).to.equal(0);
    dir = tmpDir("chain");
  });

  it("good patches are installed together, checked once, and each approved with what it was tested with", async function () {
    const a = nginxConf(dir, "fixture-chain-hdr-a", "add_header X-Fixture-A a always;\n");
    const b = nginxConf(dir, "fixture-chain-hdr-b", "add_header X-Fixture-B b always;\n");
    const r = await cli(["run", batchOf(dir, "chain-good", [{ id: "CHAIN-A", deb: a }, { id: "CHAIN-B", deb: b }])]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const runDir = runDirFrom(r.stdout);
    const gate = readJson<Decision>(path.join(runDir, "gate.json"));
    expect(gate.patches.map((p) => [p.patch, p.verdict, p.testedWith])).to.deep.equal([["CHAIN-A", "approved", ["CHAIN-B"]], ["CHAIN-B", "approved", ["CHAIN-A"]]]);
    const journal = JournalData.parse(readJson(path.join(runDir, "run.json")));
    expect(journal.steps.filter((s) => s.step.startsWith("suite web post-install")).length, "one post-install run for the aggregate").to.equal(1);
    expect(journal.steps.filter((s) => s.step === "restore" && s.machine === "web").length, "one restore").to.equal(1);
  });

  it("two patches that each pass alone and break nginx together are both rejected; blame names the pair; the third is approved", async function () {
    // Each declares the same upstream: fine alone, "duplicate upstream" together.
    const a = nginxConf(dir, "fixture-pair-a", "upstream fixture_backend { server 127.0.0.1:9; }\n");
    const b = nginxConf(dir, "fixture-pair-b", "upstream fixture_backend { server 127.0.0.1:9; }\n");
    const c = nginxConf(dir, "fixture-pair-c", "add_header X-Fixture-C c always;\n");
    const r = await cli(["run", batchOf(dir, "chain-pair", [{ id: "PAIR-A", deb: a }, { id: "PAIR-C", deb: c }, { id: "PAIR-B", deb: b }])]);
    expect(r.code, r.stdout + r.stderr).to.equal(1);
    const gate = readJson<Decision>(path.join(runDirFrom(r.stdout), "gate.json"));
    expect(gate.patches.map((p) => [p.patch, p.verdict])).to.deep.equal([["PAIR-A", "rejected"], ["PAIR-C", "approved"], ["PAIR-B", "rejected"]]);
    const note = gate.patches[0]!.notes.join("\n");
    expect(note).to.match(/together PAIR-A \+ PAIR-B break it/);
    expect(gate.approvedSet.map((x) => x.package)).to.deep.equal(["fixture-pair-c"]);
  });

  it("--isolate verifies each patch alone", async function () {
    const a = nginxConf(dir, "fixture-iso-a", "add_header X-Fixture-IA a always;\n");
    const b = nginxConf(dir, "fixture-iso-b", "add_header X-Fixture-IB b always;\n");
    const r = await cli(["run", batchOf(dir, "chain-isolate", [{ id: "ISO-A", deb: a }, { id: "ISO-B", deb: b }]), "--isolate"]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const gate = readJson<Decision>(path.join(runDirFrom(r.stdout), "gate.json"));
    expect(gate.patches.map((p) => p.testedWith)).to.deep.equal([[], []]);
  });
});
