// parseYamlFile is what every format uses; a new format (here a made-up policy file)
// gets located errors, typo suggestions and semantic checks without extra code.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { z } from "zod";
import { parseYamlFile } from "../../../harness/config/parse-yaml.ts";
import { problemAt } from "../../../harness/config/problem.ts";
import { configErrorsOf, onlyErrorOf } from "./helpers.ts";

const Policy = z
  .object({
    name: z.string(),
    rules: z.array(z.object({ outcome: z.enum(["passed", "failed"]), required: z.boolean() }).strict()).min(1),
  })
  .strict();

describe("config: parseYamlFile (shared by every file format)", () => {
  let dir: string;
  const write = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-yaml-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("returns the typed value, the absolute file and the source", async () => {
    const file = write("p.yaml", "name: p\nrules:\n  - { outcome: passed, required: true }\n");
    const parsed = await parseYamlFile(path.relative(process.cwd(), file), Policy);
    expect(parsed.value.rules[0]!.outcome).to.equal("passed");
    expect(parsed.file).to.equal(file);
    expect(parsed.source.locate(["rules", 0, "outcome"])).to.deep.equal({ line: 3, col: 16 });
  });

  it("gives a new format enum, type and unknown-key errors with lines for free", async () => {
    const file = write("p.yaml", "name: p\nrules:\n  - outcome: pased\n    required: yes\n    requird: true\n");
    const errors = await configErrorsOf(parseYamlFile(file, Policy, { what: "policy" }));
    expect(errors.map((e) => [e.line, e.field])).to.deep.equal([
      [3, "rules[0].outcome"],
      [4, "rules[0].required"],
      [5, "rules[0].requird"],
    ]);
    expect(errors[0]!.remedy).to.equal('did you mean "passed"? use one of: passed, failed');
    expect(errors[1]!.message).to.match(/expected true or false, got a string "yes"/);
  });

  it("runs semantic checks in the same pass and reports them in line order", async () => {
    const file = write("p.yaml", "name: bad\nrules:\n  - outcome: nope\n    required: true\n");
    const errors = await configErrorsOf(
      parseYamlFile(file, Policy, {
        check: ({ source, data }) =>
          (data as { name?: unknown }).name === "bad" ? [problemAt(source, ["name"], "name is reserved", "pick another name")] : [],
      }),
    );
    expect(errors.map((e) => e.field)).to.deep.equal(["name", "rules[0].outcome"]);
  });

  it("a duplicated key is a YAML error at the second key", async () => {
    const file = write("p.yaml", "name: a\nname: b\nrules: []\n");
    const e = await onlyErrorOf(parseYamlFile(file, Policy));
    expect([e.line, e.column]).to.deep.equal([2, 1]);
    expect(e.message).to.match(/YAML syntax error: Map keys must be unique$/);
    expect(e.remedy).to.match(/remove or rename the repeated key/);
  });

  it("a second YAML document in the file is an error", async () => {
    const file = write("p.yaml", "name: a\n---\nname: b\n");
    const e = await onlyErrorOf(parseYamlFile(file, Policy));
    expect(e.line).to.equal(2);
    expect(e.remedy).to.match(/one YAML document per file/);
  });

  it("a value with ': ' inside is explained (quote it)", async () => {
    const file = write("p.yaml", "name: a: b\nrules: []\n");
    const e = await onlyErrorOf(parseYamlFile(file, Policy));
    expect(e.line).to.equal(1);
    expect(e.remedy).to.match(/must be quoted/);
  });

  it("a missing file names the file and uses the caller's remedy", async () => {
    const e = await onlyErrorOf(parseYamlFile(path.join(dir, "nope.yaml"), Policy, { what: "policy", notFoundRemedy: "create it" }));
    expect(e.message).to.match(/nope\.yaml: policy not found$/);
    expect(e.remedy).to.equal("create it");
  });

  it("a scalar document is not a mapping", async () => {
    const file = write("p.yaml", "just text\n");
    const e = await onlyErrorOf(parseYamlFile(file, Policy, { what: "policy" }));
    expect(e.message).to.match(/:1:1: the policy must be a YAML mapping .*got a string$/);
  });

  it("a number where text is expected suggests quoting it", async () => {
    const file = write("p.yaml", "name: 1.10\nrules:\n  - { outcome: passed, required: true }\n");
    const e = await onlyErrorOf(parseYamlFile(file, Policy));
    expect(e.message).to.match(/name: expected a string, got a number 1\.1$/);
    expect(e.remedy).to.equal('quote it so YAML reads text: `name: "1.1"`');
  });

  it("an anchor/alias value is located at the alias's target", async () => {
    const file = write("p.yaml", "name: p\nbase: &b { outcome: wrong, required: true }\nrules:\n  - *b\n");
    const errors = await configErrorsOf(parseYamlFile(file, Policy));
    expect(errors.map((e) => [e.line, e.field])).to.deep.equal([
      [2, "base"],
      [2, "rules[0].outcome"],
    ]);
  });
});
