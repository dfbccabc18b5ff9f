// The committed JSON Schemas are what editors validate against; they must say exactly
// what the zod schemas (and so the loader) accept.
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { renderSchemas, schemasDir } from "../../../harness/config/json-schemas.ts";

describe("config: JSON Schema export", () => {
  const rendered = renderSchemas();

  it("exports lab, patch, batch, gate.json and run.json schemas with titles and field descriptions", () => {
    expect(Object.keys(rendered)).to.include.members(["batch.schema.json", "gate.schema.json", "gate-input.schema.json", "lab.schema.json", "patch.schema.json", "plan.schema.json", "policy.schema.json", "run.schema.json", "waivers.schema.json"]);
    const lab = JSON.parse(rendered["lab.schema.json"]!);
    expect(lab.title).to.equal("patchlab lab");
    expect(lab.additionalProperties).to.equal(false);
    // A machine is one of docker (driver optional: the default), vm or ssh.
    const [dockerMachine, sshMachine, vmMachine] = lab.properties.machines.items.oneOf;
    expect(dockerMachine.properties.roles.description).to.match(/server roles/);
    expect(dockerMachine.required).to.not.include("applications"); // defaulted: optional to write
    expect(dockerMachine.required).to.not.include("driver"); // every lab file from before drivers stays valid
    expect(sshMachine.properties.driver.const).to.equal("ssh");
    expect(sshMachine.required).to.include.members(["driver", "ssh"]);
    expect(vmMachine.properties.vm.required).to.deep.equal(["image"]);
  });

  for (const name of Object.keys(rendered)) {
    it(`lab-config/schemas/${name} is up to date with the zod schemas`, () => {
      const file = path.join(schemasDir, name);
      const committed = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
      expect(committed === rendered[name], `lab-config/schemas/${name} is stale: run npm run schemas and commit the result`).to.equal(true);
    });
  }
});
