// Re-renders a saved bench run (its .json) as .md, and the README's bench section from it:
// `tsx test/bench/render.ts reports/bench/<date>.json [--readme]`. No engine, no lab.
import fs from "node:fs";
import path from "node:path";
import { repoRoot } from "../../harness/core/paths.ts";
import { renderMarkdown, updateReadme, type BenchResults } from "./report.ts";

const file = process.argv[2];
if (!file) throw new Error("usage: render.ts <bench .json> [--readme]");
const results = JSON.parse(fs.readFileSync(file, "utf8")) as BenchResults;
const md = file.replace(/\.json$/, ".md");
fs.writeFileSync(md, renderMarkdown(results));
if (process.argv.includes("--readme")) updateReadme(path.join(repoRoot, "README.md"), results, md);
console.log(`wrote ${md}${process.argv.includes("--readme") ? " and the README's bench section" : ""}`);
