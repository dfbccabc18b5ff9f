// A private PostgreSQL server for tests: Debian's postgresql binaries (installed by `patchlab
// doctor --fix`), a fresh cluster in a temporary directory, on 127.0.0.1 and a free port,
// with a password (so the URL carries one, as a real shared store's would). Stopped and
// deleted by stop(). Nothing of the host's own PostgreSQL is touched.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface TestPostgres {
  url: string;
  password: string;
  port: number;
  dataDir: string;
  stop(): void;
}

/** The newest installed server's bin directory (/usr/lib/postgresql/<major>/bin). */
export function postgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!fs.existsSync(root)) return undefined;
  const majors = fs.readdirSync(root).filter((d) => fs.existsSync(path.join(root, d, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return majors[0] ? path.join(root, majors[0], "bin") : undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql: run `npx patchlab doctor --fix` (installs Debian's postgresql)");
  // The server refuses to run as root: the cluster belongs to the postgres user when we are root.
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim() : undefined;
  const group = asRoot ? execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim() : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-pg-"));
  fs.chmodSync(dir, 0o755);
  const dataDir = path.join(dir, "data");
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwfile = path.join(dir, "pw");
  fs.writeFileSync(pwfile, password + "\n");
  if (asRoot) fs.chownSync(dir, Number(user), Number(group)), fs.chownSync(pwfile, Number(user), Number(group));
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(path.join(bin, cmd), args, { encoding: "utf8", timeout: 120_000, ...(asRoot ? { uid: Number(user), gid: Number(group) } : {}), cwd: dir });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr || r.stdout}${fs.existsSync(path.join(dir, "log")) ? fs.readFileSync(path.join(dir, "log"), "utf8").slice(-2000) : ""}`);
    return r.stdout;
  };
  run("initdb", ["-D", dataDir, "-U", "patchlab", "--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-instructions"]);
  const port = await freePort();
  run("pg_ctl", ["-D", dataDir, "-l", path.join(dir, "log"), "-w", "-t", "60", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, "start"]);
  let stopped = false;
  return {
    url: `postgres://patchlab:${password}@127.0.0.1:${port}/postgres`,
    password,
    port,
    dataDir,
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "-t", "30", "stop"]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
