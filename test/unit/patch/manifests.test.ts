// script and files manifests: what loads, and bad input named by file, line, field and remedy
// before anything touches a lab.
import { expect } from "chai";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadPatch } from "../../../harness/config/loader.ts";
import { ConfigError } from "../../../harness/core/errors.ts";
import { prepareFiles } from "../../../harness/patch/files.ts";
import { prepareScript } from "../../../harness/patch/script.ts";
import { configErrorsOf } from "../config/helpers.ts";

function folder(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-manifest-"));
  for (const [f, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), c);
  }
  return dir;
}

const head = (kind: string) => ["id: ACME-1", "title: t", "severity: low", `kind: ${kind}`, "appliesTo: { roles: [web] }"];

describe("script and files manifests", () => {
  it("a script manifest loads with its defaults; its payload (files and folders) is hashed", async () => {
    const dir = folder({ "patch.yaml": [...head("script"), "script:", '  version: "2"', "  payload: [setup.sh, data]", "  install: ./setup.sh", "  detect: test -e /opt/acme", ""].join("\n"), "setup.sh": "#!/bin/sh\n", "data/a.txt": "a", "data/b/c.txt": "c" });
    const { patch, file } = await loadPatch(path.join(dir, "patch.yaml"));
    expect(patch.kind).to.equal("script");
    if (patch.kind !== "script") return;
    expect(patch.script.exitCodes).to.deep.equal({ success: [0], restartRequired: [] });
    expect(patch.script.flags).to.deep.equal({});
    const a = prepareScript(patch, file);
    expect(a.files!.map((f) => f.rel)).to.deep.equal(["setup.sh", "data/a.txt", "data/b/c.txt"]);
    expect(a.payload.map((p) => p.package)).to.deep.equal(["ACME-1/setup.sh", "ACME-1/data/a.txt", "ACME-1/data/b/c.txt"]);
  });

  it("a payload that is missing or leaves the patch folder is bad input at its line", async () => {
    const dir = folder({ "patch.yaml": [...head("script"), "script:", '  version: "2"', "  payload: [setup.sh, ../../etc/passwd]", "  install: ./setup.sh", "  detect: 'true'", ""].join("\n") });
    const errors = await configErrorsOf(loadPatch(path.join(dir, "patch.yaml")));
    expect(errors.map((e) => [e.line, e.field])).to.deep.equal([
      [8, "script.payload[0]"],
      [8, "script.payload[1]"],
    ]);
    expect(errors[0]!.message).to.match(/payload not found: .*setup\.sh/);
    expect(errors[1]!.message).to.match(/must be a path relative to the manifest, inside its folder/);
  });

  it("a files manifest: targets must be absolute, normalised, not under /proc, /sys, /dev or /run, and each replaced once", async () => {
    const dir = folder({
      "patch.yaml": [...head("files"), "files:", '  version: "1"', "  replace:", "    - { source: a, target: etc/x }", "    - { source: a, target: /proc/sys/x }", "    - { source: a, target: /etc/../x }", "    - { source: a, target: /etc/y, mode: '999' }", ""].join("\n"),
      a: "a",
    });
    const errors = await configErrorsOf(loadPatch(path.join(dir, "patch.yaml")));
    expect(errors.map((e) => e.field)).to.deep.equal(["files.replace[0].target", "files.replace[1].target", "files.replace[2].target", "files.replace[3].mode"]);
    const dup = folder({ "patch.yaml": [...head("files"), "files:", '  version: "1"', "  replace:", "    - { source: a, target: /etc/x }", "    - { source: a, target: /etc/x }", ""].join("\n"), a: "a" });
    const e2 = await configErrorsOf(loadPatch(path.join(dup, "patch.yaml")));
    expect(e2.map((e) => e.message).join("\n")).to.match(/each target may be replaced once/);
  });

  it("a files source that is a folder is refused at load time", async () => {
    const dir = folder({ "patch.yaml": [...head("files"), "files:", '  version: "1"', "  replace: [{ source: d, target: /etc/x }]", ""].join("\n"), "d/a": "a" });
    const errors = await configErrorsOf(loadPatch(path.join(dir, "patch.yaml")));
    expect(errors.map((e) => e.field)).to.deep.equal(["files.replace[0].source"]);
    expect(errors[0]!.message).to.match(/d is not a regular file/);
    expect(errors[0]!.remedy).to.equal("name one regular file per replacement");
  });

  it("hotfix options are accepted on deb, script and files patches; unknown ones are typos", async () => {
    const dir = folder({ "patch.yaml": [...head("files"), "options: { uninstallBackup: false, deferRestart: true }", "files:", '  version: "1"', "  replace: [{ source: a, target: /etc/x }]", ""].join("\n"), a: "a" });
    const { patch, file } = await loadPatch(path.join(dir, "patch.yaml"));
    expect(patch.kind === "files" && patch.options).to.deep.equal({ uninstallBackup: false, deferRestart: true });
    expect(prepareFiles(patch, file).payload[0]).to.deep.include({ package: "ACME-1:/etc/x", version: "1" });
    const bad = folder({ "patch.yaml": [...head("files"), "options: { noBackup: true }", "files:", '  version: "1"', "  replace: [{ source: a, target: /etc/x }]", ""].join("\n"), a: "a" });
    const errors = await configErrorsOf(loadPatch(path.join(bad, "patch.yaml")));
    expect(errors[0]!.field).to.match(/^options/);
  });

  it("preparing a patch of another kind is refused clearly", () => {
    expect(() => prepareScript({ id: "X", kind: "files" } as never, "/x.yaml")).to.throw(ConfigError, /of kind files, not script/);
  });
});
