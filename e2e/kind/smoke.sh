#!/usr/bin/env bash
# After up.sh: an approved manifest submitted in alpha, applied in all three
# kind clusters (e2e/kind/smoke.ts, on the project's own Node 22).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../node_modules/.bin/node" "$here/smoke.ts" "${DSC_KIND_DIR:-$here/.scratch}"
