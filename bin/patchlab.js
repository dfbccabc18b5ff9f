#!/usr/bin/env node
// Thin shim: the harness is TypeScript run through tsx, so no build step can go stale.
import { register } from "tsx/esm/api";
register();
await import("../harness/cli.ts");
