#!/usr/bin/env bash
# The main job on the bundled example: ready this host.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/cli/bin.js ] || npm run build
berth() { node dist/cli/bin.js "$@"; }

berth host init --install
