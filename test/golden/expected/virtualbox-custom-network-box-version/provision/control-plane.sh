#!/usr/bin/env bash
# kubeadm-vagrant, cluster 'lab', phase control-plane (generated: change cluster.yaml, not this file).
# kubeadm init with the cluster's own CA (skipped when the control plane already answers: a cluster
# is never reset), a kubeconfig for vagrant, the flannel pod network, then waits for the node.
set -euo pipefail

KV_PHASE=control-plane
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
    'master' | 'lab-master') echo '192.168.57.20' ;;
    'worker-1' | 'lab-worker-1') echo '192.168.57.101' ;;
    'worker-2' | 'lab-worker-2') echo '192.168.57.102' ;;
    'worker-3' | 'lab-worker-3') echo '192.168.57.103' ;;
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
readonly INIT_CONFIG="${CONFIG_DIR}/init.yaml"
readonly PKI_DIR='/etc/kubernetes/pki'
readonly ADMIN_CONF='/etc/kubernetes/admin.conf'
readonly NODE_NAME='lab-master'
readonly MASTER_IP='192.168.57.20'
readonly K8S_PATCH='1.37.2'
readonly POD_SUBNET='10.200.0.0/16'
readonly ARTIFACTS_DIR='/var/lib/kubeadm-vagrant/artifacts'

# The uploaded secrets never stay in the upload directory, whatever happens.
remove_uploads() { rm -f "${UPLOAD_DIR}/init.yaml" "${UPLOAD_DIR}/ca.crt" "${UPLOAD_DIR}/ca.key"; }

api_healthy() { kubectl --kubeconfig "${ADMIN_CONF}" --request-timeout=10s get --raw=/readyz >/dev/null 2>&1; }

