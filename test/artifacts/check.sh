#!/usr/bin/env bash
# Checks an artifacts directory with the containerd built into it: starts that containerd as a process of
# our own (its own root, state and socket under a temporary directory), imports every image archive into
# the k8s.io namespace, checks the image list is exactly build-info.json's, that file capabilities
# survived the import, and runs a command in each image through the built shim and runc.
#
# Usage: check.sh ROOT   (ROOT as build.sh prints it; run as root). build.sh runs it before it marks
# a directory complete.
set -euo pipefail

root=${1:?usage: check.sh ROOT}
[[ $(id -u) == 0 ]] || { echo "check.sh: run as root" >&2; exit 1; }
shopt -s nullglob
arch_dirs=("$root"/v*/amd64)
[[ ${#arch_dirs[@]} == 1 ]] || { echo "check.sh: expected one v*/amd64 directory in $root" >&2; exit 1; }
adir=${arch_dirs[0]}

log() { printf '[check] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

tmp=$(mktemp -d /tmp/kubeadm-vagrant-check.XXXXXX)
sock=$tmp/containerd.sock
containerd_pid=
cleanup() {
  if [[ -n $containerd_pid ]]; then
    kill "$containerd_pid" 2>/dev/null || true
    wait "$containerd_pid" 2>/dev/null || true
  fi
  # containerd's snapshots may still be mounted if it died mid-way: unmount before removing.
  local mounted
  mounted=$(awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r)
  [[ -z $mounted ]] || xargs -n1 umount -l <<<"$mounted" || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Only what an import and a test run need: the CRI plugins (CNI, sandboxes) and NRI stay off.
cat >"$tmp/config.toml" <<EOF
version = 3
root = "$tmp/root"
state = "$tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  address = "$tmp/debug.sock"
EOF

# The shim and runc are found on PATH, as in a guest where they are installed side by side.
PATH=$adir/containerd:$PATH "$adir/containerd/containerd" --config "$tmp/config.toml" >"$tmp/containerd.log" 2>&1 &
containerd_pid=$!
# ctr through our socket; its client-side notice that cgroup v1 is deprecated (on this host) is dropped.
ctr() {
  local rc=0
  PATH=$adir/containerd:$PATH "$adir/containerd/ctr" --address "$sock" --namespace k8s.io "$@" 2>"$tmp/ctr.err" || rc=$?
  grep -v 'DEPRECATION: The support for cgroup v1' "$tmp/ctr.err" >&2 || true
  return "$rc"
}
for _ in $(seq 100); do
  ctr version >/dev/null 2>&1 && break
  kill -0 "$containerd_pid" 2>/dev/null || { cat "$tmp/containerd.log" >&2; die "containerd exited"; }
  sleep 0.2
done
ctr version >/dev/null || { tail -n 30 "$tmp/containerd.log" >&2; die "containerd did not answer"; }
log "containerd $(ctr version | awk '/Version:/{print $2; exit}') running as pid $containerd_pid"

started=$SECONDS
archives=("$adir"/images/*.tar)
for archive in "${archives[@]}"; do
  ctr images import "$archive" >/dev/null || die "ctr images import $archive"
done
log "imported ${#archives[@]} archives in $((SECONDS - started))s"
expected=$(jq -r '.images[].ref' "$adir/build-info.json" | LC_ALL=C sort)
listed=$(ctr images ls -q | LC_ALL=C sort)
[[ $listed == "$expected" ]] || die "ctr images ls lists"$'\n'"$listed"$'\n'"expected"$'\n'"$expected"
log "ctr -n k8s.io images ls: exactly the $(wc -l <<<"$listed") expected references"

ref() { jq -r --arg f "$1" '.images[] | select(.file == $f) | .ref' "$adir/build-info.json"; }

# File capabilities (setcap in the upstream Dockerfiles) must survive packing and import.
for file_and_path in coredns.tar:/coredns kube-apiserver.tar:/usr/local/bin/kube-apiserver; do
  image=$(ref "${file_and_path%%:*}")
  mnt=$tmp/mnt-${file_and_path%%.*} # one mount point each: containerd remembers a mount point it used
  mkdir -p "$mnt"
  ctr images mount "$image" "$mnt" >/dev/null
  caps=$(getcap "$mnt${file_and_path#*:}")
  ctr images unmount "$mnt" >/dev/null
  [[ $caps == *cap_net_bind_service=ep* ]] || die "$image: ${file_and_path#*:} lacks cap_net_bind_service=ep ($caps)"
done
log "file capabilities: cap_net_bind_service=ep on /coredns and kube-apiserver"

# run_in FILE EXPECTED COMMAND...: run COMMAND in the image of FILE; its output must contain EXPECTED.
run_in() {
  local file=$1 expected=$2 image output
  shift 2
  image=$(ref "$file")
  output=$(ctr run --rm --net-host "$image" "check-${file%.tar}-$RANDOM" "$@" 2>&1) ||
    die "$image: $* failed: $output"
  grep -qF -- "$expected" <<<"$output" || die "$image: expected \"$expected\" from $*, got: $output"
}
kv=$(jq -r .kubernetesVersion "$adir/build-info.json")
version_of() { jq -r --arg n "$1" '.components[] | select(.name == $n) | .version' "$adir/build-info.json"; }
started=$SECONDS
# By bare name, as kubeadm's static pods and kube-proxy's DaemonSet call them: PATH must find them.
for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
  run_in "$b.tar" "Kubernetes $kv" "$b" --version
done
run_in kube-proxy.tar "nf_tables" iptables --version
run_in kube-proxy.tar "nf_tables" ip6tables-restore --version
run_in kube-proxy.tar "nftables v" nft --version
run_in kube-proxy.tar "conntrack v" conntrack --version
etcd_version=$(version_of etcd)
run_in etcd.tar "etcd Version: ${etcd_version#v}" etcd --version
run_in etcd.tar "etcdctl version: ${etcd_version#v}" etcdctl version
coredns_version=$(version_of coredns)
run_in coredns.tar "CoreDNS-${coredns_version#v}" /coredns -version
run_in pause.tar "pause.c v" /pause -v
run_in flannel.tar "$(version_of flannel)" /opt/bin/flanneld --version
run_in flannel.tar "nf_tables" iptables-save --version
run_in agnhost.tar "Usage:" /agnhost --help
run_in agnhost.tar "check-ok" sh -c 'cp /etc/passwd /tmp/p && echo check-ok'
log "ran a command in every image through containerd-shim-runc-v2 and runc in $((SECONDS - started))s"
