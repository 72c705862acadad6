#!/usr/bin/env bash
# Three kind clusters, dsc-alpha, dsc-beta and dsc-gamma, each running the
# operator from the Helm chart, replicating with the other two over mutual
# TLS, and reading one local chain (anvil with the test bed's Safes and
# federation contracts). For machines with Docker; see README.md here.
#
#   e2e/kind/up.sh          create (or reuse) the clusters and install the chart
#   e2e/kind/smoke.sh       an approved manifest from alpha, applied in all three
#   e2e/kind/down.sh        delete the clusters and stop the chain
#
# Environment: DSC_KIND_DIR (work files; default e2e/kind/.scratch),
# DSC_IMAGE (default dsc-operator:kind; built from the Dockerfile unless
# DSC_SKIP_BUILD=1), DSC_CHAIN_PORT (8545), DSC_HOST_IP (how pods reach this
# machine; default the kind network's gateway), KIND, KUBECTL, HELM, DOCKER.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${DSC_KIND_DIR:-$here/.scratch}
image=${DSC_IMAGE:-dsc-operator:kind}
chain_port=${DSC_CHAIN_PORT:-8545}
peer_node_port=30443
regions=(alpha beta gamma)
kind=${KIND:-kind}
kubectl=${KUBECTL:-kubectl}
docker=${DOCKER:-docker}
# The project's own Node 22 (a dev dependency), as every npm script uses.
node="$repo/node_modules/.bin/node"

say() { printf '\n== %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "$1 is required ($2)" >&2; exit 1; }; }
need "$docker" "https://docs.docker.com/get-docker/"
need "$kind" "go install sigs.k8s.io/kind@v0.33.0, or https://kind.sigs.k8s.io"
need "$kubectl" "https://kubernetes.io/docs/tasks/tools/"
need openssl "apt-get install openssl"
[ -x "$node" ] || { echo "run npm ci first (the chain and the fingerprints use the project's Node)" >&2; exit 1; }
helm=${HELM:-$(bash "$repo/e2e/testbed/helm/build.sh")}
mkdir -p "$work"

if [ "${DSC_SKIP_BUILD:-0}" != 1 ]; then
  say "building the operator image $image"
  # On local stand-ins for the Dockerfile's bases, made from Debian's and npm's packages
  # (e2e/image/build.sh): the official ones need a registry this may not reach.
  DOCKER="$docker" bash "$repo/e2e/image/build.sh" "$image" >/dev/null
fi

say "creating the clusters"
for region in "${regions[@]}"; do
  if "$kind" get clusters | grep -qx "dsc-$region"; then
    echo "dsc-$region exists" >&2
  else
    "$kind" create cluster --name "dsc-$region" --wait 120s
  fi
  "$kind" load docker-image "$image" --name "dsc-$region"
done

# Pods reach this machine (the chain) through the kind network's IPv4 gateway,
# and each other's clusters through the nodes' addresses on that network.
host_ip=${DSC_HOST_IP:-$("$docker" network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 -E '^[0-9]+\.')}
declare -A node_ip
for region in "${regions[@]}"; do
  node_ip[$region]=$("$docker" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "dsc-$region-control-plane")
done

if [ -f "$work/anvil.pid" ] && kill -0 "$(cat "$work/anvil.pid")" 2>/dev/null; then
  say "the chain runs (pid $(cat "$work/anvil.pid"))"
else
  say "starting the chain on port $chain_port"
  "$node" "$repo/e2e/kind/chain.ts" "$work" "$chain_port"
fi
chain() { "$node" -p "JSON.stringify(require(process.argv[1])$1)" "$work/chain.json" | tr -d '"'; }

say "peer certificates (one per region; the others pin its SHA-256)"
declare -A fingerprint
for region in "${regions[@]}"; do
  if [ ! -f "$work/$region.crt" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout "$work/$region.key" -out "$work/$region.crt" -days 365 \
      -subj "/CN=dsc-peer-$region" -addext "subjectAltName=DNS:dsc-peer-$region" \
      -addext "keyUsage=critical,digitalSignature" -addext "extendedKeyUsage=serverAuth,clientAuth" 2>/dev/null
  fi
  fingerprint[$region]=$(openssl x509 -in "$work/$region.crt" -outform der | sha256sum | cut -d' ' -f1)
done

dsp_index() { case $1 in alpha) echo 1 ;; beta) echo 2 ;; gamma) echo 3 ;; esac; }

