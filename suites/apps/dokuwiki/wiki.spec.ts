// DokuWiki as its users know it, in a real browser (Debian's chromium via Playwright) that
// sees only the lab (support/browser.ts). The edit flow is one check on purpose: its steps
// depend on each other (no edit without a login), so a retry must replay all of them.
// Each step leaves a screenshot on the result; a failing check keeps its trace.zip. The checks
// share one browser process, each in a fresh context (no cookie or cache carries over).
// What the wiki saved is asserted on the page source read back from the server.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { step } from "allure-js-commons";
import type { Page, Response } from "playwright";
import { WIKI_MARKER, WIKI_PATH } from "../../../harness/lab/roles/app.ts";
import { WIKI } from "../../../harness/lab/roles/credentials.ts";
import { assertReachable, closeLabBrowser, withLabBrowser } from "../../support/browser.ts";
import { check, smoke } from "../../support/check.ts";
import { suiteContext } from "../../support/context.ts";
import { inBrowser } from "../../support/page-steps.ts";

describe("dokuwiki in a browser", function () {
  this.timeout(120_000);
  let base = "";
  let host = "";

  before(async function () {
    const t = suiteContext().target;
    host = t.fqdn;
    base = `http://${t.fqdn}${WIKI_PATH}doku.php`;
    await assertReachable(t.ip, 80);
  });

  after(() => closeLabBrowser());

  const open = async (page: Page, url: string, what: string): Promise<Response> => {
    const r = await inBrowser(`${what}: GET ${url}`, () => page.goto(url, { waitUntil: "load", timeout: 30_000 }));
    expect(r, `${what}: no response for ${url}`).to.not.equal(null);
    expect(r!.status(), `${what}: ${url} answered HTTP ${r!.status()}`).to.be.below(400);
    return r!;
  };

  smoke("dokuwiki shows its start page in a browser", async function () {
    await withLabBrowser(async (b) => {
      await open(b.page, `${base}?id=start`, "start page");
      await b.snap("start page");
      const text = await b.page.locator("#dokuwiki__content").innerText();
      expect(text, `start page of ${host}: the wiki's start page lacks the marker ${WIKI_MARKER}: ${JSON.stringify(text.slice(0, 200))}`).to.include(WIKI_MARKER);
      expect(b.consoleErrors, `start page of ${host}: the page logged errors in the browser console`).to.deep.equal([]);
    });
  });

  check("dokuwiki refuses a wrong password at its login form", async function () {
    await withLabBrowser(async (b) => {
      await open(b.page, `${base}?id=start&do=login`, "login form");
      await b.page.fill("#dw__login input[name=u]", WIKI.user);
      await b.page.fill("#dw__login input[name=p]", `wrong-${randomBytes(4).toString("hex")}`);
      await inBrowser("submitting the login form", () => Promise.all([b.page.waitForLoadState("load"), b.page.click("#dw__login button[type=submit]")]));
      await b.snap("after a wrong password");
      expect(await b.page.locator("li.action.logout").count(), `${host}: a wrong password logged ${WIKI.user} in`).to.equal(0);
      expect(await b.page.locator("#dw__login").count(), `${host}: after a wrong password the login form is gone`).to.equal(1);
    });
  });

  check("dokuwiki lets a user log in, create, edit, find and review a page, and log out", async function () {
    const id = `patchlab:check-${randomBytes(4).toString("hex")}`;
    const word = `patchlabword${randomBytes(5).toString("hex")}`;
    const first = `====== Checked by patchlab ======\n\nCreated by the browser check. ${word}\n`;
    const second = `${first}\nEdited: the second revision.\n`;
    await withLabBrowser(async (b) => {
      const { page } = b;
      const source = async () => {
        // The page source as the server stores it (DokuWiki's raw export), fetched by the page
        // itself: the browser's session and network (Playwright's page.request would go
        // through the harness's own resolver instead).
        const url = `${base}?do=export_raw&id=${encodeURIComponent(id)}`;
        return inBrowser("reading the page source back", () =>
          page.evaluate(async (u) => {
            const r = await fetch(u, { cache: "no-store", credentials: "same-origin" });
            return { status: r.status, type: r.headers.get("content-type") ?? "", text: await r.text() };
          }, url),
        );
      };

      await step("open the start page", async () => {
        await open(page, `${base}?id=start`, "start page");
        await b.snap("start page");
      });

      await step(`log in as ${WIKI.user}`, async () => {
        await inBrowser("following the Log In link", () => Promise.all([page.waitForLoadState("load"), page.click("li.action.login a")]));
        await page.fill("#dw__login input[name=u]", WIKI.user);
        await page.fill("#dw__login input[name=p]", WIKI.password);
        await inBrowser("submitting the login form", () => Promise.all([page.waitForLoadState("load"), page.click("#dw__login button[type=submit]")]));
        await b.snap("logged in");
        const error = await page.locator("div.error").allInnerTexts();
        expect(await page.locator("li.action.logout").count(), `log in as ${WIKI.user} on ${host} failed${error.length ? `: the wiki says "${error.join(" ").trim()}"` : ""}`).to.equal(1);
      });

      const save = async (text: string, summary: string, what: string) => {
        await open(page, `${base}?id=${encodeURIComponent(id)}&do=edit`, `${what}: editor`);
        await inBrowser(`${what}: waiting for the editor`, () => page.waitForSelector("#wiki__text", { timeout: 15_000 }));
        await page.fill("#wiki__text", text);
        await page.fill("#edit__summary", summary);
        await b.snap(`${what}: editor filled in`);
        const [resp] = await inBrowser(`${what}: pressing Save`, () =>
          Promise.all([page.waitForNavigation({ waitUntil: "load", timeout: 30_000 }), page.click("#edbtn__save")]),
        );
        await b.snap(`${what}: after Save`);
        const status = resp?.status() ?? 0;
        expect(status, `${what}: saving page ${id} on ${host} answered HTTP ${status || "nothing"} (the wiki could not save the page)`).to.be.below(400);
        const stored = await source();
        expect(`${stored.status} ${stored.type}`, `${what}: after Save, the source of ${id} is not readable`).to.match(/^200 text\/plain/);
        expect(stored.text.trim(), `${what}: after Save the server holds ${JSON.stringify(stored.text.slice(0, 120))} for ${id}, not the text saved`).to.equal(text.trim());
      };

      await step("create a page", () => save(first, "created by patchlab", "creating the page"));
      await step("edit the page", async () => {
        await save(second, "edited by patchlab", "editing the page");
        expect(await page.locator("#dokuwiki__content").innerText(), `the page ${id} does not show the edit after saving`).to.include("Edited: the second revision.");
      });

      await step("find the page with the wiki's search", async () => {
        // The wiki indexes a page in the background: every page view asks its task runner
        // (lib/exe/taskrunner.php?id=<page>), which answers at once and indexes after. Viewing
        // the page starts that; a search from the page asks again for the same page. Search
        // until it shows up, for a bounded time, a moment apart.
        const deadline = Date.now() + 20_000;
        const indexing = page.waitForResponse((r) => r.url().includes("/lib/exe/taskrunner.php"), { timeout: 5_000 }).catch(() => undefined);
        await open(page, `${base}?id=${encodeURIComponent(id)}`, "viewing the page");
        await indexing;
        let found = false;
        let tries = 0;
        while (!found) {
          tries++;
          await page.fill("#qsearch__in", word);
          await inBrowser("searching", () => Promise.all([page.waitForLoadState("load"), page.press("#qsearch__in", "Enter")]));
          found = (await page.locator(`.search_results a[href*="${encodeURIComponent(id).replace(/%3A/g, ":")}"], .search_results a[href*="${encodeURIComponent(id)}"]`).count()) > 0;
          if (!found && Date.now() > deadline) break;
          if (!found) await page.waitForTimeout(300);
        }
        await b.snap("search results");
        expect(found, `searching ${host} for the word ${word} (in the page ${id}) found nothing within 20 s (${tries} searches)`).to.equal(true);
      });

      await step("view the page's history", async () => {
        await open(page, `${base}?id=${encodeURIComponent(id)}`, "viewing the page");
        await inBrowser("following the Old revisions link", () => Promise.all([page.waitForLoadState("load"), page.click("li.revs a")]));
        await b.snap("history");
        const history = await page.locator("#dokuwiki__content").innerText();
        expect(history, `the history of ${id} does not list the edit ("edited by patchlab")`).to.include("edited by patchlab");
        expect(history, `the history of ${id} does not list the creation ("created by patchlab")`).to.include("created by patchlab");
      });

      await step("delete the page again", async () => {
        // Saving empty text deletes a DokuWiki page: the wiki is left as it was found.
        await open(page, `${base}?id=${encodeURIComponent(id)}&do=edit`, "deleting the page: editor");
        await page.fill("#wiki__text", "");
        // The editor asks whether to really delete the page: the user says yes.
        page.once("dialog", (d) => void d.accept());
        await inBrowser("deleting the page: pressing Save", () => Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.click("#edbtn__save")]));
        const gone = await source();
        // The raw export of a page that does not exist is the wiki's HTML "topic does not exist" page.
        const source_ = gone.type.startsWith("text/plain") ? gone.text.trim() : "";
        expect(source_, `the page ${id} still has content after deleting it`).to.equal("");
      });

      await step("log out", async () => {
        await inBrowser("following the Log Out link", () => Promise.all([page.waitForLoadState("load"), page.click("li.action.logout a")]));
        await b.snap("logged out");
        expect(await page.locator("li.action.login").count(), `log out of ${host}: the Log In link is not back`).to.equal(1);
      });
      expect(b.consoleErrors, `the edit flow on ${host} logged errors in the browser console`).to.deep.equal([]);
    });
  });
});
