#!/usr/bin/env bash
# A real node for a test-bed region: a kubelet with its own containerd, CNI
# bridge and NetworkPolicy firewall (kube-router), registered to the region's
# API server beside its KWOK nodes, running real containers.
#
#   e2e/nodes/node.sh up <region>     start it (or leave it running), wait for Ready
#   e2e/nodes/node.sh down <region>   stop it and remove what it made on this host
#   e2e/nodes/node.sh restart <region>  as a machine's reboot: every process and container
#                                       killed, then started again on the same disk
#   e2e/nodes/node.sh load <region> <image>   a Docker image into the node's containerd
#
# Each region's node lives in its own network namespace, dsc-<region>, joined
# to the host by a veth pair (node 10.250.N.1, host 10.250.N.254; pods in
# 10.244.N.0/24), so three nodes on one machine keep apart: their own
# iptables (kube-router's chains and the CNI plugins'), their own cgroup root
# (/dsc-<region>) and containerd (own root, state and socket). The node
# reaches its API server, which listens on 127.0.0.1 only, through a socat
# relay on the host side of the veth. The kubelet signs in with the region's
# admin certificate: the test bed's API servers authorize with RBAC alone. The
# node is tainted dsc.test/node=real:NoSchedule, so only pods that ask for it
# (a toleration and the nodeSelector dsc.test/node=real) run there.
#
# Facts about this machine the layout answers (checked by hand first): the
# kernel has no dummy links and the kubelet refuses a 127/8 node address, so
# the node needs an address of its own; CAP_SYS_RESOURCE is missing, so
# containerd must not lower OOM scores (restrict_oom_score_adj) and the
# kubelet keeps 0; Docker sets the host's FORWARD policy to DROP, so traffic
# between regions' pods does not cross the host.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
action=${1:?usage: node.sh up|down|load <region> [image]}
region=${2:?usage: node.sh up|down|load <region> [image]}
case "$region" in alpha) n=1 ;; beta) n=2 ;; gamma) n=3 ;; *) echo "unknown region $region" >&2; exit 2 ;; esac
testbed=${DSC_TESTBED_DIR:-$repo/.testbed}
base=${DSC_TESTBED_PORT:-26000}
api_port=$((base + 10 * (n - 1) + 2))
# What pods reach on the host side of the veth, relayed to the test bed's loopback ports:
# the API server (for the kubelet, and for pods through the kubernetes Service), the chain
# and the Safe Transaction Service double.
relayed=("$api_port" $((base + 40)) $((base + 41)))
dir="$testbed/$region/node"
netns=dsc-$region
node_ip=10.250.$n.1
host_ip=10.250.$n.254
pod_cidr=10.244.$n.0/24
node_name=node-$region
socket="$dir/containerd/containerd.sock"
in_ns() { nsenter --net="/run/netns/$netns" "$@"; }

