#!/usr/bin/env bash
# Installs the Debian packages that building and testing the agent need.
# Idempotent: it asks apt only when something is missing.
#   .ci/deps.sh build   packages to build the agent (make build / make run)
#   .ci/deps.sh test    plus what the privileged tier and VM lane need
set -euo pipefail

build_pkgs=(gcc libc6-dev pkg-config libseccomp-dev libzmq3-dev)
test_pkgs=(qemu-system-x86 busybox-static xz-utils nftables iproute2 docker-registry debootstrap skopeo umoci runc redis-server python3-msgpack python3-zmq etcd-server)

want=("${build_pkgs[@]}")
if [ "${1:-test}" = test ]; then
  want+=("${test_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them as root: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
