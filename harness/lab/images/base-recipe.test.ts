// The base recipe says what the import sets: tini + patchlab-init as entrypoint, a
// non-interactive apt, and patchlab's labels.
import { expect } from "chai";
import { importChanges, readBaseRecipe } from "./base.ts";
import { imageLabels } from "./build.ts";
import { recipeDir } from "./recipes.ts";

describe("images: base recipe", () => {
  it("debootstraps bookworm minbase from Debian's mirror with the tools every machine needs", () => {
    const r = readBaseRecipe(recipeDir("base"));
    expect(r.suite).to.equal("bookworm");
    expect(r.variant).to.equal("minbase");
    expect(r.mirror).to.equal("http://deb.debian.org/debian");
    expect(r.include).to.include.members(["tini", "ca-certificates", "procps", "iproute2", "curl", "openssl"]);
  });

  it("imports with tini -> patchlab-init as entrypoint, DEBIAN_FRONTEND and the labels", () => {
    const changes = importChanges(readBaseRecipe(recipeDir("base")), imageLabels("base", "ab".repeat(32)));
    expect(changes).to.include('ENTRYPOINT ["/usr/bin/tini","--","/usr/local/sbin/patchlab-init"]');
    expect(changes).to.include('ENV DEBIAN_FRONTEND="noninteractive"');
    expect(changes).to.include('LABEL patchlab.managed="true"');
    expect(changes).to.include('LABEL patchlab.kind="image"');
    expect(changes).to.include(`LABEL patchlab.recipe-hash="${"ab".repeat(32)}"`);
  });
});
