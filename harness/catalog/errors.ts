// The vendor feed could not be trusted (bad signature, hash mismatch, expired index) or
// reached. Not bad input and never a verdict on a patch: undecided (exit 2), nothing written.
import { ExitCode, PatchlabError } from "../core/errors.ts";

export class FeedError extends PatchlabError {
  readonly exitCode = ExitCode.undecided;
  readonly kind: "signature" | "hash" | "expired" | "download" | "format";
  readonly url: string | undefined;
  constructor(kind: FeedError["kind"], message: string, remedy: string, url?: string) {
    super(message, remedy);
    this.kind = kind;
    this.url = url;
  }
}
