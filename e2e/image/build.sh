#!/usr/bin/env bash
# Builds the operator image from the project's Dockerfile on this machine:
# first the local stand-ins for its bases (base.sh), then the Dockerfile with
# them as build arguments, with the host's network (the only way a container
# here reaches the package registries). Docker's layer cache makes a rebuild
# with unchanged sources take seconds.
#
#   e2e/image/build.sh [TAG]      default dsc-operator:dev; prints the tag
#
# Environment: DOCKER (docker).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
docker=${DOCKER:-docker}
tag=${1:-dsc-operator:dev}
command -v "$docker" >/dev/null 2>&1 || { echo "docker is required (apt-get install docker.io; then start dockerd)" >&2; exit 1; }
"$docker" info >/dev/null 2>&1 || { echo "no Docker daemon answers: start it (dockerd &, or e2e/image/dockerd.sh)" >&2; exit 1; }

mapfile -t bases < <(bash "$here/base.sh")
start=$SECONDS
echo "building $tag from the Dockerfile (bases ${bases[1]}, ${bases[0]})..." >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The classic builder: BuildKit's frontend image cannot be pulled here, and it ignores `# syntax=`.
if ! DOCKER_BUILDKIT=0 "$docker" build --network host \
  --build-arg "NODE_IMAGE=${bases[1]}" --build-arg "RUNTIME_IMAGE=${bases[0]}" \
  -t "$tag" "$repo" >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
grep -E '^dist/main.js imports' "$log" >&2 || true
size=$("$docker" image inspect -f '{{.Size}}' "$tag")
echo "built $tag in $((SECONDS - start)) s: $((size / 1000000)) MB" >&2
echo "$tag"
