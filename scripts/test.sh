#!/usr/bin/env bash
# The whole suite, as CI runs it: types, lint and format, then every test
# (unit, both storage backends, real servers, two real processes on Redis).
set -euo pipefail
cd "$(dirname "$0")/.."
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}

echo "== typecheck (tsc --noEmit)"
tsc --noEmit
echo "== lint and format (biome)"
biome check .
echo "== tests (vitest)"
vitest run "$@"
