// KVM when it really works, TCG otherwise. /dev/kvm existing is not enough: on a nested
// paravirtual KVM (these lab hosts) a stock Debian kernel hangs before its first console
// line. The probe boots the guest's own kernel under KVM with no root disk: a working KVM
// reaches "Kernel panic" (and, with panic=-1 and -no-reboot, QEMU exits) in a second or two;
// a hanging one is killed after PROBE_TIMEOUT_MS. The verdict is cached per host kernel,
// QEMU version and guest kernel, so the probe runs once.
import { createHash } from "node:crypto";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { stateDir } from "../../../core/paths.ts";

export type Accel = "kvm" | "tcg";
export interface AccelChoice {
  accel: Accel;
  reason: string;
}

export const PROBE_TIMEOUT_MS = 10_000;
export const QEMU = "qemu-system-x86_64";

/** The -accel/-cpu arguments for an accelerator (TCG with a bounded translation cache). */
export function accelArgs(accel: Accel): string[] {
  return accel === "kvm" ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg,tb-size=64", "-cpu", "max"];
}

function kvmOpenable(): boolean {
  try {
    fs.accessSync("/dev/kvm", fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function qemuVersion(): string {
  const r = spawnSync(QEMU, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n")[0]!.trim() : "unknown";
}

/** Boots `kernel` under KVM with nothing to mount; true when it panics (i.e. ran) in time. */
export function probeKvm(kernel: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    const log = path.join(os.tmpdir(), `patchlab-kvm-probe-${process.pid}.log`);
    const p = spawn(QEMU, [
      "-machine", "q35", ...accelArgs("kvm"), "-m", "256", "-nodefaults", "-no-user-config", "-display", "none",
      "-serial", `file:${log}`, "-kernel", kernel, "-append", "console=ttyS0 panic=-1 loglevel=4", "-no-reboot",
    ], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const t0 = Date.now();
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    const done = (ok: boolean, detail: string) => {
      clearTimeout(timer);
      fs.rmSync(log, { force: true });
      resolve({ ok, detail });
    };
    p.once("error", (e) => done(false, `cannot run ${QEMU}: ${e.message}`));
    p.once("close", (code, signal) => {
      let out = "";
      try { out = fs.readFileSync(log, "utf8"); } catch { /* none */ }
      if (signal) return done(false, `a guest kernel under KVM printed ${out.length} bytes and hung for ${timeoutMs} ms`);
      if (/Kernel panic/.test(out)) return done(true, `a guest kernel under KVM booted to its expected panic in ${Date.now() - t0} ms`);
      done(false, `KVM probe exited ${code} without booting: ${stderr.trim().split("\n").pop() ?? ""}`);
    });
  });
}

/** PATCHLAB_VM_ACCEL=kvm|tcg forces a choice; otherwise KVM when /dev/kvm opens and the (cached) probe passes. */
export async function chooseAccel(kernel: string): Promise<AccelChoice> {
  const forced = process.env.PATCHLAB_VM_ACCEL;
  if (forced === "kvm" || forced === "tcg") return { accel: forced, reason: `PATCHLAB_VM_ACCEL=${forced}` };
  if (!kvmOpenable()) return { accel: "tcg", reason: "/dev/kvm is absent or not accessible" };
  const key = createHash("sha256").update(`${os.release()}\0${qemuVersion()}\0`).update(fs.readFileSync(kernel)).digest("hex").slice(0, 16);
  const cacheFile = path.join(stateDir(), "vm", `accel-${key}.json`);
  try {
    return JSON.parse(fs.readFileSync(cacheFile, "utf8")) as AccelChoice;
  } catch { /* not probed yet */ }
  const r = await probeKvm(kernel);
  const choice: AccelChoice = r.ok ? { accel: "kvm", reason: r.detail } : { accel: "tcg", reason: `KVM unusable: ${r.detail}` };
  fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
  fs.writeFileSync(cacheFile, JSON.stringify(choice) + "\n");
  return choice;
}
