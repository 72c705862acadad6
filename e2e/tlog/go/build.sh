#!/usr/bin/env bash
# Builds tlogcheck (Go's own tlog, note and checkpoint code, used to verify the
# operator's log output) into a cache outside the repository, keyed by a hash
# of its sources and the Go version. Prints the binary's path on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${DSC_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsc-testbed}
key=$( (go version; cat "$here"/build.sh "$here"/go.mod "$here"/go.sum "$here"/*.go) | sha256sum | cut -c1-16)
out="$cache/tlogcheck-$key"
if [ -x "$out" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"
tmp=$(mktemp "$cache/tlogcheck.XXXXXX")
trap 'rm -f "$tmp"' EXIT
(cd "$here" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o "$tmp" .)
chmod +x "$tmp"
mv "$tmp" "$out"; trap - EXIT
echo "$out"
