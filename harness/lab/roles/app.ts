// app: DokuWiki (Debian package) on apache2, at http://<app>/dokuwiki/ (/ redirects there).
// Ready when the wiki's start page answers 200.
import { httpGet, port } from "../../readiness/wait.ts";
import type { RoleModule } from "./types.ts";

export const WIKI_PATH = "/dokuwiki/";
export const WIKI_START = "/dokuwiki/doku.php?id=start";
export const WIKI_MARKER = "patchlab-wiki-ok";

export const appRole: RoleModule = {
  role: "app",
  logs: [{ path: "/var/log/apache2/error.log" }, { path: "/var/log/apache2/access.log", errorPattern: '" 5\\d\\d ' }],
  readiness: () => [port(80), httpGet({ path: WIKI_START, expect: (s) => s === 200 })],
};
