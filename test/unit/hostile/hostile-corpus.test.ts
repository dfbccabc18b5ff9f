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
import { prepareDeb } from "../../../harness/patch/deb.ts";
import { repoRoot } from "../../../harness/core/paths.ts";
import { loadCorpus, materialize, unitHostFacts, type HostileCase } from "./corpus.ts";

const corpus = loadCorpus();

/** What `lab up <lab>` and `run <batch>` do before they reach the engine. */
async function refuse(c: HostileCase, dir: string): Promise<unknown> {
  const facts = unitHostFacts(c);
  const [cmd, sub, target] = c.command;
  const saved = { ...process.env };
  Object.assign(process.env, c.env);
  try {
    if (cmd === "lab" && sub === "up" && c.command.length === 3) {
      const lab = await loadLab(path.resolve(dir, target!));
      await checkLabFitsHost(lab, undefined, networkName(lab.lab.name), facts);
    } else if (cmd === "run" && c.command.length === 2) {
      const b = await loadBatch(path.resolve(dir, sub!));
      await checkLabFitsHost(b.lab, undefined, networkName(b.lab.lab.name), facts);
      const work = path.join(dir, ".work");
      for (const p of b.patches) await prepareDeb(p.patch, p.file, work);
      expect(fs.existsSync(work), "accepted; and built packages into the run directory").to.equal(false);
    } else {
      throw new Error(`not an in-process case: ${c.command.join(" ")}`);
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

const isInProcess = (c: HostileCase) =>
  (c.command[0] === "lab" && c.command[1] === "up" && c.command.length === 3) || (c.command[0] === "run" && c.command.length === 2);

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
  it("holds at least 30 cases, each with an expectation", () => {
    expect(corpus.length).to.be.at.least(30);
  });

  for (const c of corpus) {
    it(`${c.name}: ${c.about}`, async () => {
      const dir = materialize(c, unitHostFacts(c));
      try {
        if (isInProcess(c)) {
          const e = await refuse(c, dir);
          expect(e, "the input was accepted").to.not.equal(undefined);
          const described = e instanceof ConfigErrors || e instanceof ConfigError ? e.describe() : String((e as Error)?.stack ?? e);
          expect(e instanceof ConfigErrors || e instanceof ConfigError, `not bad input (exit 3) but:\n${described}`).to.equal(true);
          expect(matchingError(e, c), `no error names ${JSON.stringify(c.expect)}; got:\n${described}`).to.not.equal(undefined);
        } else {
          const r = await cli(c.command, dir, { ...c.env, PATCHLAB_REPORTS_DIR: path.join(dir, ".reports"), PATCHLAB_STATE_DIR: path.join(dir, ".state") });
          expect(r.code, r.stderr).to.equal(3);
          for (const part of [c.expect.field, c.expect.message, c.expect.file, c.expect.remedy].filter(Boolean)) expect(r.stderr).to.include(part);
          expect(fs.existsSync(path.join(dir, ".reports")) || fs.existsSync(path.join(dir, ".state")), "wrote reports or state").to.equal(false);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
void os;
