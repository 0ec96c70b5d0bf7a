#!/usr/bin/env bash
# The DaemonSet on a real (kind) cluster: build the image, load it onto the
# nodes, `kubectl apply -f deploy/`, run nginx on worker 1 and a curl client
# on worker 2, and check that `sdtrace --cluster` reports nginx's opens from
# worker 1 and curl's connects from worker 2, each under its own node, and
# that `sdtrace follow --cluster` follows curl's request on worker 2.
#
# Skips (exit 0, one line saying so) when kind is not installed; any other
# failure exits non-zero with the reason and the agents' state.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

if ! command -v kind >/dev/null 2>&1; then
    echo "tests/kind: SKIPPED — kind is not installed (https://kind.sigs.k8s.io/docs/user/quick-start/#installation; it also needs docker and kubectl)"
    exit 0
fi

fail() {
    echo "tests/kind: FAILED — $*" >&2
    exit 1
}

for tool in docker kubectl; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done

# Unique per run, so parallel runs and a leftover cluster do not collide.
cluster="sdtrace-test-$(date +%s)-$$"
work=$(mktemp -d)
export KUBECONFIG="$work/kubeconfig"
client_pids=()

cleanup() {
    local status=$?
    for pid in "${client_pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ] && [ -s "$KUBECONFIG" ]; then
        echo "tests/kind: the agents at failure:" >&2
        kubectl -n sdtrace get pods -o wide >&2 || true
        kubectl -n sdtrace logs -l app.kubernetes.io/name=sdtrace-agent --tail=30 --prefix >&2 || true
    fi
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
# A command that fails under `set -e` says which one it was.
trap 'rc=$?; echo "tests/kind: FAILED — \`$BASH_COMMAND\` exited $rc (line $LINENO)" >&2' ERR

echo "tests/kind: creating cluster $cluster"
kind create cluster --name "$cluster" --config "$here/cluster.yaml" --kubeconfig "$KUBECONFIG" --wait 180s

(cd "$repo" && cargo xtask image)
version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$repo/tracer/Cargo.toml")
[ -n "$version" ] || fail "no [package] version in tracer/Cargo.toml"
kind load docker-image "sdtrace:$version" --name "$cluster"

kubectl apply -f "$repo/deploy/"
kubectl -n sdtrace rollout status daemonset/sdtrace-agent --timeout=300s \
    || fail "the sdtrace-agent DaemonSet did not become ready"

# kind names workers <cluster>-worker, <cluster>-worker2; sorted, that is their order.
mapfile -t workers < <(kubectl get nodes -l '!node-role.kubernetes.io/control-plane' \
    -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | sort)
[ "${#workers[@]}" -eq 2 ] || fail "expected 2 workers, found: ${workers[*]}"
worker1=${workers[0]}
worker2=${workers[1]}

kubectl apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  nodeName: $worker1
  containers:
    - name: nginx
      image: nginx:1.27-alpine
      ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Pod
metadata:
  name: curl
spec:
  nodeName: $worker2
  containers:
    - name: curl
      image: curlimages/curl:8.11.1
      command: ["sleep", "3600"]
YAML
kubectl wait --for=condition=Ready pod/nginx pod/curl --timeout=180s \
    || fail "the nginx and curl pods did not become ready"
nginx_ip=$(kubectl get pod nginx -o jsonpath='{.status.podIP}')

bin=${SDTRACE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/sdtrace}
[ -x "$bin" ] || fail "no sdtrace client at $bin"
format='*%evt.type %proc.name %k8s.pod.name %k8s.node.name %fd.name'
"$bin" --cluster -j -p "$format" -c "k8s.pod.name=nginx and evt.type=openat" -M 30 \
    >"$work/nginx.json" 2>"$work/nginx.err" &
client_pids+=($!)
"$bin" --cluster -j -p "$format" -c "k8s.pod.name=curl and evt.type=connect" -M 30 \
    >"$work/curl.json" 2>"$work/curl.err" &
client_pids+=($!)

# Events of `pod` attributed to `node` (field order and spacing vary).
events_on() {
    local file=$1 pod=$2 node=$3
    grep -E "\"k8s\.pod\.name\": ?\"$pod\"" "$file" | grep -E "\"k8s\.node\.name\": ?\"$node\"" || true
}
seen() {
    [ -n "$(events_on "$work/nginx.json" nginx "$worker1" | grep -E '"proc\.name": ?"nginx"')" ] &&
        [ -n "$(events_on "$work/curl.json" curl "$worker2")" ]
}

# The clients connect to every agent in their own time: fetch until both
# expected events arrived, or until the clients' 30 s are over (with a
# margin, should a client outlive its -M).
deadline=$((SECONDS + 60))
while ! seen && [ "$SECONDS" -lt "$deadline" ]; do
    alive=0
    for pid in "${client_pids[@]}"; do
        kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ "$alive" -eq 1 ] || break
    for _ in 1 2 3; do
        kubectl exec curl -- curl -s -o /dev/null "http://$nginx_ip/" || true
    done
done

if ! seen; then
    for f in nginx curl; do
        echo "--- sdtrace --cluster ($f) stderr:" >&2
        tail -n 20 "$work/$f.err" >&2 || true
        echo "--- its first events:" >&2
        head -n 5 "$work/$f.json" >&2 || true
    done
    fail "no openat of nginx on $worker1 and connect of curl on $worker2 within 30 s"
fi

# A pod runs on one node: no agent may claim nginx's or curl's events for another.
misattributed=$(grep -hE '"k8s\.pod\.name": ?"(nginx|curl)"' "$work/nginx.json" "$work/curl.json" |
    grep -vE "\"k8s\.node\.name\": ?\"($worker1|$worker2)\"" || true)
misattributed+=$(events_on "$work/nginx.json" nginx "$worker2")
misattributed+=$(events_on "$work/curl.json" curl "$worker1")
[ -z "$misattributed" ] || fail "events attributed to the wrong node: $(head -n 3 <<<"$misattributed")"

# follow through the agents: curl's request on its own node. (kind's nodes
# share one kernel, so every agent sees every node's processes; on a real
# cluster only worker 2's agent does. The server on another node is not
# stitched to the trace: see the README.)
"$bin" follow --cluster -j --comm curl -M 20 >"$work/follow.json" 2>"$work/follow.err" &
client_pids+=($!)
followed() {
    grep -E '"kind": ?"client"' "$work/follow.json" | grep -E '"proc\.name": ?"curl"' |
        grep -E "\"k8s\.node\.name\": ?\"$worker2\"" | grep -qF "$nginx_ip:80"
}
deadline=$((SECONDS + 40))
while ! followed && [ "$SECONDS" -lt "$deadline" ]; do
    kubectl exec curl -- curl -s -o /dev/null "http://$nginx_ip/" || true
    sleep 1
done
if ! followed; then
    tail -n 20 "$work/follow.err" >&2 || true
    fail "sdtrace follow --cluster showed no client span of curl to $nginx_ip:80 on $worker2"
fi

echo "tests/kind: PASSED — nginx's openat seen on $worker1, curl's connect on $worker2, curl's request followed on $worker2"
