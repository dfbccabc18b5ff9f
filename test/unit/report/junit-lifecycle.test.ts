import { expect } from "chai";
import { lifecycleJunit } from "../../../harness/report/junit-lifecycle.ts";

describe("report: lifecycle JUnit", () => {
  const xml = lifecycleJunit([
    { machine: "web", patch: "P1", step: "install", status: "passed", message: "ok", start: 0, stop: 1500 },
    { machine: "web", patch: "P2", step: "install", status: "failed", message: "dpkg -i exited 1", output: "postinst: <bad> & \u0007worse", start: 0, stop: 10 },
    { machine: "web", step: "restore", status: "broken", message: "restore not exact", start: 0, stop: 0 },
  ]);

  it("counts failures (patch) and errors (lab) separately", () => {
    expect(xml).to.contain('<testsuite name="lifecycle" tests="3" failures="1" errors="1" skipped="0">');
  });

  it("a failed step is a <failure> with the installer's output, escaped", () => {
    expect(xml).to.contain('<testcase classname="lifecycle.web" name="install P2" time="0.010">');
    expect(xml).to.contain('<failure message="dpkg -i exited 1">dpkg -i exited 1\n\npostinst: &lt;bad&gt; &amp; worse</failure>');
  });

  it("a broken step is an <error>, a passed one an empty testcase", () => {
    expect(xml).to.contain('<error message="restore not exact">');
    expect(xml).to.contain('<testcase classname="lifecycle.web" name="install P1" time="1.500"/>');
  });
});
