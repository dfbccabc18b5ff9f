// Every hostile or broken input of the corpus is refused as bad input with an error that names
// the file, the field and a remedy, before anything touches the engine: the loaders, the host
// checks and the package preparation that `lab up` and `run` do first, in-process (the
// command-line cases through the real CLI, which refuses them while parsing arguments).
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { checkLabFitsHost, loadBatch, loadLab } from "../../../harness/config/loader.ts";
import { ConfigError, ConfigErrors } from "../../../harness/core/errors.ts";
import { networkName } from "../../../harness/lab/addressing.ts";
import { prepareArtifacts } from "../../../harness/patch/registry.ts";
import { loadWaivers } from "../../../harness/gate/load-waivers.ts";
import { loadPolicy } from "../../../harness/plan/plan.ts";
import { repoRoot } from "../../../harness/core/paths.ts";
import { loadCorpus, materialize, unitHostFacts, type HostileCase } from "./corpus.ts";

const corpus = loadCorpus();

/** The options of an in-process case: `--waivers <f>` (run) and `--policy <f>` (plan); nothing else. */
function optionsOf(c: HostileCase): Record<string, string> | undefined {
  const rest = c.command.slice(c.command[0] === "lab" ? 3 : 2);
  const out: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [k, v] = [rest[i]!, rest[i + 1]];
    if (v === undefined || !((c.command[0] === "run" && k === "--waivers") || (c.command[0] === "plan" && k === "--policy"))) return undefined;
    out[k] = v;
  }
  return out;
}

const isInProcess = (c: HostileCase) =>
  ((c.command[0] === "lab" && c.command[1] === "up") || c.command[0] === "run" || c.command[0] === "plan") && optionsOf(c) !== undefined;

/** What `lab up <lab>`, `run <batch>` and `plan <batch>` do before they reach the engine. */
async function refuse(c: HostileCase, dir: string): Promise<unknown> {
  const facts = unitHostFacts(c);
  const [cmd, sub, target] = c.command;
  const o = optionsOf(c)!;
  const saved = { ...process.env };
  Object.assign(process.env, c.env);
  try {
    if (cmd === "lab") {
      const lab = await loadLab(path.resolve(dir, target!));
      await checkLabFitsHost(lab, undefined, networkName(lab.lab.name), facts);
    } else if (cmd === "run") {
      const b = await loadBatch(path.resolve(dir, sub!));
      await checkLabFitsHost(b.lab, undefined, networkName(b.lab.lab.name), facts);
      if (o["--waivers"]) await loadWaivers(path.resolve(dir, o["--waivers"]));
      const work = path.join(dir, ".work");
      await prepareArtifacts(b.patches, work);
      expect(fs.existsSync(work), "accepted; and built packages into the run directory").to.equal(false);
    } else {
      await loadBatch(path.resolve(dir, sub!));
      await loadPolicy(path.resolve(dir, o["--policy"] ?? "default"));
    }
  } catch (e) {
    return e;
  } finally {
    for (const k of Object.keys(c.env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  return undefined;
}

function cli(args: string[], cwd: string, env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(repoRoot, "bin/patchlab.js"), ...args], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (b) => (stderr += b));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code: code ?? -1, stderr }));
  });
}

export function matchingError(e: unknown, c: HostileCase): ConfigError | undefined {
  const errors = e instanceof ConfigErrors ? e.errors : e instanceof ConfigError ? [e] : [];
  const x = c.expect;
  return errors.find(
    (err) =>
      (!x.file || (err.file ?? err.message).includes(x.file) || err.message.includes(x.file)) &&
      (!x.field || err.field === x.field) &&
      err.message.includes(x.message) &&
      err.remedy.includes(x.remedy) &&
      err.remedy.length > 0,
  );
}

describe("hostile input corpus (test/fixtures/hostile): refused as bad input, naming file, field and remedy", function () {
  this.timeout(20_000);
  // Command-line cases start the real CLI (a second each): all at once, up front.
  const cliRuns = new Map<string, Promise<{ code: number; stderr: string; wrote: boolean }>>();
  before(() => {
    for (const c of corpus.filter((x) => !isInProcess(x))) {
      const dir = materialize(c, unitHostFacts(c));
      const env = { ...c.env, PATCHLAB_REPORTS_DIR: path.join(dir, ".reports"), PATCHLAB_STATE_DIR: path.join(dir, ".state") };
      const run = cli(c.command, dir, env).then((r) => ({ ...r, wrote: fs.existsSync(env.PATCHLAB_REPORTS_DIR) || fs.existsSync(env.PATCHLAB_STATE_DIR) }));
      cliRuns.set(c.name, run.finally(() => fs.rmSync(dir, { recursive: true, force: true })));
    }
  });
  after(async () => {
    await Promise.allSettled(cliRuns.values());
  });

  it("holds at least 30 cases, each with an expectation", () => {
    expect(corpus.length).to.be.at.least(30);
  });

  for (const c of corpus) {
    it(`${c.name}: ${c.about}`, async () => {
      if (!isInProcess(c)) {
        const r = await cliRuns.get(c.name)!;
        expect(r.code, r.stderr).to.equal(3);
        for (const part of [c.expect.field, c.expect.message, c.expect.file, c.expect.remedy].filter(Boolean)) expect(r.stderr).to.include(part);
        // (`run` writes its bad-input verdict to gate.json: the integration test checks that is all.)
        if (c.command[0] !== "run") expect(r.wrote, "wrote reports or state").to.equal(false);
        return;
      }
      const dir = materialize(c, unitHostFacts(c));
      try {
        const e = await refuse(c, dir);
        expect(e, "the input was accepted").to.not.equal(undefined);
        const described = e instanceof ConfigErrors || e instanceof ConfigError ? e.describe() : String((e as Error)?.stack ?? e);
        expect(e instanceof ConfigErrors || e instanceof ConfigError, `not bad input (exit 3) but:\n${described}`).to.equal(true);
        expect(matchingError(e, c), `no error names ${JSON.stringify(c.expect)}; got:\n${described}`).to.not.equal(undefined);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
void os;
