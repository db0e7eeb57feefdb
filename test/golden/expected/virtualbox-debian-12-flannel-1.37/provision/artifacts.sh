#!/usr/bin/env bash
# kubeadm-vagrant, cluster 'demo', phase artifacts (generated: change cluster.yaml, not this file).
# The artifacts of Kubernetes 1.37.2 (everything the machine installs: binaries, images,
# manifests) arrive in the upload directory (the artifacts-files provisioner); their checksums are
# checked here before anything is installed, then they move to /var/lib/kubeadm-vagrant/artifacts. A checksum
# mismatch stops the phase and names the file.
set -euo pipefail

KV_PHASE=artifacts
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

KV_APT_UPDATED=0
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q "$@"; }

# install_packages [OPTION...] PACKAGE...: apt-get install, after one apt-get update per run.
install_packages() {
  if [[ ${KV_APT_UPDATED} == 0 ]]; then
    log "apt-get update"
    apt_get update >/dev/null
    KV_APT_UPDATED=1
  fi
  log "installing $(packages_named "$@")"
  # Keep existing configuration files without asking: nobody answers a prompt here.
  apt_get install -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null
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
readonly UPLOADED="${UPLOAD_DIR}/artifacts"
readonly ARTIFACTS_DIR='/var/lib/kubeadm-vagrant/artifacts'
# The sha256 of the planned SHA256SUMS: names this set of artifacts.
readonly SUMS_HASH='ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff'

# verify_checksums DIR: `sha256sum -c` of DIR's SHA256SUMS; dies naming every file that fails.
verify_checksums() {
  local dir=$1 report
  [[ -f ${dir}/SHA256SUMS ]] || die "${dir} has no SHA256SUMS: the upload is incomplete; provision this phase again"
  [[ $(sha256sum <"${dir}/SHA256SUMS" | cut -d' ' -f1) == "${SUMS_HASH}" ]] ||
    die "${dir}/SHA256SUMS is not the planned one (${SUMS_HASH:0:12}...): the host's artifacts changed; run kubeadm-vagrant up again"
  if ! report=$(cd "${dir}" && sha256sum --check --strict SHA256SUMS 2>&1); then
    die "checksum mismatch in the artifacts: $(grep -v ': OK$' <<<"${report}" | tr '\n' ';')"
  fi
}

main() {
  log "starting"
  if [[ -f ${ARTIFACTS_DIR}/.verified && $(cat "${ARTIFACTS_DIR}/.verified") == "${SUMS_HASH}" ]]; then
    rm -rf "${UPLOADED}"
    log "the artifacts are in ${ARTIFACTS_DIR}, verified already"
    return
  fi
  [[ -d ${UPLOADED} ]] || die "no artifacts in ${UPLOADED}: the artifacts-files provisioner uploads them"
  log "checking the checksums of $(grep -c . "${UPLOADED}/SHA256SUMS") files"
  verify_checksums "${UPLOADED}"
  rm -rf "${ARTIFACTS_DIR}"
  install -d -m 0755 "$(dirname "${ARTIFACTS_DIR}")"
  mv "${UPLOADED}" "${ARTIFACTS_DIR}"
  chown -R root:root "${ARTIFACTS_DIR}"
  chmod -R go-w "${ARTIFACTS_DIR}"
  printf '%s\n' "${SUMS_HASH}" >"${ARTIFACTS_DIR}/.verified"
  log "done: the artifacts are in ${ARTIFACTS_DIR}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
