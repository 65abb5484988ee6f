#!/usr/bin/env bash
# Prepare this machine to run containers with podman (rootful), for `npm run test:compose`.
# Idempotent: every step checks before it changes anything. Needs root (or sudo).
#
# Why each step (see docs/build.md "Run for real"):
# - podman and podman-compose come from Debian's packages.
# - crun refuses a hybrid cgroup v1 layout without the hugetlb controller mounted; machines that
#   mount cgroup v1 controllers one by one may lack it, so it is mounted as its own v1 hierarchy.
# - podman asks the kernel for its default ulimits (nofile 1048576); without CAP_SYS_RESOURCE the
#   container fails to start, so containers.conf lowers them to what an unprivileged root may set.
set -euo pipefail

say() { printf 'setup-machine: %s\n' "$*"; }
fail() { printf 'setup-machine: cannot prepare this machine: %s\n' "$*" >&2; exit 1; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "run as root (or install sudo): podman is run rootful here"
  sudo="sudo"
fi

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v podman-compose >/dev/null 2>&1 || missing+=(podman-compose)
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || fail "${missing[*]} missing and no apt-get to install them"
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# cgroup v1 with separately mounted controllers but no hugetlb: mount it.
if [ -d /sys/fs/cgroup/memory ] && ! grep -qE '^[^ ]+ /sys/fs/cgroup/hugetlb ' /proc/mounts; then
  if grep -qw hugetlb /proc/cgroups; then
    say "mounting the hugetlb cgroup controller at /sys/fs/cgroup/hugetlb"
    $sudo mkdir -p /sys/fs/cgroup/hugetlb
    $sudo mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb \
      || fail "mount -t cgroup -o hugetlb failed (is /sys/fs/cgroup writable?)"
  fi
fi

conf=/etc/containers/containers.conf
if ! grep -qs '^default_ulimits *= *\["nofile=20000:20000"' "$conf"; then
  say "lowering podman's default ulimits in $conf"
  $sudo mkdir -p /etc/containers
  if grep -qs '^\[containers\]' "$conf"; then
    tmp=$(mktemp)
    # Drop an earlier default_ulimits line, then add ours under [containers].
    grep -v '^default_ulimits' "$conf" | sed '/^\[containers\]/a default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' >"$tmp"
    $sudo cp "$tmp" "$conf"
    rm -f "$tmp"
  else
    printf '%s\n' '[containers]' 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]' | $sudo tee -a "$conf" >/dev/null
  fi
fi

podman info --format '{{.Host.CgroupsVersion}} {{.Host.OCIRuntime.Name}}' >/dev/null 2>&1 \
  || fail "podman info failed: $(podman info 2>&1 | tail -1)"
compose_version=$(podman-compose version 2>/dev/null || true)
compose_version=$(printf '%s\n' "$compose_version" | sed -n 's/^podman-compose[r]* version *//p' | head -n 1)
say "ready: $(podman --version), podman-compose ${compose_version:-(version unknown)}"
