// A separate process racing for a lab lock (lock.test.ts): prints "got" or "busy", holds a moment.
import { acquireLabLock } from "../../../harness/lab/lock.ts";

const [lab, holdMs] = [process.argv[2]!, Number(process.argv[3] ?? 300)];
try {
  const l = acquireLabLock(lab, `racer ${process.pid}`);
  process.stdout.write("got\n");
  setTimeout(() => l.release(), holdMs);
} catch (e) {
  process.stdout.write(`busy ${(e as Error).message}\n`);
}
