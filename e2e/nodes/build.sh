#!/usr/bin/env bash
# Builds what a real node of the test bed needs, into a cache outside the
# repository keyed by its inputs (as e2e/testbed/go/build.sh does), and prints
# that directory: the kubelet and kube-proxy (the test bed's Kubernetes release,
# from the Go module proxy), kube-router (its NetworkPolicy firewall only), and the two
# images no registry can give us here, as `docker save` archives: the pod
# sandbox (a static Go pause) and a workload image of Debian's static busybox.
# Installs the Debian packages it needs. Needs root, Go and Docker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
kube_router=v2.1.0
packages=(containerd runc containernetworking-plugins iptables ipset busybox-static socat iproute2)

missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

cache=${DSC_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dsc-testbed}
key=$( (go version; echo "$kube_router"; cat "$here/build.sh" "$here"/go/node/go.* "$here"/go/node/*.go "$here"/images/pause/*; sha256sum /bin/busybox) | sha256sum | cut -c1-16)
out="$cache/nodes-$key"
if [ -f "$out/busybox.tar" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/nodes-build.lock"
flock 9
if [ -f "$out/busybox.tar" ]; then echo "$out"; exit 0; fi
tmp=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
start=$SECONDS

kube_version=$(cd "$here/go/node" && go list -m -f "{{.Version}}" k8s.io/kubernetes); kube_version=${kube_version#v}
major=${kube_version%%.*}; minor=${kube_version#*.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
echo "building the kubelet and kube-proxy v$kube_version (a few minutes on a cold Go cache)..." >&2
(cd "$here/go/node" && go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$tmp/node" .)
ln -s node "$tmp/kubelet"
ln -s node "$tmp/kube-proxy"
echo "building kube-router $kube_router..." >&2
GOBIN="$tmp" go install -trimpath -ldflags "-s -w" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$kube_router"

echo "building the pause and busybox images..." >&2
bash "$repo/e2e/image/dockerd.sh"
ctx="$tmp/images"
mkdir -p "$ctx/pause" "$ctx/busybox"
(cd "$here/images/pause" && go build -trimpath -ldflags "-s -w" -o "$ctx/pause/pause" .)
printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$ctx/pause/Dockerfile"
cp /bin/busybox "$ctx/busybox/busybox"
# The applets as links, as Debian's busybox package lays them out.
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/sh"]\n' >"$ctx/busybox/Dockerfile"
for image in pause busybox; do
  DOCKER_BUILDKIT=0 docker build -q -t "dsc-nodes.local/$image:1" "$ctx/$image" >/dev/null
  docker save -o "$tmp/$image.tar" "dsc-nodes.local/$image:1"
done
rm -rf "$ctx"
echo "built in $((SECONDS - start)) s" >&2
rm -rf "$out"; mv "$tmp" "$out"; trap - EXIT
echo "$out"
