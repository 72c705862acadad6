#!/usr/bin/env bash
# Builds the test bed's Go binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok) from the Go module proxy into a cache
# outside the repository, keyed by a hash of the wrapper modules and the Go
# version. Prints the binary directory on stdout. Safe to run concurrently:
# the result is moved into place atomically and a lock serialises builders.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${DSC_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsc-testbed}
key=$( (go version; cat "$here"/build.sh "$here"/*/go.mod "$here"/*/go.sum "$here"/*/*.go) | sha256sum | cut -c1-16)
out="$cache/bin-$key"
if [ -x "$out/kwok" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/build.lock"
flock 9
if [ -x "$out/kwok" ]; then echo "$out"; exit 0; fi
tmp=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
kube_version=$(cd "$here/kube" && go list -m -f "{{.Version}}" k8s.io/kubernetes); kube_version=${kube_version#v}
major=${kube_version%%.*}; minor=${kube_version#*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
start=$SECONDS
echo "building Kubernetes v$kube_version control plane (cold, with empty Go caches: about 16 min on 2 cores; a relink on a warm Go cache: about 1 min)..." >&2
(cd "$here/kube" && go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$tmp/kube" .)
for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do ln -s kube "$tmp/$name"; done
echo "building etcd..." >&2
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
echo "building kwok..." >&2
(cd "$here/kwok" && go build -trimpath -ldflags "-s -w" -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok)
echo "built in $((SECONDS - start)) s" >&2
rm -rf "$out"; mv "$tmp" "$out"; trap - EXIT
echo "$out"