for region in "${regions[@]}"; do
  say "installing the chart in dsc-$region"
  values="$work/$region-values.yaml"
  {
    cat <<EOF
image:
  repository: ${image%:*}
  tag: ${image##*:}
  pullPolicy: Never
region: $region
federation:
  create: true
  name: dsc
  spec:
    region: $region
    dsp:
      name: DSP-$(dsp_index "$region")
      safe: "$(chain ".safes.dsp.$region")"
    chain:
      chainId: $(chain .chainId)
      rpcUrlSecretRef: { name: chain-rpc, key: url }
      confirmations: 0 # anvil mines a block per transaction and never reorganises
    consortiumSafe: "$(chain .safes.consortium)"
    daoBoardSafe: "$(chain .safes.daoBoard)"
    agentRegistry: "$(chain .federation.agentRegistry)"
    guardian:
      pauseContract: "$(chain .federation.guardianPause)"
    peers:
EOF
    for peer in "${regions[@]}"; do
      [ "$peer" = "$region" ] && continue
      cat <<EOF
      - region: $peer
        endpoint: ${node_ip[$peer]}:$peer_node_port
        certificateSha256: "${fingerprint[$peer]}"
EOF
    done
    cat <<EOF
operator:
  resyncSeconds: 10
peer:
  enabled: true
  advertise: ${node_ip[$region]}:$peer_node_port
  service:
    type: NodePort
    nodePort: $peer_node_port
networkPolicy:
  egress:
    peerPorts: [$peer_node_port]
    chainPorts: [$chain_port]
monitoring:
  serviceMonitor: { enabled: false }
  prometheusRule: { enabled: false }
EOF
  } >"$values"
  ctx="kind-dsc-$region"
  "$kubectl" --context "$ctx" create namespace dsc-system --dry-run=client -o yaml | "$kubectl" --context "$ctx" apply -f -
  "$kubectl" --context "$ctx" -n dsc-system create secret generic chain-rpc \
    --from-literal=url="http://$host_ip:$chain_port" --dry-run=client -o yaml | "$kubectl" --context "$ctx" apply -f -
  "$kubectl" --context "$ctx" -n dsc-system create secret tls dsc-operator-peer-tls \
    --cert="$work/$region.crt" --key="$work/$region.key" --dry-run=client -o yaml | "$kubectl" --context "$ctx" apply -f -
  "$helm" upgrade --install dsc-operator "$repo/charts/dsc-operator" --kube-context "$ctx" \
    --namespace dsc-system --values "$values" --wait --timeout 5m
  # OnDelete (see the chart's README): after an upgrade, replace the pods for the new template to take effect.
  revisions=$("$kubectl" --context "$ctx" -n dsc-system get statefulset dsc-operator \
    -o jsonpath='{.status.currentRevision} {.status.updateRevision}')
  if [ "${revisions% *}" != "${revisions#* }" ]; then
    "$kubectl" --context "$ctx" -n dsc-system delete pod -l app.kubernetes.io/instance=dsc-operator --wait=false
  fi
done

say "waiting for a leader and its peers in each region"
for region in "${regions[@]}"; do
  ctx="kind-dsc-$region"
  for _ in $(seq 120); do
    peers=$("$kubectl" --context "$ctx" get federation dsc -o jsonpath='{.status.peerSummary}' 2>/dev/null || true)
    case $peers in *✗*|"") sleep 2 ;; *) break ;; esac
  done
  leader=$("$kubectl" --context "$ctx" -n dsc-system get lease dsc-operator -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)
  echo "$region: leader ${leader:-none}, peers ${peers:-none}" >&2
done

cat >&2 <<EOF

Three regions run. Try:
  kubectl --context kind-dsc-alpha get federation
  kubectl --context kind-dsc-beta -n dsc-system get pods,lease
  e2e/kind/smoke.sh       # an approved manifest from alpha, applied everywhere
Chain: http://127.0.0.1:$chain_port (chain id $(chain .chainId)); addresses and test keys in $work/chain.json.
Stop everything: e2e/kind/down.sh
EOF
