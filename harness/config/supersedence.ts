// Supersedence among a batch's archive updates must be a forward chain: an update that
// supersedes itself, or two that supersede each other (directly or round a longer cycle),
// would each count as "replaced by one that is installed" and no scan could call either
// missing or installed. Refused at load time, naming the cycle.
import type { ConfigError } from "../core/errors.ts";
import { problemAt } from "./problem.ts";
import type { YamlSource } from "./yaml-source.ts";

export interface SupersedingPatch {
  id: string;
  supersedes: string[];
  /** Where the patch sits in the batch (patches[index]). */
  index: number;
  file: string;
}

/** Cycles in the "supersedes" graph of these patches, each as ids in order (first repeated at the end). */
export function supersedenceCycles(patches: SupersedingPatch[]): string[][] {
  const byId = new Map(patches.map((p) => [p.id, p]));
  const state = new Map<string, "open" | "done">();
  const cycles: string[][] = [];
  const stack: string[] = [];
  const visit = (id: string) => {
    state.set(id, "open");
    stack.push(id);
    for (const next of byId.get(id)?.supersedes ?? []) {
      if (!byId.has(next)) continue; // an older update outside the batch: nothing to loop through
      if (next === id) continue; // an update naming itself: the manifest's own check reports it
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(id, "done");
  };
  for (const p of patches) if (!state.has(p.id)) visit(p.id);
  return cycles;
}

export function checkSupersedence(source: YamlSource, patches: SupersedingPatch[]): ConfigError[] {
  return supersedenceCycles(patches).map((cycle) => {
    const first = patches.find((p) => p.id === cycle[0])!;
    const files = [...new Set(cycle.slice(0, -1).map((id) => patches.find((p) => p.id === id)!.file))];
    return problemAt(
      source,
      ["patches", first.index],
      `supersedence cycle: ${cycle.join(" supersedes ")} (an update can only replace older ones)`,
      `keep apt.supersedes pointing at older updates only: remove one of the links (in ${files.join(", ")})`,
      { omitValue: true },
    );
  });
}
