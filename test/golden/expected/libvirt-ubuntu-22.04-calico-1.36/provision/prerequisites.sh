#!/usr/bin/env bash
# kubeadm-vagrant, cluster 'demo', phase prerequisites (generated: change cluster.yaml, not this file).
# Swap off, kernel modules and sysctls for Kubernetes networking, containerd with the systemd cgroup
# driver, and what the distro family needs (templates/provision/family/debian.sh.ejs). Installs only what is missing.
# The edit functions take a file argument so they can be tried on copies: source this script and
# call them (main runs only when the script is executed).
set -euo pipefail

KV_PHASE=prerequisites
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

# --- containerd's config.toml: shared by the prerequisites and packages scripts ---
readonly CONTAINERD_CONFIG='/etc/containerd/config.toml'
# Tables of the CRI plugin in containerd's config formats, version 2 (containerd 1.x) and version 3
# (containerd 2.x; version 4, of containerd 2.3+, has the same), as `containerd config default`
# writes their headers: the runc options, and the table that names the sandbox (pause) image.
readonly RUNC_OPTIONS_V2='plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options'
readonly RUNC_OPTIONS_V3="plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options"
readonly SANDBOX_TABLE_V2='plugins."io.containerd.grpc.v1.cri"'
readonly SANDBOX_TABLE_V3="plugins.'io.containerd.cri.v1.images'.pinned_images"

# awk functions (they expect q to hold a single quote): table(line) is the name of the TOML table a
# line opens ("" when it opens none), with quotes made double and blanks dropped, so both quoting
# styles compare equal; value_of(line) is the value a `key = value` line sets, without a trailing
# comment and with quotes made double; normal(value) makes quotes double.
readonly TOML_AWK='
function table(line,   t) {
  t = line
  sub(/^[ \t]+/, "", t)
  if (substr(t, 1, 1) != "[") return ""
  sub(/[ \t]*(#.*)?$/, "", t)
  gsub(/[][ \t]/, "", t)
  gsub(q, "\"", t)
  return t
}
function normal(v) { gsub(q, "\"", v); return v }
function value_of(line,   v) {
  v = line
  sub(/^[^=]*=[ \t]*/, "", v)
  sub(/[ \t]*(#.*)?$/, "", v)
  return normal(v)
}'

# containerd_config_version FILE: the top-level `version = N` of a containerd config ("" if none).
containerd_config_version() {
  awk '/^[ \t]*\[/ { exit } /^[ \t]*version[ \t]*=/ { sub(/^[^=]*=[ \t]*/, ""); sub(/[ \t]*(#.*)?$/, ""); print; exit }' "$1"
}

# containerd_table FILE V2 V3: the table V2 or V3 by FILE's format version; fails on any other.
# Version 4 (containerd 2.3 and later) moved only the server settings: its CRI tables are version 3's.
containerd_table() {
  local version
  version=$(containerd_config_version "$1")
  case ${version} in
    2) printf '%s\n' "$2" ;;
    3 | 4) printf '%s\n' "$3" ;;
    *) die "$1 has containerd config version '${version:-none}'; only 2 (containerd 1.x) and 3 (containerd 2.x) are handled, and 4 (containerd 2.3+) as 3" ;;
  esac
}

# toml_key_is FILE TABLE KEY VALUE: true when TABLE of FILE sets KEY, each time to VALUE (a TOML
# value such as true or "text"; either quoting style matches).
toml_key_is() {
  awk -v want="$2" -v key="$3" -v value="$4" -v q="'" "${TOML_AWK}"'
    BEGIN { gsub(q, "\"", want); pattern = "^[ \t]*" key "[ \t]*="; value = normal(value) }
    { t = table($0) }
    t != "" { inside = (t == want); next }
    inside && $0 ~ pattern { if (value_of($0) == value) yes = 1; else no = 1 }
    END { exit !(yes && !no) }' "$1"
}

# toml_get FILE TABLE KEY: the value TABLE of FILE sets KEY to (the last one), quotes made double;
# TABLE "" is the top level, before the first table. Fails when TABLE does not set KEY.
toml_get() {
  awk -v want="$2" -v key="$3" -v q="'" "${TOML_AWK}"'
    BEGIN { gsub(q, "\"", want); pattern = "^[ \t]*" key "[ \t]*="; inside = (want == "") }
    { t = table($0) }
    t != "" { inside = (t == want); next }
    inside && $0 ~ pattern { value = value_of($0); found = 1 }
    END { if (found) print value; exit !found }' "$1"
}

# toml_set FILE TABLE KEY VALUE: makes TABLE of FILE say `KEY = VALUE`: the key is rewritten where it
# has another value, added under the table header where the table lacks it, or the table is
# appended. A file that already says so is left as it is (KV_CHANGED=0). Fails when the result
# does not say so: an edit written for one format would silently do nothing on the other.
toml_set() {
  local file=$1 table=$2 key=$3 value=$4 tmp
  tmp=$(mktemp)
  awk -v want="${table}" -v header="[${table}]" -v key="${key}" -v value="${value}" -v q="'" "${TOML_AWK}"'
    BEGIN { gsub(q, "\"", want); pattern = "^[ \t]*" key "[ \t]*=" }
    NR == FNR {
      t = table($0)
      if (t != "") { inside = (t == want); if (inside) found = 1; next }
      if (inside && $0 ~ pattern) has_key = 1
      next
    }
    {
      t = table($0)
      if (t != "") {
        inside = (t == want)
        print
        if (inside && !has_key) { match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) "  " key " = " value }
        next
      }
      if (inside && $0 ~ pattern && value_of($0) != normal(value)) { match($0, /^[ \t]*/); print substr($0, 1, RLENGTH) key " = " value; next }
      print
    }
    END { if (!found) { print ""; print header; print "  " key " = " value } }' "${file}" "${file}" >"${tmp}"
  install_file "${tmp}" "${file}" "$(file_mode "${file}")"
  toml_key_is "${file}" "${table}" "${key}" "${value}" ||
    die "${key} = ${value} is not set in [${table}] of ${file} after editing it"
}