node_ready() {
  [[ $(kubectl get node "${NODE_NAME}" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# check_kubeadm_version: the installed kubeadm is the planned version (init.yaml names it).
check_kubeadm_version() {
  local version
  version=$(kubeadm version -o short 2>/dev/null) || die "kubeadm is not installed; provision the packages phase first"
  [[ ${version} == "v${K8S_PATCH}" ]] || die "kubeadm is ${version}, the cluster is planned for ${K8S_PATCH}; provision the packages phase again"
}

# The uploaded init.yaml goes to CONFIG_DIR (0600).
install_init_config() {
  install -d -m 0700 "${CONFIG_DIR}"
  if [[ -f ${UPLOAD_DIR}/init.yaml ]]; then
    check_kubeadm_version
    install_file "${UPLOAD_DIR}/init.yaml" "${INIT_CONFIG}" 0600
    if changed; then log "kubeadm configuration installed in ${INIT_CONFIG}"; fi
  fi
  [[ -f ${INIT_CONFIG} ]] || die "no kubeadm configuration: the control-plane-files provisioner uploads it"
}

# The cluster's CA was made on the host before any machine booted (workers pin its hash): kubeadm
# init uses it when it is already in place. A different CA is never overwritten.
check_ca() {
  local name
  for name in ca.crt ca.key; do
    if [[ -f ${PKI_DIR}/${name} && -f ${UPLOAD_DIR}/${name} ]] && ! cmp -s "${UPLOAD_DIR}/${name}" "${PKI_DIR}/${name}"; then
      die "${PKI_DIR}/${name} is not the cluster's CA in .kubeadm-vagrant/pki on the host; workers pin that CA and would be refused. Not overwriting it: destroy this machine, or put the matching CA back on the host"
    fi
  done
}

install_ca() {
  local name
  install -d -m 0755 "${PKI_DIR}"
  for name in ca.crt ca.key; do
    if [[ ! -f ${PKI_DIR}/${name} ]]; then
      [[ -f ${UPLOAD_DIR}/${name} ]] || die "the cluster CA's ${name} was not uploaded; the control-plane-ca-* provisioners upload it"
      install -m 0600 "${UPLOAD_DIR}/${name}" "${PKI_DIR}/${name}"
      log "installed the cluster CA's ${name}"
    fi
  done
}

kubeadm_init() {
  if [[ -f ${ADMIN_CONF} ]]; then
    log "the control plane is initialised; waiting for the API server"
    wait_until 300 "the API server at ${MASTER_IP}:6443" api_healthy
    log "the API server answers: kubeadm init is not run again"
    return
  fi
  if [[ -f '/etc/kubernetes/manifests/kube-apiserver.yaml' ]]; then
    die "an earlier kubeadm init stopped half-way (manifests but no admin.conf). kubeadm-vagrant never resets a node: look at it, run 'sudo kubeadm reset -f' yourself, then provision again"
  fi
  install_ca
  log "kubeadm init (the images were imported from the artifacts; a few minutes)"
  # --skip-token-print: the bootstrap token stays out of the provisioning log.
  kubeadm init --config "${INIT_CONFIG}" --skip-token-print || { kubelet_journal; die "kubeadm init failed; its messages and the kubelet's are above"; }
}

# The vagrant user's kubeconfig: `vagrant ssh master -c 'kubectl get nodes'` works.
user_kubeconfig() {
  local group home tmp
  group=$(id -gn vagrant)
  home=$(getent passwd vagrant | cut -d: -f6)
  install -d -m 0700 -o vagrant -g "${group}" "${home}/.kube"
  tmp=$(mktemp)
  cat "${ADMIN_CONF}" >"${tmp}"
  install_file "${tmp}" "${home}/.kube/config" 0600 "vagrant:${group}"
  if changed; then log "kubeconfig for vagrant in ${home}/.kube/config"; fi
}

# get_manifest NAME FILE: the CNI's manifest NAME from the artifacts (fetched and verified on the host
# against the digest this project pins), as FILE.
get_manifest() {
  local name=$1 file=$2
  [[ -f ${ARTIFACTS_DIR}/manifests/${name} ]] || die "the artifacts have no manifests/${name}"
  copy_file "${ARTIFACTS_DIR}/manifests/${name}" "${file}" 0644
}

readonly FLANNEL_UPSTREAM="${CONFIG_DIR}/kube-flannel-v0.28.10.upstream.yml"
readonly FLANNEL_MANIFEST="${CONFIG_DIR}/kube-flannel-v0.28.10.yml"
# flanneld's arguments after upstream's --kube-subnet-mgr:
# - its interface, picked by address: every node's private address is in 192.168.57.0/24
#   (--iface-can-reach=<master> would resolve to lo on the master itself, its own address being local);
readonly FLANNEL_ARGS=(
  '--iface-regex=^192\.168\.57\.[0-9]+$'
)

# flannel_manifest UPSTREAM FILE: flannel's release manifest with the pod subnet as its network and
# the interface chosen by address; fails when the upstream layout no longer takes these edits.
# Each edit is a filter of the manifest's text, checked before the next: no temporary file exists
# until write_file's, so a refused edit leaves none behind.
flannel_manifest() {
  local upstream=$1 file=$2 manifest arg
  # The arguments go through the environment, one a line: awk -v would eat the backslashes of the regex.
  manifest=$(KV_FLANNEL_ARGS=$(printf '%s\n' "${FLANNEL_ARGS[@]}") awk -v from='"Network": "10.244.0.0/16"' -v to="\"Network\": \"${POD_SUBNET}\"" '
    { i = index($0, from); if (i) $0 = substr($0, 1, i - 1) to substr($0, i + length(from)) }
    { print }
    /^[ \t]*- --kube-subnet-mgr[ \t]*$/ {
      match($0, /^[ \t]*/)
      n = split(ENVIRON["KV_FLANNEL_ARGS"], args, "\n")
      for (a = 1; a <= n; a++) print substr($0, 1, RLENGTH) "- " args[a]
    }' "${upstream}")
  grep -qF "\"Network\": \"${POD_SUBNET}\"" <<<"${manifest}" || die "could not set the pod subnet in flannel's net-conf.json"
  for arg in "${FLANNEL_ARGS[@]}"; do
    grep -qF -- "- ${arg}" <<<"${manifest}" || die "could not add ${arg} to flanneld's arguments"
  done
  manifest=$(without_cni_plugin_installer <<<"${manifest}")
  manifest=$(cni_version_for_plugin '/opt/cni/bin/flannel' <<<"${manifest}")
  write_file "${file}" 0644 <<<"${manifest}"
}

# without_cni_plugin_installer < MANIFEST: the manifest without the install-cni-plugin init container,
# which copies flannel's CNI plugin out of the flannel-cni-plugin image: the prerequisites phase put
# the same plugin into /opt/cni/bin from the artifacts, and that image is not among them.
without_cni_plugin_installer() {
  local manifest
  manifest=$(awk '
    skipping && match($0, /^[ \t]*/) && (RLENGTH < indent || (RLENGTH == indent && $0 ~ /^[ \t]*- /)) { skipping = 0 }
    /^[ \t]*- name: install-cni-plugin[ \t]*$/ { match($0, /^[ \t]*/); indent = RLENGTH; skipping = 1 }
    !skipping { print }') || die "awk could not edit flannel's manifest"
  ! grep -q 'install-cni-plugin\|flannel-cni-plugin' <<<"${manifest}" || die "could not remove the install-cni-plugin init container from flannel's manifest"
  grep -q -- '- name: install-cni$' <<<"${manifest}" || die "removing install-cni-plugin took flannel's install-cni init container with it"
  printf '%s\n' "${manifest}"
}

# cni_version_for_plugin PLUGIN < MANIFEST: the manifest with its CNI config's cniVersion lowered to
# the newest version the installed flannel plugin supports when it does not support that one (the
# plugin answers CNI_COMMAND=VERSION): the artifacts may bring an older plugin than the manifest's.
# Standard output is the manifest, so the line that says so goes to standard error. (Both filters
# run in a command substitution, where set -e is off: each checks its own steps.)
cni_version_for_plugin() {
  local plugin=$1 manifest wanted supported newest
  manifest=$(cat)
  wanted=$(sed -n 's/^[[:space:]]*"cniVersion":[[:space:]]*"\([0-9.]*\)".*/\1/p' <<<"${manifest}" | head -n 1)
  [[ -n ${wanted} ]] || die "flannel's manifest names no cniVersion"
  supported=$(CNI_COMMAND=VERSION "${plugin}" </dev/null 2>/dev/null | grep -o '"supportedVersions":\[[^]]*\]' | grep -o '[0-9][0-9.]*' || true)
  [[ -n ${supported} ]] || die "${plugin} does not answer CNI_COMMAND=VERSION"
  if ! grep -qx "${wanted}" <<<"${supported}"; then
    newest=$(sort -V <<<"${supported}" | tail -n 1)
    # shellcheck disable=SC2001 # the pattern has a character class, which ${var//} does not take
    manifest=$(sed "s/\"cniVersion\":[[:space:]]*\"${wanted}\"/\"cniVersion\": \"${newest}\"/" <<<"${manifest}") ||
      die "sed could not edit flannel's manifest"
    grep -qF "\"cniVersion\": \"${newest}\"" <<<"${manifest}" || die "could not set cniVersion ${newest} in flannel's manifest"
    log "the flannel CNI plugin supports CNI ${newest} at most: its config says cniVersion ${newest} instead of ${wanted}" >&2
  fi
  printf '%s\n' "${manifest}"
}

install_cni() {
  get_manifest kube-flannel.yml "${FLANNEL_UPSTREAM}"
  flannel_manifest "${FLANNEL_UPSTREAM}" "${FLANNEL_MANIFEST}"
  log "applying flannel v0.28.10 (pod network ${POD_SUBNET})"
  kubectl apply -f "${FLANNEL_MANIFEST}" >/dev/null
}

main() {
  local node_ip
  trap remove_uploads EXIT
  log "starting"
  node_ip=$(kv_node_ip)
  [[ ${node_ip} == "${MASTER_IP}" ]] || die "this script is for the control plane ${MASTER_IP}, not ${node_ip}"
  install_init_config
  check_ca
  kubeadm_init
  user_kubeconfig
  export KUBECONFIG=${ADMIN_CONF}
  install_cni
  log "waiting for node ${NODE_NAME} to be Ready"
  wait_until 600 "node ${NODE_NAME} to be Ready" node_ready
  log "done: ${NODE_NAME} is Ready"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
