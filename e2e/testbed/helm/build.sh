#!/usr/bin/env bash
# Builds helm (v3, the version go.mod pins) from the Go module proxy into a
# cache outside the repository, keyed by a hash of this wrapper module and the
# Go version, and prints the binary's path on stdout. Kept apart from
# ../go/build.sh so that changing helm never changes the Kubernetes binaries'
# cache key. Safe to run concurrently: a lock serialises builders and the
# result is moved into place atomically.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${DSC_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsc-testbed}
key=$( (go version; cat "$here"/build.sh "$here"/go.mod "$here"/go.sum "$here"/*.go) | sha256sum | cut -c1-16)
out="$cache/helm-$key"
if [ -x "$out/helm" ]; then echo "$out/helm"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/helm-build.lock"
flock 9
if [ -x "$out/helm" ]; then echo "$out/helm"; exit 0; fi
tmp=$(mktemp -d "$cache/tmp-helm.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
version=$(cd "$here" && go list -m -f "{{.Version}}" helm.sh/helm/v3)
# As upstream's Makefile: the default Kubernetes version (helm template, lint) follows client-go's.
client_go=$(cd "$here" && go list -m -f "{{.Version}}" k8s.io/client-go); client_go=${client_go#v0.}
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=${client_go%%.*}"
done
start=$SECONDS
echo "building helm $version (cold, with empty Go caches: about 3.5 min on 2 cores, most of it fetching modules)..." >&2
(cd "$here" && go build -trimpath -ldflags "$ldflags" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm)
echo "built helm in $((SECONDS - start)) s" >&2
rm -rf "$out"; mv "$tmp" "$out"; trap - EXIT
echo "$out/helm"
