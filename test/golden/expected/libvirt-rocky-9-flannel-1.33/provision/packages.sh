#!/usr/bin/env bash
# kubeadm-vagrant, cluster 'demo', phase packages (generated: change cluster.yaml, not this file).
# kubelet, kubeadm and kubectl 1.33.x from pkgs.k8s.io, held at that version, and the kubelet's
# node-ip set to this machine's private address. Nothing is installed when the right versions are there.
set -euo pipefail

KV_PHASE=packages
# --- shared by every kubeadm-vagrant provisioning script (Vagrant uploads each script alone) ---

log() { printf '[kubeadm-vagrant] %s: %s\n' "${KV_PHASE}" "$*"; }
die() {
  printf '[kubeadm-vagrant] %s: ERROR: %s\n' "${KV_PHASE}" "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# Set by install_file and write_file: 1 when the file changed, 0 when it already had the content.
KV_CHANGED=0
changed() { [[ ${KV_CHANGED} == 1 ]]; }

# install_file SRC DEST MODE [OWNER]: gives DEST the content of SRC, through a temporary file beside
# DEST and a rename, unless DEST already has it; then MODE and OWNER. SRC is removed.
install_file() {
  local src=$1 dest=$2 mode=$3 owner=${4:-} tmp
  KV_CHANGED=0
  if [[ -f ${dest} ]] && cmp -s "${src}" "${dest}"; then
    rm -f "${src}"
  else
    tmp=$(mktemp "${dest}.XXXXXX")
    cat "${src}" >"${tmp}"
    rm -f "${src}"
    chmod "${mode}" "${tmp}"
    if [[ -n ${owner} ]]; then chown "${owner}" "${tmp}"; fi
    mv -f "${tmp}" "${dest}"
    KV_CHANGED=1
  fi
  chmod "${mode}" "${dest}"
  if [[ -n ${owner} ]]; then chown "${owner}" "${dest}"; fi
}

# write_file DEST MODE [OWNER] < CONTENT: install_file with the content from standard input.
write_file() {
  local tmp
  tmp=$(mktemp)
  cat >"${tmp}"
  install_file "${tmp}" "$@"
}

# file_mode FILE: the permission bits of FILE in octal, to keep them when editing it.
file_mode() { stat -c '%a' "$1"; }

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every 5 s until it succeeds; fails after SECONDS.
wait_until() {
  local limit=$1 what=$2 deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@"; do
    if ((SECONDS >= deadline)); then die "gave up after ${limit} s waiting for ${what}"; fi
    sleep 5
  done
}

# packages_named ARG...: the arguments that are not options, for a log line.
packages_named() {
  local arg names=()
  for arg in "$@"; do
    if [[ ${arg} != -* ]]; then names+=("${arg}"); fi
  done
  printf '%s\n' "${names[*]}"
}

# install_packages [OPTION...] PACKAGE...: dnf install.
install_packages() {
  log "installing $(packages_named "$@")"
  dnf install -y -q "$@"
}

# ensure_commands COMMAND=PACKAGE...: installs the packages of the commands that are missing, and
# nothing (no package manager call at all) when every command is there.
ensure_commands() {
  local pair missing=()
  for pair in "$@"; do
    if ! have "${pair%%=*}" && [[ " ${missing[*]} " != *" ${pair#*=} "* ]]; then
      missing+=("${pair#*=}")
    fi
  done
  if ((${#missing[@]} > 0)); then install_packages "${missing[@]}"; fi
}

# The planned private address of each machine, by Vagrant machine name and by hostname.
kv_planned_ip() {
  case $1 in
    'master' | 'demo-master') echo '192.168.62.10' ;;
    'worker-1' | 'demo-worker-1') echo '192.168.62.11' ;;
    *) return 1 ;;
  esac
}

# kv_node_ip: this machine's planned private address (the Vagrantfile passes the machine name in
# KUBEADM_VAGRANT_NODE; the hostname serves when the script runs by hand), checked to be configured
# on an interface: the kubelet and kubeadm must never pick the NAT address every box shares.
kv_node_ip() {
  local node=${KUBEADM_VAGRANT_NODE:-} addr
  if [[ -z ${node} ]]; then node=$(hostname); fi
  addr=$(kv_planned_ip "${node}") || die "machine '${node}' is not in the cluster plan; run kubeadm-vagrant generate and provision again"
  if ! ip -4 -o addr show | awk -v a="${addr}" '{ split($4, p, "/"); if (p[1] == a) found = 1 } END { exit !found }'; then
    die "the planned private address ${addr} of '${node}' is not configured on any interface"
  fi
  printf '%s\n' "${addr}"
}

# --- end of the shared part ---

readonly K8S_MINOR='1.33'
# The pinned patch release, or empty for the newest of the minor.
readonly K8S_PATCH=''
readonly REPO_URL='https://pkgs.k8s.io/core:/stable:/v1.33/rpm/'
readonly KUBELET_DEFAULTS=/etc/sysconfig/kubelet

# version_of COMMAND...: the first vX.Y.Z the command prints, or nothing.
version_of() { { "$@" 2>/dev/null || true; } | grep -oE 'v[0-9]+[.][0-9]+[.][0-9]+' | head -n 1 || true; }

# wanted_version VERSION: true when VERSION is the planned patch, or any patch of the planned minor.
wanted_version() {
  if [[ -n ${K8S_PATCH} ]]; then [[ $1 == "v${K8S_PATCH}" ]]; else [[ $1 == "v${K8S_MINOR}."* ]]; fi
}

# installed_ok: kubeadm, kubelet and kubectl are all there at the planned version.
installed_ok() {
  wanted_version "$(version_of kubeadm version -o short)" &&
    wanted_version "$(version_of kubelet --version)" &&
    wanted_version "$(version_of kubectl version --client)"
}

# The repository excludes the packages, so a plain `dnf upgrade` leaves them alone.
kubernetes_repo() {
  write_file /etc/yum.repos.d/kubernetes.repo 0644 <<EOF
[kubernetes]
name=Kubernetes
baseurl=${REPO_URL}
enabled=1
gpgcheck=1
gpgkey=${REPO_URL}repodata/repomd.xml.key
exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni
EOF
}

install_kubernetes() {
  install_packages --disableexcludes=kubernetes kubelet kubeadm kubectl
}

main() {
  local node_ip
  log "starting"
  node_ip=$(kv_node_ip)
  kubernetes_repo
  if installed_ok; then
    log "kubelet, kubeadm and kubectl $(version_of kubeadm version -o short) are installed"
  else
    log "installing kubelet, kubeadm and kubectl ${K8S_PATCH:-${K8S_MINOR}.x} from ${REPO_URL}"
    install_kubernetes
    installed_ok || die "after installing, kubeadm is '$(version_of kubeadm version -o short)', kubelet '$(version_of kubelet --version)', kubectl '$(version_of kubectl version --client)'; wanted ${K8S_PATCH:-${K8S_MINOR}.x}"
  fi

  # Every box has the same NAT address on its first interface: the kubelet must use the private one.
  write_file "${KUBELET_DEFAULTS}" 0644 <<<"KUBELET_EXTRA_ARGS=--node-ip=${node_ip}"
  if changed; then
    log "kubelet node-ip is ${node_ip}"
    if systemctl is-active --quiet kubelet; then systemctl restart kubelet; fi
  fi
  if ! systemctl is-enabled --quiet kubelet; then
    systemctl enable kubelet >/dev/null 2>&1
    log "kubelet enabled (it restarts in a loop until kubeadm init or join configures it)"
  fi
  log "done"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