# containerd_systemd_cgroup FILE: `SystemdCgroup = true` in the runc options of a containerd config
# of either format, so that containerd's cgroup driver matches the kubelet's (systemd).
containerd_systemd_cgroup() {
  local table
  table=$(containerd_table "$1" "${RUNC_OPTIONS_V2}" "${RUNC_OPTIONS_V3}")
  toml_set "$1" "${table}" SystemdCgroup true
}

# containerd_sandbox_image FILE IMAGE: containerd runs pods with IMAGE as their sandbox (pause) image.
containerd_sandbox_image() {
  local table key=sandbox
  table=$(containerd_table "$1" "${SANDBOX_TABLE_V2}" "${SANDBOX_TABLE_V3}")
  if [[ ${table} == "${SANDBOX_TABLE_V2}" ]]; then key=sandbox_image; fi
  toml_set "$1" "${table}" "${key}" "\"$2\""
}

# --- the container runtime: containerd and runc from the artifacts (their release archives, verified on the host) ---
readonly CONTAINERD_UNIT='/usr/local/lib/systemd/system/containerd.service'
readonly CNI_PLUGINS_DIR='/opt/cni/bin'
readonly ARTIFACTS_DIR='/var/lib/kubeadm-vagrant/artifacts'

# install_runtime_from DIR: containerd, its runc shim, ctr and runc from DIR into /usr/local, with
# containerd's own systemd unit (upstream's containerd.service), as containerd's getting-started
# guide installs the release binaries.
install_runtime_from() {
  local dir=$1 bin
  for bin in containerd containerd-shim-runc-v2 ctr; do copy_file "${dir}/${bin}" "/usr/local/bin/${bin}" 0755; done
  install -d -m 0755 /usr/local/sbin "$(dirname "${CONTAINERD_UNIT}")"
  copy_file "${dir}/runc" /usr/local/sbin/runc 0755
  write_file "${CONTAINERD_UNIT}" 0644 <<'EOF'
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd

Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5

# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
EOF
  if changed; then systemctl daemon-reload; fi
  log "containerd $(/usr/local/bin/containerd --version | awk '{ print $3 }') and $(/usr/local/sbin/runc --version | head -n 1) installed in /usr/local"
}

