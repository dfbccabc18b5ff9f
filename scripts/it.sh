#!/usr/bin/env bash
# Run some integration test files (only those: mocha's --config would add every spec of the
# config to the files given). Usage: scripts/it.sh test/integration/gate.test.ts [...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx mocha --node-option import=tsx --require test/integration/hooks.ts --timeout 600000 --slow 20000 "$@"
