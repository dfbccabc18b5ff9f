// A real browser (Debian's chromium driven by Playwright) that sees only the lab.
//
// Chromium runs on the harness host, which sits on the lab's internal Docker network (the
// network's gateway address), and is confined to the lab twice over:
//   - --host-resolver-rules maps each lab name to the address the lab file gives it and every
//     other name to NOTFOUND, so no name outside the lab resolves (and a dns patch cannot
//     send the app check elsewhere: like the web suite's --resolve, it pins the target);
//   - every request the page makes is routed through a guard that aborts any URL whose host
//     is not a lab name or lab address; the blocked URLs are attached to the result.
// Background networking, component updates and sync are switched off, so the browser makes
// no request of its own. See suites/README.md ("Why the browser runs on the harness").
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { attachment } from "allure-js-commons";
import { chromium, type Browser, type BrowserContext, type Page, type Request } from "playwright";
import { serviceTime } from "./check.ts";
import { suiteContext } from "./context.ts";

export const CHROMIUM = process.env.PATCHLAB_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-dev-shm-usage",
];

/** Lab names (FQDN and short name) -> address, from the suite context. */
export function labHosts(): Map<string, string> {
  const hosts = new Map<string, string>();
  for (const [name, m] of Object.entries(suiteContext().machines)) {
    hosts.set(m.fqdn, m.ip);
    hosts.set(name, m.ip);
  }
  return hosts;
}

/** --host-resolver-rules: lab names to their addresses, everything else NOTFOUND. */
export function resolverRules(hosts: Map<string, string>): string {
  return [...[...hosts.entries()].map(([n, ip]) => `MAP ${n} ${ip}`), "MAP * ~NOTFOUND"].join(", ");
}

/** Whether a URL stays inside the lab (a lab name or address, or a browser-internal scheme). */
export function inLab(url: string, hosts: Map<string, string>): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === "data:" || u.protocol === "blob:" || u.protocol === "about:") return true;
  const ips = new Set(hosts.values());
  return hosts.has(u.hostname) || ips.has(u.hostname);
}

/** Throws (-> broken) when the harness host cannot open a TCP connection to ip:port. */
export function assertReachable(ip: string, port: number, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: ip, port, timeout: timeoutMs });
    s.once("connect", () => {
      s.destroy();
      resolve();
    });
    const fail = (why: string) => {
      s.destroy();
      reject(new Error(`the harness host cannot reach ${ip}:${port} on the lab network (${why}); the browser runs on the host and needs the lab's Docker network to be reachable from it`));
    };
    s.once("timeout", () => fail("timed out"));
    s.once("error", (e) => fail((e as NodeJS.ErrnoException).code ?? e.message));
  });
}

export interface LabBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors, in order. */
  consoleErrors: string[];
  /** Requests the guard aborted because they left the lab. */
  blocked: string[];
  /** Screenshot of the page now, attached to the running check under `name`. */
  snap(name: string): Promise<void>;
  /**
   * Closes the check's context; attaches the console errors (and blocked URLs), and when
   * `failed`, the Playwright trace (trace.zip) of the whole check.
   */
  close(failed: boolean): Promise<void>;
}

/**
 * The suite run's browser: launched on first use, shared by its checks (each check gets its own
 * context: cookies, storage and cache start empty), launched again if it died. A launch is
 * ~0.5 s of the 2 cores; a context ~0.1 s.
 */
let shared: { hosts: string; browser: Promise<Browser> } | undefined;

async function labBrowserProcess(hosts: Map<string, string>): Promise<Browser> {
  const rules = resolverRules(hosts);
  if (shared && shared.hosts === rules) {
    const b = await shared.browser.catch(() => undefined);
    if (b?.isConnected()) return b;
  }
  if (shared) await closeLabBrowser();
  const browser = chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, `--host-resolver-rules=${rules}`],
  });
  shared = { hosts: rules, browser };
  return browser;
}

/** Closes the shared browser (a suite's `after` hook); the next check launches a new one. */
export async function closeLabBrowser(): Promise<void> {
  const s = shared;
  shared = undefined;
  const b = await s?.browser.catch(() => undefined);
  await b?.close().catch(() => undefined);
}

/**
 * Whether the trace of a check records screenshots (a filmstrip) besides DOM snapshots: off by
 * default (the check's own screenshots are attached at each step, and the filmstrip's screencast
 * costs the busy cores a frame at every paint); PATCHLAB_TRACE_SCREENSHOTS=1 turns it on.
 */
export const TRACE_SCREENSHOTS = process.env.PATCHLAB_TRACE_SCREENSHOTS === "1";

/** A fresh context and page for one check in the suite's browser, with tracing on. */
export async function openLabBrowser(): Promise<LabBrowser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`chromium is not installed at ${CHROMIUM}: run \`npx patchlab doctor --fix\` (it installs Debian's chromium)`);
  }
  const hosts = labHosts();
  const browser = await labBrowserProcess(hosts);
  const context = await browser.newContext({ ignoreHTTPSErrors: false, viewport: { width: 1280, height: 900 } });
  await context.tracing.start({ screenshots: TRACE_SCREENSHOTS, snapshots: true });
  const blocked: string[] = [];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (inLab(url, hosts)) return route.continue();
    blocked.push(url);
    return route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(`console.error: ${m.text()}${m.location().url ? ` (${m.location().url}:${m.location().lineNumber})` : ""}`);
  });
  page.on("pageerror", (e) => consoleErrors.push(`uncaught: ${e.message}`));
  // The server's answer time of every page load: request sent -> response fully received.
  page.on("requestfinished", (r: Request) => {
    if (r.resourceType() !== "document") return;
    const t = r.timing();
    if (t.requestStart >= 0 && t.responseEnd >= t.requestStart) serviceTime(t.responseEnd - t.requestStart);
  });
  let shot = 0;
  return {
    browser,
    context,
    page,
    consoleErrors,
    blocked,
    async snap(name: string) {
      shot++;
      const png = await page.screenshot({ fullPage: true }).catch(() => undefined);
      if (png) await attachment(`${String(shot).padStart(2, "0")} ${name}`, png, "image/png");
    },
    async close(failed: boolean) {
      try {
        await attachment("console errors", consoleErrors.length ? consoleErrors.join("\n") : "(none)", "text/plain");
        if (blocked.length) await attachment("requests blocked (outside the lab)", blocked.join("\n"), "text/plain");
        if (failed) {
          const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "patchlab-trace-")), "trace.zip");
          await context.tracing.stop({ path: file });
          await attachment("trace.zip", fs.readFileSync(file), { contentType: "application/vnd.allure.playwright-trace", fileExtension: "zip" });
          fs.rmSync(path.dirname(file), { recursive: true, force: true });
        } else {
          await context.tracing.stop();
        }
      } finally {
        // The context holds the check's pages, cookies and storage; the browser serves the next check.
        await context.close().catch(() => undefined);
      }
    },
  };
}

/**
 * Runs `fn` with a fresh browser context; on any error the trace is kept (attached) and the error
 * rethrown unchanged, so an assertion stays `failed` and a harness problem stays `broken`.
 */
export async function withLabBrowser(fn: (b: LabBrowser) => Promise<void>): Promise<void> {
  const b = await openLabBrowser();
  let failed = true;
  try {
    await fn(b);
    failed = false;
  } finally {
    await b.close(failed);
  }
}
