#!/usr/bin/env bash
# Runs mediasoup's own Node test suite (the compiled jest tests the npm package
# ships in node/lib/test) against a worker binary, in a scratch directory.
#
#   bash scripts/mediasoup/upstream-tests.sh [MEDIASOUP_PACKAGE_DIR] [WORKER_BIN]
#
# Defaults: node_modules/mediasoup, and the binary build-worker.sh prints.
# Needs Node >= 22 first on PATH (npm scripts have node_modules/.bin's Node 24)
# and the npm registry: jest, pick-port and werift-sctp (mediasoup's test
# devDependencies) are installed into the scratch directory only. The package
# does not ship the tests' DTLS certificate, so a throwaway one is made.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
pkg=$(cd "${1:-$root/node_modules/mediasoup}" && pwd)
bin=${2:-$(bash "$here/build-worker.sh" "$pkg" | tail -n1)}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/mediasoup-upstream-tests.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

mkdir -p "$scratch/ms"
tar -C "$pkg" --exclude=./worker -cf - . | tar -C "$scratch/ms" -xf -
# Where mediasoup looks by default: one test checks mediasoup.workerBin.
install -D -m 0755 "$bin" "$scratch/ms/worker/out/Release/mediasoup-worker"
mkdir -p "$scratch/ms/node/lib/test/data"
openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj /CN=mediasoup-test \
  -keyout "$scratch/ms/node/lib/test/data/dtls-key.pem" \
  -out "$scratch/ms/node/lib/test/data/dtls-cert.pem" 2>/dev/null

cd "$scratch"
node -e '
const p = require("./ms/package.json");
const pick = (n) => [n, p.devDependencies[n]];
const deps = { ...p.dependencies, ...Object.fromEntries(["jest", "pick-port", "werift-sctp"].map(pick)) };
require("fs").writeFileSync("package.json", JSON.stringify({ name: "ms-upstream-tests", private: true, dependencies: deps }));
'
npm install --no-audit --no-fund --ignore-scripts --loglevel=error >&2
unset MEDIASOUP_WORKER_BIN
node node_modules/jest/bin/jest.js --ci --rootDir ms/node/lib/test --testRegex 'test-.*\.js$' --detectOpenHandles
