// Snapshot hooks run as argv on the harness host: placeholders replaced inside arguments,
// never through a shell; failures and timeouts are LabErrors naming the hook.
import { expect } from "chai";
import { ConfigError, LabError } from "../../../harness/core/errors.ts";
import { hookArgv, runHook, type HookVars } from "../../../harness/lab/drivers/ssh-hooks.ts";

const vars: HookVars = { lab: "ref", machine: "web", host: "10.0.0.5", port: "22", user: "root", label: "run-1" };

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a rejection");
}

describe("ssh driver: snapshot hooks", () => {
  it("replaces placeholders inside each argument", () => {
    expect(hookArgv("snapshot", ["virsh", "snapshot-create-as", "{machine}", "patchlab-{label}", "--description", "{lab}/{host}:{port} as {user}"], vars, "web")).to.deep.equal(
      ["virsh", "snapshot-create-as", "web", "patchlab-run-1", "--description", "ref/10.0.0.5:22 as root"],
    );
  });

  it("an unknown placeholder is a ConfigError naming the hook", () => {
    expect(() => hookArgv("restore", ["qm", "rollback", "{vmid}"], vars, "web")).to.throw(ConfigError, /ssh\.hooks\.restore\[2\] of machine web has an unknown placeholder \{vmid\}/);
  });

  it("runs without a shell: a value full of shell syntax stays one argument", async () => {
    const hostile = { ...vars, machine: "web; touch /tmp/patchlab-pwned $(id)" };
    const r = await runHook("snapshot", ["printf", "[%s]", "{machine}"], hostile, { machine: "web", timeoutMs: 5000 });
    expect(r.output).to.equal("[web; touch /tmp/patchlab-pwned $(id)]");
  });

  it("passes the values in the environment too", async () => {
    const r = await runHook("snapshot", ["sh", "-c", 'echo "$PATCHLAB_HOOK $PATCHLAB_MACHINE $PATCHLAB_LABEL"'], vars, { machine: "web", timeoutMs: 5000 });
    expect(r.output).to.equal("snapshot web run-1\n");
  });

  it("refuses a label a hypervisor CLI could misread", async () => {
    const e = await rejection(runHook("snapshot", ["true"], { ...vars, label: "--force" }, { machine: "web", timeoutMs: 5000 }));
    expect(e).to.be.instanceOf(LabError);
    expect(e.message).to.match(/label "--force" is not safe/);
  });

  it("a failing hook is a LabError of its kind with the output's last lines", async () => {
    const e = (await rejection(runHook("restore", ["sh", "-c", "echo reverting; echo 'error: domain not found' >&2; exit 3"], vars, { machine: "web", timeoutMs: 5000 }))) as LabError;
    expect(e.kind).to.equal("restore");
    expect(e.message).to.match(/restore hook of web \(sh -c .*\) exited 3: reverting \| error: domain not found/);
  });

  it("a hook that hangs is killed at its timeout; a missing command says what to install", async () => {
    const t0 = Date.now();
    const e = (await rejection(runHook("snapshot", ["sleep", "30"], vars, { machine: "web", timeoutMs: 300 }))) as LabError;
    expect(e.kind).to.equal("snapshot");
    expect(e.message).to.match(/did not finish within 300 ms/);
    expect(Date.now() - t0).to.be.lessThan(3000);
    const missing = (await rejection(runHook("snapshot", ["patchlab-no-such-hypervisor-cli"], vars, { machine: "web", timeoutMs: 5000 }))) as LabError;
    expect(missing.kind).to.equal("dependency-missing");
  });
});
