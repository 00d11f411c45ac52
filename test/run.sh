#!/usr/bin/env bash
# The test command: make this host ready (engine, Compose, images), then run every test, unit and Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/berth.mjs ] || npm run build
node dist/berth.mjs host init --install
# The browser tests drive Debian's Chromium and Firefox (no test tool may download a browser of its own);
# the Claude Code test drives an interactive session in tmux.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/firefox-esr ] || ! command -v tmux >/dev/null; then
  echo "test: installing chromium, firefox-esr and tmux with apt-get (for the browser and Claude Code tests)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium firefox-esr fonts-dejavu-core tmux >/dev/null
fi
report="$(mktemp)"
status=0
npx vitest run --project unit --project docker --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$report" || true
rm -f "$report"
exit "$status"
