// Which Docker engine runs which container of a lab. A machine's `site:` picks an entry of the
// lab file's `sites:` map (engine endpoint, TLS files, the lab subnet on that engine); a site
// without an entry, and every non-container machine, stays on the default engine. Endpoints are
// runner-specific, so PATCHLAB_ENGINE_<SITE> overrides a site's endpoint without editing the lab.
import fs from "node:fs";
import path from "node:path";
import type Docker from "dockerode";
import { isDockerMachine, type EngineTls, type Lab, type Machine } from "../../config/schemas.ts";
import { ConfigError } from "../../core/errors.ts";

export const DEFAULT_ENGINE_URL = "unix:///var/run/docker.sock";

export type ParsedEngineUrl =
  | { protocol: "unix"; socketPath: string }
  | { protocol: "tcp"; host: string; port: number }
  | { protocol: "ssh"; host: string; port: number; username?: string };

/** Parses an engine endpoint; returns the reason as a string when it is not one. */
export function parseEngineUrl(url: string): ParsedEngineUrl | string {
  let m = /^unix:\/\/(\/[^\0]+)$/.exec(url);
  if (m) return { protocol: "unix", socketPath: m[1]! };
  if (url.startsWith("unix://")) return "a unix endpoint is unix:// followed by an absolute socket path, e.g. unix:///run/docker-b.sock";
  m = /^tcp:\/\/([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\/?$/.exec(url);
  if (m) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) return `port ${m[2]} is out of range (1-65535)`;
    return { protocol: "tcp", host: m[1]!.replace(/^\[|\]$/g, ""), port };
  }
  if (url.startsWith("tcp://")) return "a tcp endpoint is tcp://host:port, e.g. tcp://10.1.2.3:2376";
  m = /^ssh:\/\/(?:([a-z_][a-z0-9_-]{0,31})@)?([A-Za-z0-9.-]+)(?::(\d{1,5}))?\/?$/.exec(url);
  if (m) {
    const port = m[3] ? Number(m[3]) : 22;
    if (port < 1 || port > 65535) return `port ${m[3]} is out of range (1-65535)`;
    return { protocol: "ssh", host: m[2]!, port, ...(m[1] ? { username: m[1] } : {}) };
  }
  if (url.startsWith("ssh://")) return "an ssh endpoint is ssh://user@host[:port]";
  return "must be unix:///path/to/docker.sock, tcp://host:port or ssh://user@host";
}

/** The environment variable overriding a site's engine endpoint. */
export const engineVar = (site: string) => `PATCHLAB_ENGINE_${site.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`;

/** The default engine's endpoint, as DOCKER_HOST or dockerode's default says. */
export function defaultEngineUrl(): string {
  return process.env.DOCKER_HOST || DEFAULT_ENGINE_URL;
}

/** One engine a lab uses. `key` is the endpoint (what the driver registry keys by). */
export interface EngineRef {
  key: string;
  url: string;
  isDefault: boolean;
  /** The lab network's subnet on this engine. */
  subnet: string;
  /** Sites (lab-file names) on this engine; empty for the default engine. */
  sites: string[];
  /** Absolute TLS file paths (tcp only). */
  tls?: EngineTls;
}

/** The default engine as a lab sees it. */
export function defaultEngine(lab: Lab): EngineRef {
  const url = defaultEngineUrl();
  return { key: url, url, isDefault: true, subnet: lab.network.subnet, sites: [] };
}

/** The engine of one site entry, with the runner's override applied and checked. */
export function siteEngine(lab: Lab, site: string): EngineRef | undefined {
  const entry = lab.sites?.[site];
  if (!entry) return undefined;
  const envName = engineVar(site);
  const url = process.env[envName] || entry.engine;
  const parsed = parseEngineUrl(url);
  if (typeof parsed === "string") {
    throw new ConfigError(
      `engine ${url} of site ${site} ${process.env[envName] ? `(from ${envName}) ` : ""}is not an engine endpoint: ${parsed}`,
      process.env[envName] ? `fix or unset ${envName}` : `fix sites.${site}.engine in the lab file`,
      { field: process.env[envName] ? envName : `sites.${site}.engine`, value: url },
    );
  }
  if (url === defaultEngineUrl()) {
    throw new ConfigError(
      `site ${site} names the default engine (${url}): the lab network on one engine has one subnet`,
      `remove the sites.${site} entry to run its machines on the default engine, or point it at another engine${process.env[envName] ? ` (${envName})` : ""}`,
      { field: `sites.${site}.engine`, value: url },
    );
  }
  // TLS paths were made absolute by loadLab (relative to the lab file).
  return { key: url, url, isDefault: false, subnet: entry.subnet, sites: [site], ...(entry.tls ? { tls: entry.tls } : {}) };
}

/** The engine a machine runs on (non-container machines: the default engine, whose network they join). */
export function engineOf(lab: Lab, machine: Machine): EngineRef {
  if (isDockerMachine(machine)) {
    const e = siteEngine(lab, machine.site);
    if (e) return e;
  }
  return defaultEngine(lab);
}

/**
 * Every engine the lab uses, the default first (always: VMs, servers and the reaper use it).
 * Sites sharing an endpoint are one engine (and share its subnet, checked at load time).
 */
export function enginesOf(lab: Lab): EngineRef[] {
  const out = new Map<string, EngineRef>([[defaultEngineUrl(), defaultEngine(lab)]]);
  for (const m of lab.machines) {
    const e = engineOf(lab, m);
    const seen = out.get(e.key);
    if (!seen) out.set(e.key, e);
    else for (const s of e.sites) if (!seen.sites.includes(s)) seen.sites.push(s);
  }
  return [...out.values()];
}

/** dockerode options for an endpoint (TLS files read here, so a missing one is a clear error). */
export function dockerOptions(ref: Pick<EngineRef, "url" | "tls">): Docker.DockerOptions {
  const p = parseEngineUrl(ref.url);
  if (typeof p === "string") throw new ConfigError(`engine ${ref.url}: ${p}`, "fix the engine endpoint", { value: ref.url });
  if (p.protocol === "unix") return { socketPath: p.socketPath };
  if (p.protocol === "ssh") return { protocol: "ssh", host: p.host, port: p.port, ...(p.username ? { username: p.username } : {}) } as Docker.DockerOptions;
  if (!ref.tls) return { protocol: "http", host: p.host, port: p.port };
  const read = (what: string, file: string) => {
    try {
      return fs.readFileSync(file);
    } catch (e) {
      throw new ConfigError(`TLS ${what} file ${file} of engine ${ref.url} cannot be read: ${(e as Error).message}`, `fix the site's tls.${what} path in the lab file`, { field: `tls.${what}`, value: file });
    }
  };
  return { protocol: "https", host: p.host, port: p.port, ca: read("ca", ref.tls.ca), cert: read("cert", ref.tls.cert), key: read("key", ref.tls.key) };
}

/** What a suite process needs to reach an engine (absent: the default engine). */
export interface EngineAddress {
  url: string;
  tls?: EngineTls;
}
export const engineAddress = (e: EngineRef): EngineAddress | undefined => (e.isDefault ? undefined : { url: e.url, ...(e.tls ? { tls: e.tls } : {}) });
