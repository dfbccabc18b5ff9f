// The file role as a user on the network uses it: smbclient from the client to the target's
// share, logged in as the lab user. Every file a check creates has a fresh random name and is
// deleted again, so the share is left as it was found.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { SMB } from "../../harness/lab/roles/credentials.ts";
import { check, smoke } from "../support/check.ts";
import { targetWithRole } from "../support/context.ts";
import { describeStep, listedNames, smbSteps } from "../support/smb.ts";

/** The file every share is created with (lab-config/images/file/files/readme.txt). */
const README = "readme.txt";

describe("file role", function () {
  this.timeout(60_000);
  let ip = "";
  let where = "";

  before(function () {
    const t = targetWithRole("file");
    ip = t.ip;
    where = `//${t.fqdn}/${SMB.share} (${t.ip})`;
  });

  const fresh = () => `patchlab-check-${randomBytes(4).toString("hex")}`;

  smoke("file lists the share as the lab user", async function () {
    const [ls] = await smbSteps(ip, ["ls"]);
    expect(ls!.exitCode, `${where}: listing the share as ${SMB.user}: ${describeStep(ls!)}`).to.equal(0);
    const names = listedNames(ls!.output);
    expect(names, `${where}: the share lists ${names.join(", ") || "nothing"}, without ${README}`).to.include(README);
  });

  check("file stores a file put by the lab user and gives back the same content", async function () {
    const name = fresh();
    const local = `/tmp/${name}`;
    const content = `${name} ${randomBytes(64).toString("base64")}`;
    const steps = await smbSteps(ip, [`put ${local} ${name}.txt`, `get ${name}.txt ${local}.back`, `del ${name}.txt`], {
      before: `printf '%s' '${content}' > ${local}`,
      after: `sha256sum < ${local}; sha256sum < ${local}.back 2>/dev/null || echo missing; rm -f ${local} ${local}.back`,
    });
    const [put, get, del] = steps;
    expect(put!.exitCode, `${where}: put as ${SMB.user}: ${describeStep(put!)}`).to.equal(0);
    expect(get!.exitCode, `${where}: get of the file just put: ${describeStep(get!)}`).to.equal(0);
    const [sent, back] = (steps.after ?? "").split("\n").map((l) => l.split(" ")[0]);
    expect(back, `${where}: the file read back differs from the one put (sha256 ${back} vs ${sent})`).to.equal(sent);
    expect(del!.exitCode, `${where}: deleting the file just put: ${describeStep(del!)}`).to.equal(0);
  });

  check("file renames and deletes a file as the lab user", async function () {
    const name = fresh();
    const [put, rename, lsAfterRename, del, lsAfterDel] = await smbSteps(
      ip,
      [`put /tmp/${name} ${name}.txt`, `rename ${name}.txt ${name}-renamed.txt`, "ls", `del ${name}-renamed.txt`, "ls"],
      { before: `echo ${name} > /tmp/${name}` },
    );
    expect(put!.exitCode, `${where}: put as ${SMB.user}: ${describeStep(put!)}`).to.equal(0);
    expect(rename!.exitCode, `${where}: rename: ${describeStep(rename!)}`).to.equal(0);
    const listed = listedNames(lsAfterRename!.output);
    expect(listed, `${where}: after the rename the share lists ${listed.join(", ")}`).to.include(`${name}-renamed.txt`).and.not.include(`${name}.txt`);
    expect(del!.exitCode, `${where}: delete: ${describeStep(del!)}`).to.equal(0);
    expect(listedNames(lsAfterDel!.output), `${where}: the deleted file is still listed`).to.not.include(`${name}-renamed.txt`);
  });

  check("file refuses the lab user with a wrong password", async function () {
    const [ls] = await smbSteps(ip, ["ls"], { password: `wrong-${randomBytes(4).toString("hex")}` });
    expect(ls!.exitCode, `${where}: a wrong password was accepted`).to.not.equal(0);
    // Refused for the password, not because the server is unreachable or the share is gone.
    expect(ls!.status, `${where}: with a wrong password: ${describeStep(ls!)}; expected NT_STATUS_LOGON_FAILURE`).to.equal("NT_STATUS_LOGON_FAILURE");
  });
});
