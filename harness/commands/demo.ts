// `patchlab demo`: the main job on the built-in reference lab. Brings the lab up (and leaves
// it up, for exploring with `patchlab lab status`), verifies the demo batch, writes the
// Allure report and prints the verdicts. The demo batch holds a known-bad patch on purpose,
// so a working harness shows one approval and one rejection; the demo itself exits 0 when
// the harness reached a decision for every patch, and 2 when it could not.
import path from "node:path";
import { configRoot } from "../core/paths.ts";
import { say } from "../core/log.ts";
import { labUp, formatStatus } from "./lab.ts";
import { runBatch } from "../run/orchestrator.ts";
import { formatDecision } from "./run.ts";

export async function demoCommand(o: { json?: boolean } = {}): Promise<void> {
  const rows = await labUp("reference", 300);
  const out = o.json ? (s: string) => process.stderr.write(s + "\n") : (s: string) => console.log(s);
  out("Reference lab:\n" + formatStatus(rows));
  const batch = path.join(configRoot(), "batches", "demo.yaml");
  say("verifying the demo batch");
  const r = await runBatch(batch, { html: true, keep: true, timeoutS: 300 });
  if (o.json) process.stdout.write(JSON.stringify(r.decision, null, 2) + "\n");
  else console.log("\nDemo batch verdicts:\n" + formatDecision(r.decision));
  out(`\nreports: ${path.relative(process.cwd(), r.runDir)}/ (gate.json, summary.md, allure-report/index.html, junit/, logs/)`);
  out("CI would gate with `patchlab run lab-config/batches/demo.yaml`, whose exit code is the gate's.");
  // Approved and rejected are both decisions; undecided (2) and bad input (3) are not.
  process.exitCode = r.decision.exitCode >= 2 ? r.decision.exitCode : 0;
}
