// A warm suite process (started by harness/run/suite-worker.ts before it is needed): it loads
// tsx, mocha, the Allure reporter and the suites' support modules while the harness does other
// work, then waits for ONE job on stdin (a JSON line), runs that suite with mocha's programmatic
// API exactly as the mocha CLI would with mocha-runner.ts's config, and exits. One suite per
// process, as with the mocha CLI: every run still gets fresh spec modules and a fresh suite
// context, and a hung suite is still killed with its process group.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import Mocha from "mocha";

export interface SuiteJob {
  /** The file mocha loads: the spec, or its bundle (suite-worker.ts bundle mode). */
  spec: string;
  /** The spec the results are about: put back on every test, so a bundle's results read as the spec's. */
  specFile: string;
  /** Added to process.env before anything reads it (labels, context file, parameters, done file). */
  env: Record<string, string>;
  reporterOptions: Record<string, unknown>;
  hooksFile: string;
  timeoutMs: number;
  /** Only the checks to run again (mocha-runner.ts's retry), as the CLI's --grep. */
  grep?: string;
}

const require = createRequire(import.meta.url);

/** Warms the module cache with what every suite loads: the reporter mocha require()s, the support modules, the packages named. */
async function preload(supportDir: string, packages: string[]): Promise<void> {
  require("allure-mocha");
  await Promise.all([import("allure-js-commons"), import("chai")]);
  // A package that does not load is the suite's to report when it imports it.
  for (const p of packages) await import(p).catch(() => undefined);
  for (const f of fs.existsSync(supportDir) ? fs.readdirSync(supportDir) : []) {
    // Support modules only define functions and read their context lazily, on first use.
    if (/\.[cm]?ts$/.test(f)) await import(pathToFileURL(path.join(supportDir, f)).href).catch(() => undefined);
  }
}

function readJob(): Promise<SuiteJob> {
  return new Promise((resolve, reject) => {
    let buf = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) {
        process.stdin.removeAllListeners("end");
        process.stdin.pause();
        try {
          resolve(JSON.parse(buf.slice(0, nl)) as SuiteJob);
        } catch (e) {
          reject(e);
        }
      }
    });
    // The harness went away before handing a job over: nothing to do.
    process.stdin.on("end", () => process.exit(0));
  });
}

// The support dir to preload (tsx mode; empty for bundles, which carry their support code),
// then packages to preload (bundle mode: what the suites bundled so far import).
const supportDir = process.argv[2] ?? "";
const [job] = await Promise.all([readJob(), preload(supportDir, process.argv.slice(3))]);
Object.assign(process.env, job.env);
const hooks = (await import(pathToFileURL(job.hooksFile).href)) as { mochaHooks?: Mocha.RootHookObject; mochaGlobalTeardown?: () => void };
const mocha = new Mocha({
  reporter: "allure-mocha",
  reporterOptions: job.reporterOptions,
  timeout: job.timeoutMs,
  color: false,
  ...(job.grep !== undefined ? { grep: job.grep } : {}),
  ...(hooks.mochaHooks ? { rootHooks: hooks.mochaHooks } : {}),
  ...(hooks.mochaGlobalTeardown ? { globalTeardown: [hooks.mochaGlobalTeardown] } : {}),
});
mocha.addFile(job.spec);
await mocha.loadFilesAsync();
if (job.spec !== job.specFile) {
  // Allure's fullName and history id, and JUnit's file, come from each runnable's file.
  // Mocha's hook lists are private in its types: read them as plain arrays.
  type Hooks = Record<"_beforeAll" | "_beforeEach" | "_afterAll" | "_afterEach", Mocha.Hook[]>;
  const relabel = (s: Mocha.Suite): void => {
    s.file = job.specFile;
    const h = s as unknown as Hooks;
    for (const r of [...s.tests, ...h._beforeAll, ...h._beforeEach, ...h._afterAll, ...h._afterEach]) r.file = job.specFile;
    for (const c of s.suites) relabel(c);
  };
  relabel(mocha.suite);
}
// As the CLI's --exit: a leftover socket (dockerode keep-alive) must not keep a finished suite alive.
mocha.run((failures) => process.exit(Math.min(failures, 255)));
