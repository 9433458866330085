#!/usr/bin/env bash
# The GPU tier in one script (issue: NVIDIA GPUs bound by the agent).
#
#   test/gpu/check.sh build   here, with Go: build everything the tier needs
#                             into .gpu/ (ignored by git; carried to the GPU
#                             machine by the device tool)
#   test/gpu/check.sh run     there, as root, on a machine with an NVIDIA GPU
#                             and no Go: run the tier from .gpu/ and print
#                             the results
#   test/gpu/check.sh         both, on a GPU machine that has Go
#
# The binaries are linked against libc only (GLIBC_2.34 at most), not
# statically: go-nvml reaches libnvidia-ml through dlopen, which a static
# glibc does not do reliably. kernel-init is static.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT_DIR=${GPU_DIR:-.gpu}
export CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"

build() {
	rm -rf "$OUT_DIR" && mkdir -p "$OUT_DIR"
	local flags=(-tags seccomp -trimpath -ldflags '-s -w')
	# The agent's test binary is the agent too (its tests run it as
	# backendai-agent), so no separate agent binary travels.
	${CC:-cc} -O2 -static -s -Wall -o "$OUT_DIR/backendai-kernel-init" cmd/backendai-kernel-init/init.c
	go build "${flags[@]}" -o "$OUT_DIR/backendai-container-init" ./cmd/backendai-container-init
	# Every package with TestGPU* tests, as a test binary.
	for pkg in $(grep -l '^func TestGPU' -r --include='*_test.go' . | xargs -n1 dirname | sort -u); do
		name=$(echo "${pkg#./}" | tr / _)
		go test "${flags[@]}" -c -o "$OUT_DIR/$name.test" "$pkg"
	done
	# The kernels' image: busybox (static) plus the GPU host's own glibc,
	# added there at test time so that nvidia-smi runs inside.
	cp /usr/bin/busybox "$OUT_DIR/busybox"
	gzip -9 "$OUT_DIR"/*  # the device tool carries at most 64 MiB
	du -sh "$OUT_DIR"
}

run() {
	[ "$(id -u)" = 0 ] || { echo "check.sh run: needs root" >&2; exit 1; }
	if ls "$OUT_DIR"/*.gz >/dev/null 2>&1; then
		local tmp=/tmp/backendai-gpu
		rm -rf "$tmp" && mkdir -p "$tmp" && cp "$OUT_DIR"/*.gz "$tmp"/ && gunzip "$tmp"/*.gz && chmod +x "$tmp"/*
		OUT_DIR=$tmp
	fi
	command -v nvidia-smi >/dev/null || { echo "check.sh run: no nvidia-smi: not a GPU machine?" >&2; exit 1; }
	echo "== host"
	uname -r
	nvidia-smi -L
	nvidia-smi --query-gpu=driver_version,pci.bus_id,memory.total --format=csv,noheader
	ldconfig -p | grep -E 'libnvidia-ml|libcuda\.so' || true
	# The fixtures take busybox from Debian's path.
	[ -x /usr/bin/busybox ] || install -m 755 "$OUT_DIR/busybox" /usr/bin/busybox
	# The driver may live outside the ld cache (a read-only /usr/local/nvidia).
	export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export PATH=$PATH:/usr/local/nvidia/bin
	export AGENT_TEST_GPU=1 AGENT_TEST_PRIVILEGED=1
	export BACKENDAI_KERNEL_INIT=$OUT_DIR/backendai-kernel-init
	export BACKENDAI_CONTAINER_INIT=$OUT_DIR/backendai-container-init
	local rc=0
	for t in "$OUT_DIR"/*.test; do
		echo "== $(basename "$t")"
		# Each test binary runs in its package's directory, as go test does.
		pkgdir=$(basename "$t" .test | tr _ /)
		(cd "$pkgdir" && timeout 240 "$t" -test.v -test.run '^TestGPU' -test.timeout 4m 2>&1) || rc=1
	done
	echo "== GPU tier: $([ $rc = 0 ] && echo PASS || echo FAIL)"
	return $rc
}

case "${1:-all}" in
build) build ;;
run) run ;;
all) build && run ;;
*) echo "usage: $0 [build|run]" >&2; exit 2 ;;
esac
