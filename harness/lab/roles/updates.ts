// updates: the lab's update server, an apt repository over HTTP on port 80 (busybox httpd,
// /srv/apt). Ready when /healthz answers. The repository's content is published by the
// harness when a run needs it (harness/catalog/repo.ts), signed with the lab's key.
import { httpGet, port } from "../../readiness/wait.ts";
import { mustExec, waitBooted } from "./common.ts";
import type { RoleModule } from "./types.ts";

export const updatesRole: RoleModule = {
  role: "updates",
  readiness: () => [port(80), httpGet({ path: "/healthz", expect: (s) => s === 200 })],
  async provision(conn) {
    await waitBooted(conn);
    await mustExec(conn, "update server layout", "mkdir -p /srv/apt/pool /srv/apt/dists && test -s /srv/apt/healthz");
  },
};