install_runtime() {
  install_host_tools
  install_runtime_from "${ARTIFACTS_DIR}/containerd"
  # The CNI plugins (flannel's too) come from the artifacts like everything else.
  local plugin
  install -d -m 0755 "${CNI_PLUGINS_DIR}"
  for plugin in "${ARTIFACTS_DIR}"/cni/*; do copy_file "${plugin}" "${CNI_PLUGINS_DIR}/$(basename "${plugin}")" 0755; done
}

readonly CRI_SOCKET='unix:///run/containerd/containerd.sock'

# fstab_disable_swap FILE: comments out the swap entries of an fstab; comments stay as they are.
fstab_disable_swap() {
  local fstab=$1 tmp
  tmp=$(mktemp)
  awk '/^[ \t]*#/ { print; next } $3 == "swap" { print "#" $0; next } { print }' "${fstab}" >"${tmp}"
  install_file "${tmp}" "${fstab}" "$(file_mode "${fstab}")"
  if changed; then log "commented out the swap entries in ${fstab}"; fi
}

# containerd_config_usable FILE: true when FILE exists, has format version 2, 3 or 4 (the formats
# the edits know) and does not disable the CRI plugin (the config packaged with Docker's
# containerd.io does). Only a first look: containerd_config_prepare keeps FILE only when containerd
# itself, after the edits, shows a sound config.
containerd_config_usable() {
  local file=$1 version
  [[ -f ${file} ]] || return 1
  version=$(containerd_config_version "${file}")
  [[ ${version} == 2 || ${version} == 3 || ${version} == 4 ]] || return 1
  ! awk '/^[ \t]*\[/ { exit } /^[ \t]*disabled_plugins[ \t]*=.*cri/ { found = 1 } END { exit !found }' "${file}"
}

# Where containerd must look for the CNI plugins: the artifacts and the CNIs' own installers put
# them there. Debian's containerd looks in /usr/lib/cni instead.
readonly CNI_BIN_DIR='/opt/cni/bin'
# The CRI plugin's tables in format version 2 (containerd 1.x) and 3 (containerd 2.x; 4 has the
# same): the one that names the default runtime and holds the runtimes, and the CNI one.
readonly CRI_CONTAINERD_V2='plugins."io.containerd.grpc.v1.cri".containerd'
readonly CRI_CONTAINERD_V3="plugins.'io.containerd.cri.v1.runtime'.containerd"
readonly CNI_TABLE_V2='plugins."io.containerd.grpc.v1.cri".cni'
readonly CNI_TABLE_V3="plugins.'io.containerd.cri.v1.runtime'.cni"

# containerd_cni_bin_dir FILE: containerd looks for the CNI plugins in CNI_BIN_DIR, and only there.
# Format 3 names the directories in bin_dirs from containerd 2.1 on (2.0 knows only bin_dir, and
# 2.1+ refuses a bin_dir beside a bin_dirs of its own): the containerd on PATH tells which it reads.
containerd_cni_bin_dir() {
  local file=$1 table any=0
  table=$(containerd_table "${file}" "${CNI_TABLE_V2}" "${CNI_TABLE_V3}")
  if [[ ${table} == "${CNI_TABLE_V3}" ]] && containerd config default | toml_get /dev/stdin "${CNI_TABLE_V3}" bin_dirs >/dev/null; then
    toml_set "${file}" "${table}" bin_dirs "[\"${CNI_BIN_DIR}\"]"
    if changed; then any=1; fi
    if toml_get "${file}" "${table}" bin_dir >/dev/null; then
      toml_set "${file}" "${table}" bin_dir '""'
      if changed; then any=1; fi
    fi
    KV_CHANGED=${any}
  else
    toml_set "${file}" "${table}" bin_dir "\"${CNI_BIN_DIR}\""
  fi
}

# containerd_config_edit FILE: the settings kubeadm needs, in a config of format 2, 3 or 4: the
# systemd cgroup driver for runc and the CNI plugin directory. KV_CHANGED=1 when FILE changed.
containerd_config_edit() {
  local any=0
  containerd_systemd_cgroup "$1"
  if changed; then any=1; fi
  containerd_cni_bin_dir "$1"
  if changed; then any=1; fi
  KV_CHANGED=${any}
}

# containerd_config_problems FILE: what makes the config in FILE unfit for kubeadm, one line each,
# judged on the effective config: `containerd --config FILE config dump` (the containerd on PATH),
# with containerd's defaults beneath and its imports merged. Nothing when it is sound: the CRI
# plugin is enabled, the default runtime is runc with runtime_type io.containerd.runc.v2 and
# SystemdCgroup = true, and the CNI plugins are looked for in CNI_BIN_DIR only.
containerd_config_problems() {
  local file=$1 dump runtimes cni value dirs
  dump=$(mktemp)
  if ! containerd --config "${file}" config dump >"${dump}" 2>"${dump}.err"; then
    printf 'containerd cannot load it (%s)\n' "$(tail -n 1 "${dump}.err")"
    rm -f "${dump}" "${dump}.err"
    return 0
  fi
  rm -f "${dump}.err"
  case $(containerd_config_version "${dump}") in
    2) runtimes=${CRI_CONTAINERD_V2} cni=${CNI_TABLE_V2} ;;
    3 | 4) runtimes=${CRI_CONTAINERD_V3} cni=${CNI_TABLE_V3} ;;
    *)
      printf 'containerd shows it in a format other than version 2, 3 or 4\n'
      rm -f "${dump}"
      return 0
      ;;
  esac
  # A plugin named cri, io.containerd.grpc.v1.cri, io.containerd.cri.v1.runtime, ...
  value=$(toml_get "${dump}" '' disabled_plugins || true)
  if [[ ${value} =~ \"(cri|[^\"]*[.]cri|[^\"]*[.]cri[.][^\"]*)\" ]]; then
    printf 'the CRI plugin is disabled (disabled_plugins = %s)\n' "${value}"
  fi
  value=$(toml_get "${dump}" "${runtimes}" default_runtime_name || true)
  if [[ ${value} != '"runc"' ]]; then printf "the default runtime is %s, not \"runc\"\n" "${value:-unset}"; fi
  value=$(toml_get "${dump}" "${runtimes}.runtimes.runc" runtime_type || true)
  if [[ ${value} != '"io.containerd.runc.v2"' ]]; then printf "runc's runtime_type is %s, not \"io.containerd.runc.v2\"\n" "${value:-unset}"; fi
  value=$(toml_get "${dump}" "${runtimes}.runtimes.runc.options" SystemdCgroup || true)
  if [[ ${value} != true ]]; then printf "runc's SystemdCgroup is %s, not true\n" "${value:-unset}"; fi
  value=$(toml_get "${dump}" "${cni}" bin_dir || true)
  if dirs=$(toml_get "${dump}" "${cni}" bin_dirs); then
    # containerd 2.1+: the list, with bin_dir empty (set, it would replace bin_dirs or clash with it).
    if [[ ${dirs//[[:space:]]/} != "[\"${CNI_BIN_DIR}\"]" || -n ${value//\"/} ]]; then
      printf 'the CNI plugin directories are bin_dirs = %s with bin_dir = %s, not %s alone\n' "${dirs}" "${value:-unset}" "${CNI_BIN_DIR}"
    fi
  elif [[ ${value} != "\"${CNI_BIN_DIR}\"" ]]; then
    printf 'the CNI plugin directory is %s, not %s\n' "${value:-unset}" "${CNI_BIN_DIR}"
  fi
  rm -f "${dump}"
}

# containerd_config_prepare FILE: makes FILE a containerd config fit for kubeadm, for the containerd
# on PATH. An existing FILE is kept, with the settings kubeadm needs edited in, only when containerd
# shows the edited config sound (judging the result also judges the file: the edits fix neither a
# disabled CRI plugin nor a runc without its runtime_type); otherwise it is copied to FILE.kubeadm-vagrant.orig and replaced by
# `containerd config default` with the same edits. Fails, naming the problems, when even that is
# not sound: a broken config is never left in place. KV_CHANGED=1 when FILE changed.
containerd_config_prepare() {
  local file=$1 candidate problems
  candidate=$(mktemp)
  if ! containerd_config_usable "${file}"; then
    problems="it is missing, of a format other than version 2, 3 or 4, or disables the CRI plugin"
  else
    cp "${file}" "${candidate}"
    # The edits run in a subshell: one that fails (die) only rules the file out.
    if problems=$( (containerd_config_edit "${candidate}") 2>&1 >/dev/null); then
      problems=$(containerd_config_problems "${candidate}")
    fi
    if [[ -z ${problems} ]]; then
      install_file "${candidate}" "${file}" "$(file_mode "${file}")"
      if changed; then log "edited ${file}: runc on the systemd cgroup driver, CNI plugins in ${CNI_BIN_DIR}"; fi
      return 0
    fi
  fi
  if [[ -f ${file} ]]; then
    log "not keeping ${file}: ${problems//$'\n'/; }"
    cp -p "${file}" "${file}.kubeadm-vagrant.orig"
    log "the previous ${file} is in ${file}.kubeadm-vagrant.orig"
  fi
  containerd config default >"${candidate}"
  containerd_config_edit "${candidate}"
  problems=$(containerd_config_problems "${candidate}")
  if [[ -n ${problems} ]]; then
    rm -f "${candidate}"
    die "containerd's default configuration, edited for kubeadm, is still not sound: ${problems//$'\n'/; }"
  fi
  install_file "${candidate}" "${file}" 0644
  log "wrote containerd's default configuration to ${file}, with runc on the systemd cgroup driver and CNI plugins in ${CNI_BIN_DIR}"
}

disable_swap() {
  local unit
  if [[ -n $(swapon --noheadings --show 2>/dev/null) ]]; then
    swapoff -a
    log "swap turned off"
  fi
  if [[ -f /etc/fstab ]]; then fstab_disable_swap /etc/fstab; fi
  # Swap units (from fstab or elsewhere) must not come back at boot.
  while read -r unit; do
    if [[ $(systemctl is-enabled "${unit}" 2>/dev/null || true) != masked ]]; then
      systemctl mask "${unit}" >/dev/null 2>&1
      log "masked ${unit}"
    fi
  done < <(systemctl list-units --type=swap --all --plain --no-legend 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /[.]swap$/) { print $i; break } }')
}

kernel_modules() {
  local module
  write_file '/etc/modules-load.d/kubernetes.conf' 0644 <<'EOF'
overlay
br_netfilter
EOF
  for module in overlay br_netfilter; do
    if [[ ! -d /sys/module/${module} ]]; then
      modprobe "${module}"
      log "loaded ${module}"
    fi
  done
}

sysctls() {
  write_file '/etc/sysctl.d/99-kubernetes.conf' 0644 <<'EOF'
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
EOF
  if [[ $(sysctl -n net.bridge.bridge-nf-call-iptables) != 1 || $(sysctl -n net.bridge.bridge-nf-call-ip6tables) != 1 || $(sysctl -n net.ipv4.ip_forward) != 1 ]]; then
    sysctl --system >/dev/null
    log "applied the Kubernetes sysctls"
  fi
}

# Nothing to prepare on Debian and Ubuntu beyond what every family does.
prepare_host() { :; }

# What kubeadm's preflight and kube-proxy need on the host besides the container runtime.
install_host_tools() {
  ensure_commands conntrack=conntrack socat=socat iptables=iptables ethtool=ethtool
}

# The distro's own containerd (1.x on most releases): only when runtime.containerd is `distro`.
install_distro_runtime() {
  ensure_commands containerd=containerd runc=runc
}
readonly NM_CALICO_CONF=/etc/NetworkManager/conf.d/calico.conf

# Where NetworkManager runs (the RHEL family), it must leave Calico's interfaces alone (Calico's
# troubleshooting guide, "Configure NetworkManager").
cni_prerequisites() {
  if [[ ! -d /etc/NetworkManager ]]; then return 0; fi
  install -d -m 0755 /etc/NetworkManager/conf.d
  write_file "${NM_CALICO_CONF}" 0644 <<'EOF'
[keyfile]
unmanaged-devices=interface-name:cali*;interface-name:tunl*;interface-name:vxlan.calico;interface-name:vxlan-v6.calico;interface-name:wireguard.cali;interface-name:wg-v6.cali
EOF
  if changed; then
    log "NetworkManager leaves Calico's interfaces alone (${NM_CALICO_CONF})"
    if systemctl is-active --quiet NetworkManager; then systemctl reload NetworkManager; fi
  fi
}

configure_containerd() {
  local restart=0
  mkdir -p "$(dirname "${CONTAINERD_CONFIG}")"
  containerd_config_prepare "${CONTAINERD_CONFIG}"
  if changed; then restart=1; fi
  # crictl (the packages phase installs it) talks to containerd.
  write_file '/etc/crictl.yaml' 0644 <<EOF
runtime-endpoint: ${CRI_SOCKET}
image-endpoint: ${CRI_SOCKET}
timeout: 10
EOF
  if ! systemctl is-enabled --quiet containerd; then systemctl enable containerd >/dev/null 2>&1; fi
  if ((restart)) || ! systemctl is-active --quiet containerd; then
    systemctl restart containerd
    log "containerd restarted"
  fi
}

main() {
  log "starting"
  disable_swap
  kernel_modules
  sysctls
  prepare_host
  cni_prerequisites
  install_runtime
  configure_containerd
  log "done"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
