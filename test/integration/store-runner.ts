// One "runner" for the shared-store test: a separate process that records a run's decision
// and a scan in the store PATCHLAB_STORE names, exactly as `patchlab run` and `patchlab scan`
// do at their end. Usage: tsx store-runner.ts <runId> <batch> <machine> <verdict>
import { openStore } from "../../harness/store/open.ts";
import { recordRun } from "../../harness/store/runs.ts";
import { decisionOf, scanOf } from "../unit/store/contract.ts";

const [runId, batch, machine, verdict] = process.argv.slice(2) as [string, string, string, "approved" | "rejected"];
const store = openStore();
try {
  await store.saveScan(scanOf("shared", machine, { "DEB-A": verdict === "approved" ? "installed" : "missing" }));
  if (!(await recordRun(decisionOf(runId, batch, { [`P-${machine}`]: verdict }, { lab: "shared" }), undefined, store))) process.exit(2);
} finally {
  await store.close();
}
