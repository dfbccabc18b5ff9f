// Root hooks of the integration suite: a reference lab the suite had to bring up is taken
// down again at the end, so `npm test` leaves the engine as it found it (a lab someone had
// up before, e.g. after `npm run demo`, stays up).
import Docker from "dockerode";
import { cli } from "./support.ts";

let wasUp = false;

export const mochaHooks = {
  async beforeAll(this: Mocha.Context) {
    const running = await new Docker().listContainers({ filters: { label: ["patchlab.lab=reference", "patchlab.kind=machine"] } });
    wasUp = running.length > 0;
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(120_000);
    if (!wasUp) await cli(["lab", "down"]);
    await cli(["lab", "down", "test/fixtures/labs/mini.yaml"]);
  },
};
