#!/usr/bin/env bash
# Shows the podman 4.3 `kube play` behaviour that made test/compose/shop.kube.test.ts play with
# `--start=false` (docs/build.md, "Kubernetes under podman kube play"): a ConfigMap is kept in one
# named volume shared by every Pod that mounts it, and its files are rewritten (truncated, then
# written) each time such a Pod is played, while the containers of the Pods played before it may be
# reading them. Plays 12 Pods that each read a 20,000-byte ConfigMap file ten times at start, first
# started by `kube play`, then created with `--start=false` and started once all are played, and
# counts the reads that saw fewer bytes. Needs root podman (setup-machine.sh) and the base image
# (base-image.sh). Usage: bash scripts/containers/configmap-race.sh [rounds]
set -euo pipefail
rounds=${1:-3}
image=${CATGA_BASE_IMAGE:-localhost/catga-base:local}
dir=$(mktemp -d)
trap 'podman kube down "$dir/race.yaml" >/dev/null 2>&1 || true; podman volume rm -f catga-race-config >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
{
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: catga-race-config}\ndata:\n  a.conf: "%s"\n' "$(head -c 20000 /dev/zero | tr '\0' x)"
  for i in $(seq 0 11); do
    cat <<POD
---
apiVersion: v1
kind: Pod
metadata: {name: catga-race-$i}
spec:
  containers:
    - name: c
      image: $image
      command: ["sh", "-c", "for k in 1 2 3 4 5 6 7 8 9 10; do wc -c < /etc/x/a.conf; done; sleep 600"]
      volumeMounts: [{name: config, mountPath: /etc/x}]
  volumes: [{name: config, configMap: {name: catga-race-config}}]
POD
  done
} >"$dir/race.yaml"
pods=$(seq -f 'catga-race-%g' 0 11)
for mode in "started by kube play" "--start=false, then pod start"; do
  short=0
  for _ in $(seq "$rounds"); do
    if [ "$mode" = "started by kube play" ]; then
      podman kube play "$dir/race.yaml" >/dev/null
    else
      podman kube play --start=false "$dir/race.yaml" >/dev/null
      # shellcheck disable=SC2086
      podman pod start $pods >/dev/null 2>&1
    fi
    sleep 2
    for p in $pods; do
      n=$(podman logs "$p-c" 2>/dev/null | grep -cv '^20000$' || true)
      short=$((short + n))
    done
    podman kube down "$dir/race.yaml" >/dev/null 2>&1
    podman volume rm -f catga-race-config >/dev/null
  done
  echo "configmap-race: $mode: $short of $((rounds * 120)) reads saw a short file"
done
