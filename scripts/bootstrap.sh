#!/usr/bin/env bash
# First half of setup, before any TypeScript can run: make sure npm dependencies match the
# lockfile. Fast when they already do: the lockfile's hash is recorded after each install.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(sha256sum package-lock.json | cut -d' ' -f1)
have=$(cat node_modules/.patchlab-lock-sha256 2>/dev/null || true)
if [ "$want" != "$have" ] || [ ! -d node_modules/tsx ]; then
  echo "[bootstrap] installing npm dependencies from package-lock.json" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > node_modules/.patchlab-lock-sha256
fi
