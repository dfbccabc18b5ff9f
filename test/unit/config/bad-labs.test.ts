// Each bad-lab fixture must be rejected with an error a person can act on: the file,
// the field, the line and column, the value received and a remedy.
import path from "node:path";
import { expect } from "chai";
import { loadLab } from "../../../harness/config/loader.ts";
import { configErrorsOf, fixture, fixtureRoot, onlyErrorOf } from "./helpers.ts";

const bad = (name: string) => fixture("bad-labs", `${name}.yaml`);
const load = (name: string) => loadLab(bad(name), { configRoot: fixtureRoot });
const shown = (name: string) => path.relative(process.cwd(), bad(name));

interface Expectation {
  fixture: string;
  field?: string;
  /** Absent when the problem is the whole file. */
  line?: number;
  column?: number;
  message: RegExp;
  remedy: RegExp;
  value?: unknown;
}

const cases: Expectation[] = [
  {
    fixture: "syntax-error",
    line: 10, // the parser notices the unclosed `[` of line 9 where line 10 starts
    column: 5,
    message: /YAML syntax error: Flow sequence .* end with a \]/,
    remedy: /`\[` opened on an earlier line is not closed/,
  },
  {
    fixture: "unknown-role",
    field: "machines[0].roles[0]",
    line: 9,
    column: 13,
    message: /unknown role "webserver" \(got "webserver"\)$/,
    remedy: /^use one of: web, dns, db, file, ssh, app, client, updates$/,
    value: "webserver",
  },
  {
    fixture: "duplicate-machine",
    field: "machines[1].name",
    line: 13,
    column: 11,
    message: /duplicate machine name "web" \(first defined at line 7\)/,
    remedy: /unique name/,
  },
  {
    fixture: "missing-site",
    field: "machines[0].site",
    line: 7, // the machine's mapping, where `site:` must be added
    column: 5,
    message: /missing required key "site"/,
    remedy: /^add `site:` to machine 'web'/,
  },
  {
    fixture: "roles-not-list",
    field: "machines[0].roles",
    line: 9,
    column: 12,
    message: /expected a list, got a string "web"/,
    remedy: /write it as a list: `roles: \[web\]`/,
    value: "web",
  },
  {
    fixture: "unknown-key",
    field: "machines[0].rolse",
    line: 9,
    column: 5,
    message: /unknown key "rolse"/,
    remedy: /did you mean `roles:`\?/,
  },
  {
    fixture: "ip-outside-subnet",
    field: "machines[0].ip",
    line: 13,
    column: 9,
    message: /ip 10\.0\.0\.5 is outside the lab subnet 172\.30\.90\.0\/24/,
    remedy: /use a free address from 172\.30\.90\.2 to 172\.30\.90\.254, or remove `ip:`/,
    value: "10.0.0.5",
  },
  {
    fixture: "unknown-image",
    field: "machines[0].image",
    line: 8,
    column: 12,
    message: /unknown image "webserver": no recipe directory .*images\/webserver\//,
    remedy: /use one of: app, base, client, db, dns, file, web; or create .*images\/webserver\//,
    value: "webserver",
  },
  {
    fixture: "duplicate-ip",
    field: "machines[1].ip",
    line: 20,
    column: 9,
    message: /ip 172\.30\.90\.20 is already used by machine 'web' \(line 13\)/,
    remedy: /free address/,
  },
  {
    fixture: "gateway-ip",
    field: "machines[0].ip",
    line: 13,
    column: 9,
    message: /ip 172\.30\.90\.1 is the subnet's gateway address/,
    remedy: /from 172\.30\.90\.2/,
  },
  {
    fixture: "no-client",
    field: "machines",
    line: 7,
    column: 3,
    message: /has no machine with the client role/,
    remedy: /add a machine with `roles: \[client\]`/,
  },
  {
    fixture: "too-many-machines",
    field: "machines",
    line: 7,
    column: 3,
    message: /6 machines without `ip:` do not fit in subnet 172\.30\.90\.0\/28/,
    remedy: /use a larger subnet, e\.g\. `subnet: 172\.30\.90\.0\/27`/,
  },
  {
    fixture: "empty",
    message: /the lab is empty$/,
    remedy: /YAML mapping/,
  },
  {
    fixture: "not-a-mapping",
    line: 2,
    column: 1,
    message: /the lab must be a YAML mapping .*got a list$/,
    remedy: /`key: value` lines/,
  },
];

describe("config: bad lab files are rejected with located, actionable errors", () => {
  for (const c of cases) {
    it(`${c.fixture}.yaml: names the file${c.field ? `, field ${c.field}` : ""}${c.line ? `, line ${c.line}:${c.column}` : ""}${c.value !== undefined ? ", the value" : ""} and a remedy`, async () => {
      const e = await onlyErrorOf(load(c.fixture));
      expect(e.file).to.equal(shown(c.fixture));
      expect(e.exitCode).to.equal(3);
      if (c.line === undefined) {
        expect(e.line).to.equal(undefined);
        expect(e.message).to.match(new RegExp(`^${escape(shown(c.fixture))}: `));
      } else {
        expect(e.line).to.equal(c.line);
        expect(e.column).to.equal(c.column);
        const prefix = `${shown(c.fixture)}:${c.line}:${c.column}: ${c.field ? `${c.field}: ` : ""}`;
        expect(e.message.startsWith(prefix), `"${e.message}" should start with "${prefix}"`).to.equal(true);
      }
      expect(e.field).to.equal(c.field);
      expect(e.message).to.match(c.message);
      expect(e.message).to.not.include("\n");
      expect(e.remedy).to.match(c.remedy);
      if (c.value !== undefined) expect(e.value).to.deep.equal(c.value);
    });
  }

  it("reports every problem of a file in one pass, top to bottom", async () => {
    const errors = await configErrorsOf(load("many-problems"));
    expect(errors.map((e) => [e.line, e.field])).to.deep.equal([
      [9, "machines[0].roles[0]"],
      [12, "machines[0].criticality"],
      [13, "machines[1].name"],
      [16, "machines[1].owner.contact"],
      [19, "machines[1].ip"],
      [22, "machines[2].roles"],
      [24, "machines[2].sit"],
    ]);
    const byField = new Map(errors.map((e) => [e.field, e]));
    expect(byField.get("machines[1].owner.contact")!.remedy).to.match(/^add `contact:` under `owner:` of machine 'web'/);
    expect(byField.get("machines[2].sit")!.remedy).to.match(/did you mean `site:`/);
  });

  it("reports a typo of a required key once (as the typo), not also as the missing key", async () => {
    const errors = await configErrorsOf(load("unknown-key"));
    expect(errors.map((e) => e.field)).to.deep.equal(["machines[0].rolse"]);
  });

  it("joins all messages in the ConfigErrors message, one line each", async () => {
    let caught: unknown;
    await load("many-problems").catch((e: unknown) => (caught = e));
    const err = caught as Error;
    expect(err.message.split("\n")).to.have.length(7);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
