#!/usr/bin/env bash
# Checks an artifacts directory with the containerd built into it: starts that containerd as a process of
# our own (containerd.sh), imports every image archive into the k8s.io namespace, checks the image list is
# exactly build-info.json's, that file capabilities survived the import, and runs a command in each image
# through the built shim and runc.
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

LOG_NAME=check
# shellcheck source-path=SCRIPTDIR source=containerd.sh
source "$(dirname "${BASH_SOURCE[0]}")/containerd.sh"
start_containerd "$adir/containerd"
import_images "$adir/build-info.json" "$adir"/images/*.tar

# File capabilities (setcap in the upstream Dockerfiles) must survive packing and import.
for name_and_path in coredns:/coredns kube-apiserver:/usr/local/bin/kube-apiserver; do
  caps=$(on_mounted "${name_and_path%%:*}" "${name_and_path#*:}" getcap)
  [[ $caps == *cap_net_bind_service=ep* ]] || die "${name_and_path%%:*}: ${name_and_path#*:} lacks cap_net_bind_service=ep ($caps)"
done
log "file capabilities: cap_net_bind_service=ep on /coredns and kube-apiserver"

kv=$(jq -r .kubernetesVersion "$adir/build-info.json")
version_of() { jq -r --arg n "$1" '.components[] | select(.name == $n) | .version' "$adir/build-info.json"; }
started=$SECONDS
# By bare name, as kubeadm's static pods and kube-proxy's DaemonSet call them: PATH must find them.
for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
  run_in "$b" "Kubernetes $kv" "$b" --version
done
run_in kube-proxy "nf_tables" iptables --version
run_in kube-proxy "nf_tables" ip6tables-restore --version
run_in kube-proxy "nftables v" nft --version
run_in kube-proxy "conntrack v" conntrack --version
etcd_version=$(version_of etcd)
run_in etcd "etcd Version: ${etcd_version#v}" etcd --version
run_in etcd "etcdctl version: ${etcd_version#v}" etcdctl version
coredns_version=$(version_of coredns)
run_in coredns "CoreDNS-${coredns_version#v}" /coredns -version
run_in pause "pause.c v" /pause -v
run_in flannel "$(version_of flannel)" /opt/bin/flanneld --version
run_in flannel "nf_tables" iptables-save --version
run_in agnhost "Usage:" /agnhost --help
run_in agnhost "check-ok" sh -c 'cp /etc/passwd /tmp/p && echo check-ok'
log "ran a command in every image through containerd-shim-runc-v2 and runc in $((SECONDS - started))s"
