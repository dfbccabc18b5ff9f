// web: nginx on 80/443. Ready when both ports accept and /healthz answers 200 (no exec, so
// the probe stays fast after a snapshot restore). Provision swaps the image's throwaway
// certificate for one from the lab CA and reloads nginx.
import { X509Certificate } from "node:crypto";
import { LabError } from "../../core/errors.ts";
import { httpGet, port } from "../../readiness/wait.ts";
import type { MachineHandle } from "../types.ts";
import { mustExec, pollUntil, shq, waitBooted, wwwTarget } from "./common.ts";
import type { RoleModule } from "./types.ts";

export const WEB_CERT_PATH = "/etc/ssl/patchlab/server.crt";
export const WEB_KEY_PATH = "/etc/ssl/patchlab/server.key";
/** Text the default site's /index.html contains. */
export const WEB_MARKER = "patchlab-web-ok";

/** Names on the web certificate: FQDN first (the CN), the short name, www when it points here, the IP. */
export function webCertNames(m: MachineHandle, machines: MachineHandle[]): string[] {
  const names = [m.fqdn, m.spec.name];
  if (wwwTarget(machines)?.spec.name === m.spec.name) names.push(`www.${m.lab.domain}`);
  if (m.ip) names.push(m.ip);
  return names;
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, "").toLowerCase();
}

export const webRole: RoleModule = {
  role: "web",
  logs: [{ path: "/var/log/nginx/error.log" }, { path: "/var/log/nginx/access.log", errorPattern: '" 5\\d\\d ' }],
  readiness: () => [port(80), port(443), httpGet({ path: "/healthz", expect: (s) => s === 200 })],
  async provision(conn, m, ctx) {
    await waitBooted(conn);
    const { certPem, keyPem } = await ctx.pki.issue(webCertNames(m, ctx.machines));
    await conn.upload([
      { path: WEB_CERT_PATH, content: certPem, mode: 0o644 },
      { path: WEB_KEY_PATH, content: keyPem, mode: 0o600 },
    ]);
    await mustExec(conn, "nginx config test", "nginx -t -q");
    await mustExec(conn, "nginx reload", "if /etc/init.d/nginx status >/dev/null 2>&1; then /etc/init.d/nginx reload; else /etc/init.d/nginx start; fi");
    // A reload is asynchronous: wait until new connections get the new certificate.
    const want = fingerprint(certPem);
    const served = await pollUntil(async () => {
      const r = await conn.exec(
        `echo | openssl s_client -connect 127.0.0.1:443 -servername ${shq(m.fqdn)} 2>/dev/null | openssl x509 -noout -fingerprint -sha256`,
        { timeoutMs: 5000 },
      );
      return r.stdout.replace(/^.*=/, "").replace(/[:\s]/g, "").toLowerCase() === want;
    }, 15_000);
    if (!served) {
      throw new LabError("machine-start", `nginx on ${m.spec.name} still serves another certificate after reload`, "look at /var/log/nginx/error.log on the machine", { machine: m.spec.name });
    }
  },
};
