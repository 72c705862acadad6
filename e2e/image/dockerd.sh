#!/usr/bin/env bash
# Starts a Docker daemon when none answers, on machines without systemd (CI
# here): Debian's docker.io, storage and cgroup driver as it detects them.
# Its log goes to $DSC_DOCKERD_LOG (/var/log/dsc-dockerd.log). Needs root.
set -euo pipefail
docker=${DOCKER:-docker}
"$docker" info >/dev/null 2>&1 && exit 0
command -v dockerd >/dev/null 2>&1 || { echo "dockerd is not installed: apt-get install docker.io" >&2; exit 1; }
log=${DSC_DOCKERD_LOG:-/var/log/dsc-dockerd.log}
echo "starting dockerd (log: $log)" >&2
setsid nohup dockerd >"$log" 2>&1 </dev/null &
for _ in $(seq 60); do
  "$docker" info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not answer within 60 s; its log ($log) ends:" >&2
tail -20 "$log" >&2
exit 1
