// Lab images on a site engine: copied from the default engine (image save -> load), never
// rebuilt there. The recipe hash in the tag says whether the site engine has the current one,
// so a copy happens once per recipe change, and a site engine needs no build context, no apt
// mirror and no network of its own to get its images.
import type Docker from "dockerode";
import { LabError } from "../../core/errors.ts";
import { nullLogger, type Logger } from "../../core/log.ts";
import { ensureImages, imageStatus } from "../images/build.ts";

export interface CopyImagesOptions {
  log?: Logger;
  onProgress?: ((line: string) => void) | undefined;
  /** The target engine's endpoint, for messages. */
  target: string;
}

/** Makes sure `to` has every named image for its current recipe; returns name -> tag like ensureImages. */
export async function copyImages(from: Docker, to: Docker, names: string[], opts: CopyImagesOptions): Promise<Map<string, string>> {
  const log = opts.log ?? nullLogger;
  const status = await imageStatus(to, names);
  const tags = new Map(status.map((s) => [s.name, s.tag]));
  const missing = status.filter((s) => !s.built);
  if (missing.length === 0) return tags;
  // Built (or already there) on the default engine first: the one place images are built.
  await ensureImages(from, missing.map((s) => s.name), { log, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  for (const s of missing) {
    const t0 = Date.now();
    opts.onProgress?.(`[${s.name}] copying ${s.tag} to engine ${opts.target}`);
    try {
      const tar = (await from.getImage(s.tag).get()) as NodeJS.ReadableStream;
      const stream = (await to.loadImage(tar as never, { quiet: true } as object)) as NodeJS.ReadableStream;
      await new Promise<void>((resolve, reject) => to.modem.followProgress(stream, (e: unknown, out: { error?: string }[] = []) => {
        const failed = out.find((x) => x?.error);
        return e || failed ? reject(e ?? new Error(failed!.error)) : resolve();
      }));
      await to.getImage(s.tag).inspect(); // loaded means inspectable under its tag
    } catch (e) {
      throw new LabError(
        "engine-unreachable",
        `could not copy image ${s.tag} to engine ${opts.target}: ${(e as Error).message}`,
        `check the engine at ${opts.target} answers and has room (\`docker -H ${opts.target} info\`), then retry`,
        {},
        { cause: e },
      );
    }
    log.info("image copied to site engine", { image: s.tag, engine: opts.target, ms: Date.now() - t0 });
    opts.onProgress?.(`[${s.name}] copied to ${opts.target} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return tags;
}