launch() { # name command...: detached, its pid and log in the node's directory
  local name=$1; shift
  setsid nohup "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name.pid"
}
running() { [ -f "$dir/pids/$1.pid" ] && kill -0 "$(cat "$dir/pids/$1.pid")" 2>/dev/null; }
wait_for() { # what seconds command...
  local what=$1 seconds=$2; shift 2
  for _ in $(seq "$seconds"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  echo "$what not ready after $seconds s; see $dir/logs" >&2
  return 1
}
stop() { # name: TERM, up to 10 s, then KILL
  local file="$dir/pids/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

up() {
  [ -f "$testbed/$region/kubeconfig" ] || { echo "the test bed is not up (no $testbed/$region/kubeconfig): npm run testbed -- up" >&2; exit 1; }
  local bin
  bin=$(bash "$here/build.sh")
  mkdir -p "$dir"/{pids,logs,containerd,cni/net.d,kubelet,pod-logs}

  # /run/netns must be a shared mount before containerd pins a pod's namespace there: made
  # later (by the first `ip netns add`), it hides the earlier pins and pods cannot be removed.
  mkdir -p /run/netns
  mountpoint -q /run/netns || mount --bind /run/netns /run/netns
  mount --make-shared /run/netns
  if ! ip netns list | grep -qw "$netns"; then
    ip netns add "$netns"
    ip link add "h-$region" type veth peer name eth0 netns "$netns"
    ip addr add "$host_ip/24" dev "h-$region"
    ip link set "h-$region" up
    in_ns ip addr add "$node_ip/24" dev eth0
    in_ns ip link set eth0 up
    in_ns ip link set lo up
    in_ns ip route add default via "$host_ip"
    ip route add "$pod_cidr" via "$node_ip"
  fi
  for port in "${relayed[@]}"; do
    running "relay-$port" ||
      launch "relay-$port" socat "TCP-LISTEN:$port,bind=$host_ip,fork,reuseaddr" "TCP:127.0.0.1:$port"
  done
  # Between the regions' nodes (one region's pods to another's node ports): Docker's FORWARD
  # policy is DROP.
  iptables -C FORWARD -i 'h-+' -o 'h-+' -j ACCEPT 2>/dev/null || iptables -I FORWARD -i 'h-+' -o 'h-+' -j ACCEPT

  # The kubelet's cgroups under the region's own root, in every (v1) hierarchy.
  for h in /sys/fs/cgroup/*/; do
    mkdir -p "$h/dsc-$region"
    if [ -f "$h/cpuset.cpus" ]; then
      cat "$h/cpuset.cpus" >"$h/dsc-$region/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h/dsc-$region/cpuset.mems"
    fi
  done

  sed -e "s#server: https://127.0.0.1:$api_port#server: https://$host_ip:$api_port\n      tls-server-name: 127.0.0.1#" \
    "$testbed/$region/kubeconfig" >"$dir/kubelet.kubeconfig"

  cat >"$dir/cni/net.d/10-dsc.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "dsc-$region", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$pod_cidr"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$dir/cni/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}
]}
EOF
  cat >"$dir/containerd/config.toml" <<EOF
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "$socket"
[ttrpc]
  address = "$socket.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$dir/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "dsc-nodes.local/pause:1"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$dir/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
    max_conf_num = 1
EOF
  running containerd || launch containerd nsenter --net="/run/netns/$netns" containerd --config "$dir/containerd/config.toml"
  wait_for containerd 30 ctr --address "$socket" version
  for image in pause busybox; do
    ctr --address "$socket" -n k8s.io images import "$bin/$image.tar" >/dev/null
  done

  cat >"$dir/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $node_ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: { anonymous: { enabled: false }, webhook: { enabled: false } }
authorization: { mode: AlwaysAllow }
containerRuntimeEndpoint: unix://$socket
cgroupDriver: cgroupfs
cgroupRoot: /dsc-$region
failSwapOn: false
oomScoreAdj: 0
podLogsDir: $dir/pod-logs
podCIDR: $pod_cidr
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
maxPods: 50
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%" }
EOF
  running kubelet || launch kubelet nsenter --net="/run/netns/$netns" "$bin/kubelet" \
    --config="$dir/kubelet/config.yaml" --kubeconfig="$dir/kubelet.kubeconfig" \
    --root-dir="$dir/kubelet/root" --cert-dir="$dir/kubelet/pki" \
    --hostname-override="$node_name" --node-ip="$node_ip" \
    --node-labels="topology.kubernetes.io/region=$region,dsc.test/node=real" \
    --register-with-taints="dsc.test/node=real:NoSchedule" --v=1
  local kubectl
  kubectl="$(bash "$repo/e2e/testbed/go/build.sh")/kubectl"
  wait_for "node $node_name" 90 sh -c "'$kubectl' --kubeconfig '$testbed/$region/kubeconfig' get node $node_name \
    -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  # After the node is registered: kube-router reads its pod CIDR from it.
  running kube-router || launch kube-router nsenter --net="/run/netns/$netns" "$bin/kube-router" \
    --kubeconfig="$dir/kubelet.kubeconfig" --hostname-override="$node_name" \
    --run-firewall=true --run-router=false --run-service-proxy=false --run-loadbalancer=false \
    --enable-cni=false --enable-ibgp=false --enable-overlay=false --enable-pod-egress=false \
    --metrics-port=0 --iptables-sync-period=30s --service-cluster-ip-range=10.96.0.0/16 --v=1
  wait_for "kube-router" 30 in_ns curl -sf http://127.0.0.1:20244/healthz
  # Services: the kubernetes Service leads to the API server's advertised address, this
  # node's host side (e2e/testbed/kube.ts), relayed above.
  running kube-proxy || launch kube-proxy nsenter --net="/run/netns/$netns" "$bin/kube-proxy" \
    --kubeconfig="$dir/kubelet.kubeconfig" --hostname-override="$node_name" --proxy-mode=iptables \
    --cluster-cidr="$pod_cidr" --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 \
    --conntrack-tcp-timeout-close-wait=0 --metrics-bind-address=127.0.0.1:10249 --v=1
  wait_for "kube-proxy" 30 in_ns curl -sf http://127.0.0.1:10256/healthz
  echo "$node_name is Ready ($node_ip, pods $pod_cidr)" >&2
}

# Every process of the node, and its containers, killed; its files stay.
halt() {
  stop kube-proxy
  stop kube-router
  stop kubelet
  stop containerd
  # This containerd's shims (their -address names its socket), then any process left in its cgroups.
  pkill -9 -f "containerd-shim-runc-v2 .*-address $socket" 2>/dev/null || true
  for h in /sys/fs/cgroup/*/dsc-"$region"; do
    [ -d "$h" ] || continue
    find "$h" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done
  done
  for port in "${relayed[@]}"; do stop "relay-$port"; done
  sleep 1
  # Mounts under the node's directory (overlay root filesystems, tokens, shm), deepest first.
  grep -o " $dir/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # The pods' namespace pins containerd left: those no process uses any more (another
  # region's live pods keep theirs).
  for pin in /run/netns/cni-*; do
    [ -e "$pin" ] || continue
    [ -z "$(ip netns pids "$(basename "$pin")" 2>/dev/null)" ] || continue
    umount "$pin" 2>/dev/null || true
    rm -f "$pin"
  done
}

restart() {
  halt
  up
}

down() {
  [ -d "$dir" ] || return 0
  halt
  # The Node object too: the scheduler would go on placing the other suites' pods on it.
  "$(bash "$repo/e2e/testbed/go/build.sh")/kubectl" --kubeconfig "$testbed/$region/kubeconfig" \
    delete node "$node_name" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  for h in /sys/fs/cgroup/*/dsc-"$region"; do
    if [ -d "$h" ]; then find "$h" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
  done
  if ip netns list | grep -qw "$netns"; then
    ip netns del "$netns"
    ip link del "h-$region" 2>/dev/null || true
    ip route del "$pod_cidr" 2>/dev/null || true
  fi
  ip link show | grep -q ' h-' || iptables -D FORWARD -i 'h-+' -o 'h-+' -j ACCEPT 2>/dev/null || true
  rm -rf "$dir"
  echo "$node_name is gone" >&2
}

load() {
  local image=${3:?usage: node.sh load <region> <image>}
  docker save "$image" | ctr --address "$socket" -n k8s.io images import - >/dev/null
  echo "$image is on $node_name" >&2
}

"$action" "$@"
