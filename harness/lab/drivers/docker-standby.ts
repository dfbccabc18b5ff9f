// Warm standbys. A restore that recreates a machine from its snapshot pays the container's start
// and its services' boot on the critical path every time (postgres alone about a second). A
// standby is a second container started from the same snapshot while the patch is being tested,
// under another name and on a spare address of the lab network; the restore removes the patched
// machine and swaps the standby in by address and name (network reconnect, rename). The
// pipeline's rollback check then proves the swapped-in machine exact with the fingerprint, as
// after any restore. Whatever goes wrong on the way, the plain restore is the fallback.
import type Docker from "dockerode";
import { formatIpv4, gatewayOf, parseSubnet, broadcastOf } from "../../config/ipv4.ts";
import type { Lab } from "../../config/schemas.ts";
import { refuseIfInterrupted } from "../../core/interrupt.ts";
import type { Logger } from "../../core/log.ts";
import { assignAddresses, networkName, subnetOf } from "../addressing.ts";
import type { MachineHandle } from "../types.ts";

export const STANDBY_SUFFIX = "-standby";
export const standbyName = (container: string): string => `${container}${STANDBY_SUFFIX}`;

/**
 * The spare address of a machine's standby: counted down from the top of its network's subnet,
 * skipping every machine's address and the gateway, the k-th free one for the k-th machine on
 * that network, so two
 * standbys never share one and none takes an address a machine may get. Undefined when the
 * subnet has no room left (the plain restore is used).
 */
export function standbyAddress(lab: Lab, machine: string): string | undefined {
  const spec = lab.machines.find((x) => x.name === machine);
  if (!spec) return undefined;
  // The machine's own network: its site engine's subnet, else the lab's.
  const cidr = subnetOf(lab, spec);
  const subnet = parseSubnet(cidr);
  const k = lab.machines.filter((x) => subnetOf(lab, x) === cidr).indexOf(spec);
  if (!subnet) return undefined;
  const taken = new Set([...assignAddresses(lab).values(), formatIpv4(gatewayOf(subnet))]);
  let seen = -1;
  for (let ip = broadcastOf(subnet) - 1; ip > subnet.network; ip--) {
    if (taken.has(formatIpv4(ip))) continue;
    if (++seen === k) return formatIpv4(ip);
  }
  return undefined;
}

interface Pending {
  image: string;
  /** Resolves true once the standby runs. */
  started: Promise<boolean>;
}

const gone = (e: unknown) => (e as { statusCode?: number }).statusCode === 404;

export class Standbys {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly docker: Docker, private readonly log: (machine: string) => Logger) {}

  /**
   * Start a standby of `m` from snapshot image `image` in the background (create options as the
   * snapshot records them). A standby of an older snapshot is replaced.
   */
  prepare(m: MachineHandle, image: string, create: () => Promise<Docker.ContainerCreateOptions>): void {
    const ip = standbyAddress(m.lab, m.spec.name);
    const have = this.pending.get(m.container);
    if (!ip || have?.image === image) return;
    const name = standbyName(m.container);
    const net = networkName(m.lab.name);
    const started = (async () => {
      await have?.started;
      refuseIfInterrupted("standby", m.spec.name);
      const opts: Docker.ContainerCreateOptions = {
        ...(await create()),
        name,
        Image: image,
        // No aliases: the lab's DNS must not answer the machine's name with the standby.
        NetworkingConfig: { EndpointsConfig: { [net]: { IPAMConfig: { IPv4Address: ip } } } },
      };
      await this.docker.getContainer(name).remove({ force: true }).catch((e: unknown) => {
        if (!gone(e)) throw e;
      });
      const c = await this.docker.createContainer(opts);
      await c.start();
      return true;
    })().catch((e: unknown) => {
      this.log(m.spec.name).warn("standby not started; the restore will recreate the machine", { step: "standby", error: (e as Error).message });
      return false;
    });
    this.pending.set(m.container, { image, started });
  }

  /**
   * Swap the standby of `m` in for the machine, if one of snapshot `image` was started. True
   * when it now runs as the machine (same name, address and aliases); false when the caller
   * must restore the plain way (nothing of the standby is left then).
   */
  async swapIn(m: MachineHandle, image: string): Promise<boolean> {
    const sb = this.pending.get(m.container);
    if (!sb || sb.image !== image) return false;
    this.pending.delete(m.container);
    if (!(await sb.started)) return false;
    const name = standbyName(m.container);
    const net = this.docker.getNetwork(networkName(m.lab.name));
    try {
      await this.docker.getContainer(m.container).remove({ force: true }).catch((e: unknown) => {
        if (!gone(e)) throw e;
      });
      await net.disconnect({ Container: name, Force: true });
      await net.connect({ Container: name, EndpointConfig: { IPAMConfig: { IPv4Address: m.ip }, Aliases: [m.spec.name, m.fqdn] } });
      await this.docker.getContainer(name).rename({ name: m.container });
      return true;
    } catch (e) {
      this.log(m.spec.name).warn("standby swap failed; recreating the machine from its snapshot", { step: "restore", error: (e as Error).message });
      await this.docker.getContainer(name).remove({ force: true }).catch(() => undefined);
      return false;
    }
  }

  /** Remove the standby of machine container `container`, started or not (a standby never outlives its snapshot). */
  async discard(container: string): Promise<void> {
    const sb = this.pending.get(container);
    this.pending.delete(container);
    await sb?.started;
    await this.docker.getContainer(standbyName(container)).remove({ force: true }).catch((e: unknown) => {
      if (!gone(e)) throw e;
    });
  }

  /** Machine containers with a standby of snapshot image `image`. */
  of(image: string): string[] {
    return [...this.pending].filter(([, p]) => p.image === image).map(([c]) => c);
  }
}
