#!/usr/bin/env bash
# Build a local base image from this machine's own binaries, for `npm run test:compose`.
#
# No registry is reachable here, so the official node, nats and redis images cannot be pulled.
# This image stands in for all three: the host's node and npm, nats-server, redis-server and
# redis-cli with the libraries ldd names, busybox (sh, wget, printf) for the commands and health
# checks the emitted compose file runs, and the users those images have (node, redis).
# Usage: base-image.sh [IMAGE]   (default localhost/catga-base:local). Idempotent: rebuilds only
# when a binary changed (the image is labelled with a hash of them).
set -euo pipefail

image="${1:-localhost/catga-base:local}"
fail() { printf 'base-image: %s\n' "$*" >&2; exit 1; }
# podman runs rootful here (scripts/containers/setup-machine.sh), and the image's files need owners.
[ "$(id -u)" -eq 0 ] || fail "run as root (podman is rootful here)"

if ! command -v busybox >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || fail "busybox missing and no apt-get to install it"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi

bins=()
for b in node nats-server redis-server redis-cli busybox; do
  p=$(command -v "$b") || fail "$b not found on PATH"
  bins+=("$(readlink -f "$p")")
done
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[ -f "$npm_dir/package.json" ] || fail "cannot find npm's folder (from $(command -v npm))"

stamp=$( (sha256sum "${bins[@]}"; cat "$npm_dir/package.json"; sha256sum "$0") | sha256sum | cut -c1-16)
if [ "$(podman image inspect --format '{{index .Labels "catga.base.stamp"}}' "$image" 2>/dev/null || true)" = "$stamp" ]; then
  echo "base-image: $image is up to date ($stamp)"
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/bin,usr/sbin,usr/local/bin,usr/lib,etc,tmp,data,app,home/node,root,var/tmp}
chmod 1777 "$root/tmp" "$root/var/tmp"

copy_with_libs() {
  local bin=$1 dest=$2
  cp -L "$bin" "$root$dest"
  # Dynamic libraries (and the loader) at their own paths; static binaries have none.
  { ldd "$bin" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; } | while read -r lib; do
    [ -e "$lib" ] && cp -L --parents "$lib" "$root"
  done
}
copy_with_libs "$(readlink -f "$(command -v node)")" /usr/bin/node
copy_with_libs "$(readlink -f "$(command -v nats-server)")" /usr/local/bin/nats-server
copy_with_libs "$(readlink -f "$(command -v redis-server)")" /usr/local/bin/redis-server
copy_with_libs "$(readlink -f "$(command -v redis-cli)")" /usr/local/bin/redis-cli
# redis-server picks sentinel mode from its name, as in the official image.
ln -s redis-server "$root/usr/local/bin/redis-sentinel"
copy_with_libs "$(readlink -f "$(command -v busybox)")" /bin/busybox
"$root/bin/busybox" --list | while read -r applet; do
  [ -e "$root/bin/$applet" ] || [ -e "$root/usr/bin/$applet" ] || ln -s /bin/busybox "$root/bin/$applet"
done
mkdir -p "$root/usr/lib/node_modules"
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
ln -s /bin/busybox "$root/usr/bin/env"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/bin/npx"
# The host's trust and npm settings, so `npm ci` in an image build reaches the registry the way the
# host does (on machines behind a TLS-inspecting proxy the host's CA bundle holds the proxy's CA).
ca_env=()
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  cp -L --parents /etc/ssl/certs/ca-certificates.crt "$root"
  ca_env=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
fi
globalrc=$(npm config get globalconfig 2>/dev/null || true)
if [ -n "$globalrc" ] && [ -f "$globalrc" ]; then cp -L --parents "$globalrc" "$root"; fi

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
redis:x:999:999:redis:/data:/bin/false
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
redis:x:999:
node:x:1000:
nogroup:x:65534:
GROUP
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"

chown -R 0:0 "$root"
# The folders the images' own users write to: the redis image's /data, the node image's home.
# /data is also open to all (sticky, as /tmp): a new volume mounted there takes the folder's owner
# and mode (podman copies them up), and in the Kubernetes run NATS writes its JetStream store to a
# claim on /data as uid 1000, which Kubernetes would make writable through the pod's fsGroup.
chown 999:999 "$root/data"
chmod 1777 "$root/data"
chown 1000:1000 "$root/home/node"
tar --numeric-owner -C "$root" -cf "$root.tar" .
podman import --quiet \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin' \
  --change 'WORKDIR /data' \
  --change 'CMD ["/bin/sh"]' \
  "${ca_env[@]}" \
  --change "LABEL catga.base.stamp=$stamp" \
  "$root.tar" "$image" >/dev/null
rm -f "$root.tar"
echo "base-image: built $image ($stamp): $(podman image inspect --format '{{.Size}}' "$image") bytes"
