#!/usr/bin/env bash
# kubeadm-vagrant, cluster 'demo', phase worker (generated: change cluster.yaml, not this file).
# kubeadm join, once the control plane answers, pinning the cluster CA's hash (skipped when this node
# has joined already: a node is never reset).
set -euo pipefail

KV_PHASE=worker
# --- shared by every kubeadm-vagrant provisioning script (Vagrant uploads each script alone) ---

log() { printf '[kubeadm-vagrant] %s: %s\n' "${KV_PHASE}" "$*"; }
die() {
  printf '[kubeadm-vagrant] %s: ERROR: %s\n' "${KV_PHASE}" "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
# kubelet_journal: the kubelet's last messages, after kubeadm init or join failed: the reason
# (a refused certificate request, an unreachable API server, a runtime error) is usually there.
kubelet_journal() {
  log "the kubelet's last messages (journalctl -u kubelet):"
  journalctl -u kubelet --no-pager -n 40 -o cat 2>&1 | sed 's/^/    /' || true
}

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

# copy_file SRC DEST MODE: install_file with a copy of SRC, which stays.
copy_file() {
  local tmp
  tmp=$(mktemp)
  cat "$1" >"${tmp}"
  install_file "${tmp}" "$2" "$3"
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

# ensure_commands COMMAND=PACKAGE...: installs the distro's packages of the commands that are
# missing, from the box's package repositories (the guest's package mirror), and nothing (no package
# manager call at all) when every command is there. Kubernetes, containerd 2.x and the CNI plugins
# never come this way: they are in the artifacts.
ensure_commands() {
  local pair missing=() commands=()
  for pair in "$@"; do
    if ! have "${pair%%=*}" && [[ " ${missing[*]} " != *" ${pair#*=} "* ]]; then
      missing+=("${pair#*=}")
      commands+=("${pair%%=*}")
    fi
  done
  if ((${#missing[@]} == 0)); then return 0; fi
  log "not on this box: ${commands[*]}"
  install_packages "${missing[@]}" ||
    die "could not install ${missing[*]} (for ${commands[*]}) from the distro's package repositories: give the guests a package mirror, or use a box that has them"
}

# The planned private address of each machine, by Vagrant machine name and by hostname.
kv_planned_ip() {
  case $1 in
    'master' | 'demo-master') echo '192.168.56.10' ;;
    'worker-1' | 'demo-worker-1') echo '192.168.56.11' ;;
    'worker-2' | 'demo-worker-2') echo '192.168.56.12' ;;
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

readonly UPLOAD_DIR='/home/vagrant/.kubeadm-vagrant'
readonly CONFIG_DIR='/etc/kubernetes/kubeadm-vagrant'
readonly JOIN_CONFIG="${CONFIG_DIR}/join.yaml"
readonly MASTER_IP='192.168.56.10'
readonly API_WAIT_SECONDS=600

# The uploaded join configuration never stays in the upload directory, whatever happens.
remove_uploads() { rm -f "${UPLOAD_DIR}/join.yaml"; }

# api_answers: the control plane's API server is up (its /readyz is open to anonymous clients).
api_answers() {
  if have curl; then
    curl -ksf --max-time 5 -o /dev/null "https://${MASTER_IP}:6443/readyz"
  else
    timeout 5 bash -c "exec 3<>/dev/tcp/${MASTER_IP}/6443" 2>/dev/null
  fi
}

install_join_config() {
  install -d -m 0700 "${CONFIG_DIR}"
  if [[ -f ${UPLOAD_DIR}/join.yaml ]]; then
    install_file "${UPLOAD_DIR}/join.yaml" "${JOIN_CONFIG}" 0600
    if changed; then log "kubeadm join configuration installed in ${JOIN_CONFIG}"; fi
  fi
  [[ -f ${JOIN_CONFIG} ]] || die "no kubeadm join configuration: the worker-files provisioner uploads it"
}

# kubeadm_join NODE_IP: joins the cluster, unless this node has joined already (a node is never reset)
# or an earlier join stopped half-way (then it stops, for a person to look).
kubeadm_join() {
  local node_ip=$1
  if [[ -f '/etc/kubernetes/kubelet.conf' ]]; then
    log "this node has joined the cluster already: kubeadm join is not run again"
    return
  fi
  if [[ -f '/etc/kubernetes/pki/ca.crt' ]]; then
    die "an earlier kubeadm join stopped half-way (pki/ca.crt but no kubelet.conf). kubeadm-vagrant never resets a node: look at it, run 'sudo kubeadm reset -f' yourself, then provision again"
  fi
  install_join_config
  log "waiting for the API server at ${MASTER_IP}:6443 (up to ${API_WAIT_SECONDS} s)"
  wait_until "${API_WAIT_SECONDS}" "the API server at ${MASTER_IP}:6443" api_answers
  log "kubeadm join as ${node_ip}"
  kubeadm join --config "${JOIN_CONFIG}" || { kubelet_journal; die "kubeadm join failed; its messages and the kubelet's are above"; }
  log "done: joined the cluster"
}

main() {
  local node_ip
  trap remove_uploads EXIT
  log "starting"
  node_ip=$(kv_node_ip)
  kubeadm_join "${node_ip}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
