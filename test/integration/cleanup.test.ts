// `lab down` on the real engine removes a lab network that still has an endpoint on it (a
// container the lab did not make, as a killed `lab up` or a debugging session leaves one):
// the endpoint is force-disconnected first, the stray container itself is left alone.
import { expect } from "chai";
import type { Lab } from "../../harness/config/schemas.ts";
import { DockerDriver } from "../../harness/lab/drivers/docker-driver.ts";
import { docker as guarded } from "../../harness/lab/drivers/docker-engine.ts";
import { docker } from "./support.ts";

const LAB = "hardenx";
const NET = `patchlab-${LAB}`;
const STRAY = `patchlab-${LAB}-stray`;

describe("lab down with an endpoint left on the lab network (real engine)", function () {
  const cleanup = async () => {
    await docker.getContainer(STRAY).remove({ force: true }).catch(() => undefined);
    await docker.getNetwork(NET).remove().catch(() => undefined);
  };
  before(cleanup);
  after(cleanup);

  it("force-disconnects the endpoint and removes the network; the stray container survives, disconnected", async function () {
    const images = await docker.listImages({ filters: { label: ["patchlab.kind=image"] } });
    const image = images.flatMap((i) => i.RepoTags ?? []).find((t) => t.startsWith("patchlab/client:"));
    if (!image) this.skip(); // `npx patchlab doctor --fix` builds it
    await docker.createNetwork({ Name: NET, Driver: "bridge", Internal: true, IPAM: { Config: [{ Subnet: "172.30.85.0/24" }] }, Labels: { "patchlab.managed": "true", "patchlab.lab": LAB } });
    const c = await docker.createContainer({ name: STRAY, Image: image, Entrypoint: ["sleep"], Cmd: ["300"], Labels: { "patchlab.test": "harden-stray" }, HostConfig: { NetworkMode: NET } });
    await c.start();
    // What the old `lab down` did: the engine refuses while an endpoint is attached.
    const plain = await docker.getNetwork(NET).remove().then(() => "removed", (e: Error) => e.message);
    expect(plain).to.match(/active endpoints/);

    const t0 = Date.now();
    await new DockerDriver(guarded()).down({ name: LAB, domain: "lab.test", network: { subnet: "172.30.85.0/24" }, machines: [] } as unknown as Lab);
    console.log(`      lab down with a stray endpoint: ${Date.now() - t0} ms`);
    const left = await docker.listNetworks({ filters: { name: [NET] } });
    expect(left.filter((n) => n.Name === NET)).to.deep.equal([]);
    const info = await docker.getContainer(STRAY).inspect();
    expect(info.State.Running).to.equal(true);
    expect(Object.keys(info.NetworkSettings.Networks ?? {})).to.not.include(NET);
  });
});
