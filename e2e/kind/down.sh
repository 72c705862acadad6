#!/usr/bin/env bash
# Deletes the three kind clusters up.sh made and stops its chain. Work files
# (peer certificates, values, chain.json) stay in DSC_KIND_DIR unless --purge.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${DSC_KIND_DIR:-$here/.scratch}
kind=${KIND:-kind}
for region in alpha beta gamma; do
  if "$kind" get clusters 2>/dev/null | grep -qx "dsc-$region"; then
    "$kind" delete cluster --name "dsc-$region"
  fi
done
if [ -f "$work/anvil.pid" ]; then
  pid=$(cat "$work/anvil.pid")
  # anvil runs in a process group of its own (chain.ts starts it detached).
  kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  rm -f "$work/anvil.pid"
fi
if [ "${1:-}" = --purge ]; then rm -rf "$work"; fi
