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

export async function demoCommand(): Promise<void> {
  const rows = await labUp("reference", 300);
  console.log("Reference lab:\n" + formatStatus(rows));
  const batch = path.join(configRoot(), "batches", "demo.yaml");
  say("verifying the demo batch");
  const r = await runBatch(batch, { html: true, keep: true, timeoutS: 300 });
  console.log("\nDemo batch verdicts:\n" + formatDecision(r.decision));
  console.log(`\nreports: ${path.relative(process.cwd(), r.runDir)}/ (gate.json, allure-report/index.html, junit/, logs/)`);
  console.log("CI would gate with `patchlab run lab-config/batches/demo.yaml`, whose exit code is the gate's.");
  const undecided = r.decision.patches.some((p) => p.verdict === "needs-review");
  process.exitCode = undecided ? 2 : 0;
}
