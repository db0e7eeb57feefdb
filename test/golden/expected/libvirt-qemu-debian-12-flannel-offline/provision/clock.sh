#!/usr/bin/env bash
# kubeadm-vagrant, cluster 'demo', phase clock (generated: change cluster.yaml, not this file).
# Software emulation only: boots the kernel with tsc=reliable, so that it keeps the TSC as its clock.
# Under qemu's TCG the kernel's clocksource watchdog reads the emulated HPET, which takes long enough
# on a busy machine of two CPUs that the kernel marks the TSC unstable ("hpet read-back delay ...,
# marking unstable", seen in the e2e 7 minutes after boot) and falls back to the HPET: every clock
# read is then a system call and an emulated device access. Vagrant reboots the machine after this
# script (the provisioner's `reboot`).
set -euo pipefail

KV_PHASE=clock
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

# ensure_commands COMMAND=PACKAGE...: installs the packages of the commands that are missing, and
# nothing (no package manager call at all) when every command is there.
ensure_commands() {
  local pair missing=() commands=()
  for pair in "$@"; do
    if ! have "${pair%%=*}" && [[ " ${missing[*]} " != *" ${pair#*=} "* ]]; then
      missing+=("${pair#*=}")
      commands+=("${pair%%=*}")
    fi
  done
  if ((${#missing[@]} == 0)); then return 0; fi
  # Offline, nothing can be installed from a repository: the box must bring these.
  die "offline install: this box has no ${commands[*]} (packages ${missing[*]}); use a box that has them"
}

# The planned private address of each machine, by Vagrant machine name and by hostname.
kv_planned_ip() {
  case $1 in
    'master' | 'demo-master') echo '192.168.61.10' ;;
    'worker-1' | 'demo-worker-1') echo '192.168.61.11' ;;
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

readonly KERNEL_ARG=tsc=reliable
# Overridable for tests only: where the boot loader's files are.
readonly ROOT=${KV_CLOCK_ROOT:-}

# add_to_extlinux FILE: the argument on every APPEND line that lacks it (our own boxes boot with extlinux).
add_to_extlinux() {
  local file=$1 tmp
  tmp=$(mktemp)
  awk -v arg="${KERNEL_ARG}" '/^[[:space:]]*APPEND[[:space:]]/ && index(" " $0 " ", " " arg " ") == 0 { $0 = $0 " " arg } { print }' "${file}" >"${tmp}"
  install_file "${tmp}" "${file}" "$(file_mode "${file}")"
}

main() {
  local file
  if grep -qw -- "${KERNEL_ARG}" "${ROOT}/proc/cmdline"; then
    log "the kernel runs with ${KERNEL_ARG} already (clocksource $(cat "${ROOT}/sys/devices/system/clocksource/clocksource0/current_clocksource" 2>/dev/null || echo unknown))"
    return 0
  fi
  for file in "${ROOT}/boot/extlinux/extlinux.conf" "${ROOT}/extlinux.conf"; do
    if [[ -f ${file} ]]; then
      add_to_extlinux "${file}"
      log "extlinux boots with ${KERNEL_ARG} (${file}); Vagrant reboots the machine now"
      return 0
    fi
  done
  if have grubby; then
    grubby --update-kernel=ALL --args="${KERNEL_ARG}"
    log "every GRUB entry boots with ${KERNEL_ARG} (grubby); Vagrant reboots the machine now"
  elif have update-grub && [[ -d ${ROOT}/etc/default ]]; then
    # grub.d: Debian's and Ubuntu's grub-mkconfig read /etc/default/grub.d/*.cfg after /etc/default/grub.
    install -d -m 0755 "${ROOT}/etc/default/grub.d"
    write_file "${ROOT}/etc/default/grub.d/90-kubeadm-vagrant-clock.cfg" 0644 <<<"GRUB_CMDLINE_LINUX=\"\${GRUB_CMDLINE_LINUX} ${KERNEL_ARG}\""
    update-grub 2>&1 | sed 's/^/    /'
    log "GRUB boots with ${KERNEL_ARG} (/etc/default/grub.d/90-kubeadm-vagrant-clock.cfg); Vagrant reboots the machine now"
  else
    die "no boot loader found to give the kernel ${KERNEL_ARG} (looked for extlinux.conf, grubby, update-grub); add it to the box's kernel command line by hand"
  fi
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
