#!/usr/bin/env bash
# The test command: make this host ready (engine, Compose, images), then run every test, unit and Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/berth.mjs ] || npm run build
node dist/berth.mjs host init --install
report="$(mktemp)"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || true
rm -f "$report"
exit "$status"
