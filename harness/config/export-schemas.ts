// `npm run schemas`: write lab-config/schemas/*.schema.json from the zod schemas.
// A unit test fails when the committed files are stale.
import fs from "node:fs";
import path from "node:path";
import { displayPath } from "./yaml-source.ts";
import { renderSchemas, schemasDir } from "./json-schemas.ts";

fs.mkdirSync(schemasDir, { recursive: true });
for (const [name, text] of Object.entries(renderSchemas())) {
  const file = path.join(schemasDir, name);
  fs.writeFileSync(file, text);
  console.log(`wrote ${displayPath(file)}`);
}
