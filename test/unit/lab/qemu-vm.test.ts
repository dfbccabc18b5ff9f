// The VM's QEMU command line keeps to the network rule (user networking with restrict=on,
// forwards only into the guest, bound to the VM's own loopback address), and the QMP client
// speaks the protocol: greeting, capabilities, replies matched by id, events skipped, HMP
// errors raised.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { accelArgs, chooseAccel } from "../../../harness/lab/drivers/vm/accel.ts";
import { loopbackFor, netdevArg, qemuArgs, type QemuSpec } from "../../../harness/lab/drivers/vm/qemu.ts";
import { QmpClient } from "../../../harness/lab/drivers/vm/qmp.ts";

const spec: QemuSpec = {
  name: "patchlab-lab-web",
  accel: "tcg",
  memoryMiB: 512,
  cpus: 1,
  kernel: "/img/vmlinuz",
  initrd: "/img/initrd.img",
  cmdline: "root=/dev/vda rw console=ttyS0",
  disk: "/vms/lab/web/overlay.qcow2",
  address: "127.30.84.20",
  forwards: [
    { proto: "tcp", hostPort: 40022, guestPort: 22 },
    { proto: "tcp", hostPort: 80, guestPort: 80 },
    { proto: "udp", hostPort: 53, guestPort: 53 },
  ],
  qmpSocket: "/vms/lab/web/qmp.sock",
  serialLog: "/vms/lab/web/serial.log",
  pidFile: "/vms/lab/web/qemu.pid",
};

describe("vm driver: QEMU command line", () => {
  it("gives each VM a loopback address from its lab address", () => {
    expect(loopbackFor("172.30.84.20")).to.equal("127.30.84.20");
    expect(loopbackFor("10.1.2.3")).to.equal("127.1.2.3");
  });

  it("uses user networking with restrict=on and forwards bound to the VM's loopback address only", () => {
    expect(netdevArg(spec)).to.equal(
      "user,id=n0,restrict=on,ipv6=off,hostfwd=tcp:127.30.84.20:40022-:22,hostfwd=tcp:127.30.84.20:80-:80,hostfwd=udp:127.30.84.20:53-:53",
    );
    const args = qemuArgs(spec);
    expect(args.filter((a) => a === "-netdev")).to.have.length(1);
    expect(args.join(" ")).to.not.match(/guestfwd|tap|bridge|0\.0\.0\.0/);
  });

  it("boots the image's kernel on the VM's overlay, daemonized with a QMP socket and a console log", () => {
    const a = qemuArgs(spec);
    const after = (flag: string) => a[a.indexOf(flag) + 1];
    expect(after("-kernel")).to.equal("/img/vmlinuz");
    expect(after("-append")).to.equal("root=/dev/vda rw console=ttyS0");
    expect(after("-drive")).to.equal("file=/vms/lab/web/overlay.qcow2,if=virtio,format=qcow2,discard=unmap");
    expect(after("-qmp")).to.equal("unix:/vms/lab/web/qmp.sock,server=on,wait=off");
    expect(a).to.include("-daemonize");
    expect(a).to.not.include("-loadvm");
    expect(qemuArgs({ ...spec, loadvm: "pre-patch" }).slice(-2)).to.deep.equal(["-loadvm", "pre-patch"]);
  });

  it("TCG has a bounded translation cache; KVM uses the host CPU; PATCHLAB_VM_ACCEL forces a choice", async () => {
    expect(accelArgs("tcg")).to.deep.equal(["-accel", "tcg,tb-size=64", "-cpu", "max"]);
    expect(accelArgs("kvm")).to.deep.equal(["-accel", "kvm", "-cpu", "host"]);
    const saved = process.env.PATCHLAB_VM_ACCEL;
    process.env.PATCHLAB_VM_ACCEL = "tcg";
    try {
      expect(await chooseAccel("/nonexistent")).to.deep.equal({ accel: "tcg", reason: "PATCHLAB_VM_ACCEL=tcg" });
    } finally {
      if (saved === undefined) delete process.env.PATCHLAB_VM_ACCEL;
      else process.env.PATCHLAB_VM_ACCEL = saved;
    }
  });
});

describe("vm driver: QMP client", () => {
  let dir: string;
  let server: net.Server;
  const seen: unknown[] = [];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-qmp-"));
    seen.length = 0;
    server = net.createServer((s) => {
      s.write(JSON.stringify({ QMP: { version: { qemu: { major: 7 } }, capabilities: [] } }) + "\r\n");
      let buf = "";
      s.on("data", (d) => {
        buf += d.toString();
        for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
          const msg = JSON.parse(buf.slice(0, i)) as { execute: string; arguments?: { "command-line"?: string }; id: string };
          buf = buf.slice(i + 1);
          seen.push(msg);
          // An event first: replies are matched by id, events skipped.
          s.write(JSON.stringify({ event: "RESUME", timestamp: {} }) + "\r\n");
          const line = msg.arguments?.["command-line"];
          if (msg.execute === "query-status") s.write(JSON.stringify({ return: { status: "running" }, id: msg.id }) + "\r\n");
          else if (msg.execute === "human-monitor-command") {
            const out = line === "loadvm nope" ? "Error: Snapshot 'nope' does not exist in one or more devices\r\n" : line === "info snapshots" ? "List of snapshots\r\n" : "";
            s.write(JSON.stringify({ return: out, id: msg.id }) + "\r\n");
          } else if (msg.execute === "bogus") s.write(JSON.stringify({ error: { class: "CommandNotFound", desc: "The command bogus has not been found" }, id: msg.id }) + "\r\n");
          else if (msg.execute === "hang") { /* never answers */ }
          else s.write(JSON.stringify({ return: {}, id: msg.id }) + "\r\n");
        }
      });
    });
    await new Promise<void>((r) => server.listen(path.join(dir, "qmp.sock"), () => r()));
  });
  afterEach(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("negotiates, runs commands and HMP, raises QMP and HMP errors, times out", async () => {
    const q = await QmpClient.connect(path.join(dir, "qmp.sock"));
    try {
      expect((seen[0] as { execute: string }).execute).to.equal("qmp_capabilities");
      expect(await q.execute("query-status")).to.deep.equal({ status: "running" });
      expect(await q.hmp("savevm pre-patch")).to.equal("");
      expect(await q.hmp("info snapshots", { check: false })).to.contain("List of snapshots");
      try {
        await q.hmp("loadvm nope");
        expect.fail("loadvm of a missing snapshot must throw");
      } catch (e) {
        expect((e as Error).message).to.match(/loadvm nope: Error: Snapshot 'nope' does not exist/);
      }
      try {
        await q.execute("bogus");
        expect.fail("an unknown command must throw");
      } catch (e) {
        expect((e as Error).message).to.equal("CommandNotFound: The command bogus has not been found");
      }
      try {
        await q.execute("hang", undefined, 200);
        expect.fail("no answer must time out");
      } catch (e) {
        expect((e as Error).message).to.match(/QMP hang got no answer within 200 ms/);
      }
    } finally {
      q.close();
    }
  });
});
