// Who owns a lab object: "<boot id>:<pid>". The reaper treats an object as abandoned when
// its owner process is gone (or the machine rebooted since), so a killed run leaks nothing.
import fs from "node:fs";

let bootId: string | undefined;
function currentBootId(): string {
  if (bootId === undefined) {
    try {
      bootId = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim().slice(0, 8);
    } catch {
      bootId = "noboot";
    }
  }
  return bootId;
}

export function ownerToken(pid = process.pid): string {
  return `${currentBootId()}:${pid}`;
}

export function ownerAlive(token: string | undefined): boolean {
  if (!token) return false;
  const [boot, pidText] = token.split(":");
  const pid = Number(pidText);
  if (boot !== currentBootId() || !Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
