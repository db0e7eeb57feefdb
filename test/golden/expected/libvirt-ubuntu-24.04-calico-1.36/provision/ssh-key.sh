#!/usr/bin/env bash
# kubeadm-vagrant, cluster 'demo', phase ssh-key (generated: change cluster.yaml, not this file).
# Leaves only the cluster's own public key in vagrant's authorized_keys, strips Vagrant's published
# insecure key from every user's authorized_keys, and makes the upload directory for the secrets.
set -euo pipefail

KV_PHASE=ssh-key
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

readonly CLUSTER_PUBLIC_KEY='ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC69U8/O/QpMd5xR7isDyNJUWO+qUm0/cXBnLrGyC9RhMVsH0UYo5zeYgyHfarTkM76zkI6eQ+5CI0visw22QCZMzByOIik/u5v+gCWF9oL8PmSODTPVioFLgaDLrKIz6j624YDoXcRrsxMcBImYQ46RWehQi/gzUPIjCL5WyKT+XOq/lmY5kKcoZ/ZrL5e2IjMwFPJSMaKFfJz0T4P8r00fnX2EZU7SyLGzRntDDN5e6+mAjFyrTJB5w9Mi9sVv6zfXjAulFV5LEID+M0Xh9zS8sn+RY3adMLKkrarifgFkYd0ZBKxgS82dJY+zLNe9JWnXtzcKY13L2d3ceAG0TJ9 kubeadm-vagrant-test'
readonly UPLOAD_DIR='/home/vagrant/.kubeadm-vagrant'
# The key blobs of Vagrant's insecure public keys (RSA and ed25519): their private halves are public.
readonly INSECURE_RSA='AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ=='
readonly INSECURE_ED25519='AAAAC3NzaC1lZDI1NTE5AAAAIN1YdxBpNlzxDqfJyw/QKow1F+wvG9hXGoqiysfJOn5Y'

# strip_insecure_keys FILE: removes the lines holding Vagrant's insecure keys from an authorized_keys.
strip_insecure_keys() {
  local file=$1 tmp
  tmp=$(mktemp)
  awk -v rsa="${INSECURE_RSA}" -v ed="${INSECURE_ED25519}" 'index($0, rsa) == 0 && index($0, ed) == 0' "${file}" >"${tmp}"
  install_file "${tmp}" "${file}" "$(file_mode "${file}")" "$(stat -c '%u:%g' "${file}")"
  if changed; then log "removed Vagrant's insecure key from ${file}"; fi
}

main() {
  local group home own dir file
  id vagrant >/dev/null 2>&1 || die "there is no user vagrant on this machine"
  group=$(id -gn vagrant)
  home=$(getent passwd vagrant | cut -d: -f6)
  own="${home}/.ssh/authorized_keys"

  install -d -m 0700 -o vagrant -g "${group}" "${home}/.ssh"
  write_file "${own}" 0600 "vagrant:${group}" <<<"${CLUSTER_PUBLIC_KEY}"
  if changed; then log "vagrant's authorized_keys now holds only the cluster's key"; fi

  while IFS= read -r dir; do
    for file in "${dir}/.ssh/authorized_keys" "${dir}/.ssh/authorized_keys2"; do
      if [[ ${file} != "${own}" && -f ${file} && ! -L ${file} ]]; then strip_insecure_keys "${file}"; fi
    done
  done < <(getent passwd | cut -d: -f6 | sort -u)

  # A file written through a temporary one must carry sshd's SELinux label, or sshd ignores it.
  if have restorecon; then restorecon -R "$(dirname "${own}")"; fi

  install -d -m 0700 -o vagrant -g "${group}" "${UPLOAD_DIR}"
  # A directory upload lands inside an existing directory of the same name: none may be left over.
  rm -rf "${UPLOAD_DIR}/artifacts"
  log "done"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
