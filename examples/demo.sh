#!/usr/bin/env bash
# The main job on the bundled example: ready this host, then give three agents their own worktree,
# container, Postgres and Redis on the notes app, and list them.
# BERTH_DEMO_DIR (default /tmp/berth-demo) holds the demo repository; a second run starts it afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/berth.mjs ] || npm run build
berth() { node "$PWD/dist/berth.mjs" "$@"; }

berth host init --install

demo="${BERTH_DEMO_DIR:-/tmp/berth-demo}"
repo="$demo/notes-app"
if [ -d "$repo/.git" ]; then
  for name in $(berth ls --repo "$repo" --json | node -e 'JSON.parse(require("fs").readFileSync(0,"utf8")).result.agents.forEach(a => console.log(a.name))'); do
    berth teardown "$name" --repo "$repo" --force
  done
fi
rm -rf "$demo"
mkdir -p "$demo"
cp -r examples/notes-app "$repo"
rm -rf "$repo/node_modules"
git -C "$repo" init -q -b main
git -C "$repo" add -A
git -C "$repo" -c user.name=berth-demo -c user.email=demo@berth.invalid commit -qm "notes app"

for name in agent-1 agent-2 agent-3; do
  berth provision "$name" --repo "$repo"
done
berth ls --repo "$repo"
echo
echo "Try, with berth on your PATH (npm link in $PWD, or install it as the README says):"
echo "  berth exec agent-2 --repo $repo -- npm test"
echo "  berth teardown agent-3 --repo $repo"
