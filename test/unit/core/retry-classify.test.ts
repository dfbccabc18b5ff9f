// Lab trouble is classified from what node, the engine or a tool said, and retried per policy
// only when a retry can help; a patch's failure or bad input is never retried or relabelled.
import { expect } from "chai";
import { classifyError } from "../../../harness/core/classify.ts";
import { asPatchlabError, ConfigError, LabError, PatchError } from "../../../harness/core/errors.ts";
import { ENGINE_RETRY, isTransient, retry, type RetryPolicy } from "../../../harness/core/retry.ts";

const errno = (code: string, message = code, extra: object = {}) => Object.assign(new Error(message), { code, ...extra });

describe("lab errors classified", () => {
  const cases: [string, unknown, string | undefined][] = [
    ["engine socket missing", errno("ENOENT", "connect ENOENT /var/run/docker.sock", { syscall: "connect" }), "engine-unreachable"],
    ["engine refusing connections", errno("ECONNREFUSED"), "engine-unreachable"],
    ["connection reset mid-call", errno("ECONNRESET"), "connection-dropped"],
    ["socket hang up", new Error("socket hang up"), "connection-dropped"],
    ["disk full (errno)", errno("ENOSPC", "write ENOSPC"), "disk-full"],
    ["disk full (engine's words)", new Error("(HTTP code 500) server error - write /var/lib/docker/tmp/x: no space left on device"), "disk-full"],
    ["a machine stopped under the run", new Error("(HTTP code 409) container is restarting - Container 3f2a is not running"), "machine-killed"],
    ["a timeout", errno("ETIMEDOUT"), "timeout"],
    ["a wrapped cause", new Error("outer", { cause: errno("EPIPE") }), "connection-dropped"],
    ["an ordinary bug", new TypeError("x is undefined"), undefined],
    ["bad input stays bad input", new ConfigError("bad", "fix it"), undefined],
  ];
  for (const [what, err, kind] of cases) {
    it(`${what}: ${kind ?? "not lab trouble"}`, () => expect(classifyError(err)).to.equal(kind));
  }

  it("asPatchlabError gives recognised trouble its kind and remedy (exit 2), a bug stays a harness error", () => {
    const full = asPatchlabError(errno("ENOSPC", "write ENOSPC"));
    expect(full).to.be.instanceOf(LabError);
    expect((full as LabError).kind).to.equal("disk-full");
    expect(full.remedy).to.match(/docker system df/);
    expect(full.exitCode).to.equal(2);
    expect((asPatchlabError(new TypeError("boom")) as LabError).kind).to.equal("harness");
    const patch = new PatchError("P-1", "install", "dpkg failed", "see log");
    expect(asPatchlabError(patch)).to.equal(patch);
  });
});

describe("retry policy", () => {
  const noSleep = { sleep: async () => {} };
  const policy: RetryPolicy = { attempts: 3, baseDelayMs: 100, maxDelayMs: 250, factor: 2, retryOn: isTransient };

  it("retries transient trouble with growing, capped waits, then succeeds", async () => {
    const waits: number[] = [];
    let n = 0;
    const r = await retry(async () => {
      if (++n < 3) throw errno("ECONNRESET");
      return "ok";
    }, policy, { sleep: async (ms) => void waits.push(ms) });
    expect(r).to.equal("ok");
    expect(waits).to.deep.equal([100, 200]);
  });

  it("gives up after the policy's attempts with the last error", async () => {
    let n = 0;
    const e = await retry(async () => {
      n++;
      throw errno("ECONNRESET", `try ${n}`);
    }, policy, noSleep).catch((x: Error) => x);
    expect(n).to.equal(3);
    expect((e as Error).message).to.equal("try 3");
  });

  it("never retries what a retry cannot cure: a patch failure, bad input, a bug", async () => {
    for (const err of [new PatchError("P", "install", "x", "y"), new ConfigError("x", "y"), new TypeError("bug")]) {
      let n = 0;
      await retry(async () => {
        n++;
        throw err;
      }, ENGINE_RETRY, noSleep).catch(() => undefined);
      expect(n, err.constructor.name).to.equal(1);
    }
  });

  it("tells the caller before each retry", async () => {
    const told: number[] = [];
    await retry(async (attempt) => {
      if (attempt === 1) throw new LabError("timeout", "slow", "wait");
    }, policy, { ...noSleep, onRetry: (_e, attempt) => told.push(attempt) });
    expect(told).to.deep.equal([1]);
  });
});
