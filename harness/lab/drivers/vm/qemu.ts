// The QEMU command line of a lab VM and its process. Network rule: user-mode networking
// with restrict=on (the guest reaches nothing: not the host, not the outside) and only
// forwards INTO the guest, bound to one loopback address of the host per VM.
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import { LabError } from "../../../core/errors.ts";
import { accelArgs, QEMU, type Accel } from "./accel.ts";

export interface Forward {
  proto: "tcp" | "udp";
  /** Port on the host's loopback address. */
  hostPort: number;
  guestPort: number;
  /** Host address it listens on; default the VM's loopback address. */
  address?: string;
}

export interface QemuSpec {
  /** Process name: patchlab-<lab>-<machine>. */
  name: string;
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  kernel: string;
  initrd: string;
  cmdline: string;
  disk: string;
  /** 127.x.y.z the VM's forwards listen on. */
  address: string;
  forwards: Forward[];
  qmpSocket: string;
  serialLog: string;
  pidFile: string;
  /** Start from this internal snapshot (memory and disk) instead of booting. */
  loadvm?: string;
}

/** One loopback address per VM, from its lab address: 172.30.84.10 -> 127.30.84.10. */
export function loopbackFor(labIp: string): string {
  const [, b, c, d] = labIp.split(".");
  return `127.${b}.${c}.${d}`;
}

export function netdevArg(s: Pick<QemuSpec, "address" | "forwards">): string {
  const fwd = s.forwards.map((f) => `hostfwd=${f.proto}:${f.address ?? s.address}:${f.hostPort}-:${f.guestPort}`);
  // restrict=on: the guest can neither reach the host nor route anywhere; the forwards
  // above still bring connections in.
  return ["user", "id=n0", "restrict=on", "ipv6=off", ...fwd].join(",");
}

export function qemuArgs(s: QemuSpec): string[] {
  return [
    "-name", `${s.name},process=${s.name}`,
    "-machine", "q35",
    ...accelArgs(s.accel),
    "-m", String(s.memoryMiB),
    "-smp", String(s.cpus),
    "-nodefaults", "-no-user-config", "-display", "none",
    "-chardev", `file,id=serial0,path=${s.serialLog},append=on`,
    "-serial", "chardev:serial0",
    "-kernel", s.kernel,
    "-initrd", s.initrd,
    "-append", s.cmdline,
    "-drive", `file=${s.disk},if=virtio,format=qcow2,discard=unmap`,
    "-netdev", netdevArg(s),
    "-device", "virtio-net-pci,netdev=n0",
    "-device", "virtio-rng-pci",
    "-qmp", `unix:${s.qmpSocket},server=on,wait=off`,
    "-pidfile", s.pidFile,
    "-daemonize",
    ...(s.loadvm ? ["-loadvm", s.loadvm] : []),
  ];
}

/** Starts QEMU daemonized; resolves once the VM process runs (QEMU's parent exits 0 then). */
export function startQemu(s: QemuSpec, machine: string): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.rmSync(s.pidFile, { force: true });
    fs.rmSync(s.qmpSocket, { force: true });
    const p = spawn(QEMU, qemuArgs(s), { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    p.once("error", (e) => reject(new LabError("dependency-missing", `cannot run ${QEMU}: ${e.message}`, "run `npx patchlab doctor --fix` (installs qemu-system-x86)", { machine })));
    p.once("close", (code) => {
      const pid = Number(fs.existsSync(s.pidFile) ? fs.readFileSync(s.pidFile, "utf8").trim() : NaN);
      if (code === 0 && Number.isInteger(pid) && pid > 0) return resolve(pid);
      const why = stderr.trim().split("\n").slice(-3).join(" | ");
      const busy = /Could not set up host forwarding|Address already in use/i.test(why);
      reject(
        new LabError(
          "machine-start",
          `QEMU did not start ${machine} (exit ${code}): ${why || "no message"}`,
          busy
            ? `a port the VM forwards on ${s.address} is taken on this host (${s.forwards.map((f) => `${f.proto}/${f.hostPort}`).join(", ")}): stop what listens there (\`ss -ltnup\`) or give the machine another ip in the lab file`
            : `read ${s.serialLog}; check the VM image (\`patchlab doctor\`)`,
          { machine },
        ),
      );
    });
  });
}

/** Whether `pid` is a live QEMU running this VM (a recycled pid is not). */
export function qemuAlive(pid: number | undefined, name: string): boolean {
  if (!pid) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(`${name},process=${name}`);
  } catch {
    return false;
  }
}

export async function waitGone(pid: number, name: string, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!qemuAlive(pid, name)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !qemuAlive(pid, name);
}

/** A TCP port free on `address` right now (the kernel picks it). */
export function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, address, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}
