// Removing a lab network even when the engine still lists endpoints on it: a `lab up` killed
// mid-create can leave an endpoint whose container no longer exists, and then neither
// `docker network rm` nor `lab down` could remove the network (only an engine restart did).
// Endpoints are force-disconnected first (the engine's own remedy for stale endpoints).
import type Docker from "dockerode";

export type NetworkRemoval = { result: "removed" | "gone"; disconnected: string[] } | { result: "kept"; reason: string };

export interface RemoveNetworkOptions {
  /**
   * Why an attached container must keep the network (a live run's machine), or undefined
   * when it may be disconnected. Absent: every endpoint is disconnected (`lab down`).
   */
  keepFor?: (endpoint: { id: string; name: string }) => Promise<string | undefined>;
}

const is404 = (e: unknown) => (e as { statusCode?: number }).statusCode === 404;

export async function removeNetworkForce(docker: Docker, idOrName: string, opts: RemoveNetworkOptions = {}): Promise<NetworkRemoval> {
  const net = docker.getNetwork(idOrName);
  let info: { Containers?: Record<string, { Name?: string }> };
  try {
    info = (await net.inspect()) as typeof info;
  } catch (e) {
    if (is404(e)) return { result: "gone", disconnected: [] };
    throw e;
  }
  const endpoints = Object.entries(info.Containers ?? {}).map(([id, c]) => ({ id, name: c.Name ?? id }));
  for (const ep of endpoints) {
    const reason = await opts.keepFor?.(ep);
    if (reason) return { result: "kept", reason };
  }
  const disconnected: string[] = [];
  for (const ep of endpoints) {
    // A stale endpoint's container is gone: the engine finds the endpoint by the container's name.
    try {
      await net.disconnect({ Container: ep.name, Force: true });
    } catch (e) {
      if (!is404(e)) {
        await net.disconnect({ Container: ep.id, Force: true }).catch((e2: unknown) => {
          if (!is404(e2)) throw e;
        });
      }
    }
    disconnected.push(ep.name);
  }
  try {
    await net.remove();
    return { result: "removed", disconnected };
  } catch (e) {
    if (is404(e)) return { result: "gone", disconnected };
    throw e;
  }
}
