#!/usr/bin/env bash
# kubeadm-vagrant, cluster 'demo', phase packages (generated: change cluster.yaml, not this file).
# kubelet, kubeadm, kubectl and crictl 1.35.8 from the artifacts, the images imported into
# containerd, the kubelet's node-ip set to this machine's private address, and containerd's sandbox
# image set to kubeadm's. Nothing is downloaded.
set -euo pipefail

KV_PHASE=packages
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

readonly K8S_PATCH='1.35.8'

# --- kubeadm's pause image as containerd's sandbox image (packages, and upgrade: a minor may change it) ---

# version_of COMMAND...: the first vX.Y.Z the command prints, or nothing.
version_of() { { "$@" 2>/dev/null || true; } | grep -oE 'v[0-9]+[.][0-9]+[.][0-9]+' | head -n 1 || true; }

# kubeadm_pause_image: the pause image this kubeadm pulls and expects (nothing when it names none).
kubeadm_pause_image() {
  kubeadm config images list --kubernetes-version "$(version_of kubeadm version -o short)" 2>/dev/null | grep -m 1 '/pause:' || true
}

# containerd must run pods with kubeadm's pause image: with its own default (often older) one,
# kubeadm warns in preflight and containerd fetches a second pause image besides the one kubeadm
# pulled.
align_sandbox_image() {
  local image
  image=$(kubeadm_pause_image)
  [[ -n ${image} ]] || die "\`kubeadm config images list\` names no pause image; kubeadm $(version_of kubeadm version -o short) is not usable"
  containerd_sandbox_image "${CONTAINERD_CONFIG}" "${image}"
  if changed; then
    systemctl restart containerd
    log "containerd's sandbox image is ${image}, as kubeadm's; containerd restarted"
  fi
}

# installed_ok: kubeadm, kubelet and kubectl are all there at the planned version.
installed_ok() {
  [[ $(version_of kubeadm version -o short) == "v${K8S_PATCH}" &&
    $(version_of kubelet --version) == "v${K8S_PATCH}" &&
    $(version_of kubectl version --client) == "v${K8S_PATCH}" ]]
}
readonly KUBELET_DEFAULTS='/etc/default/kubelet'

# --- Kubernetes from the artifacts, the way kubeadm's documentation installs it without a
# package manager: the binaries in /usr/local/bin, a kubelet systemd unit and kubeadm's drop-in for
# it, and every image imported into containerd's k8s.io namespace, so that nothing is pulled ---
readonly ARTIFACTS_DIR='/var/lib/kubeadm-vagrant/artifacts'
readonly KUBELET_UNIT='/usr/local/lib/systemd/system/kubelet.service'
readonly KUBELET_DROPIN='/usr/local/lib/systemd/system/kubelet.service.d/10-kubeadm.conf'

install_kubernetes() {
  local bin
  for bin in kubeadm kubelet kubectl crictl; do copy_file "${ARTIFACTS_DIR}/bin/${bin}" "/usr/local/bin/${bin}" 0755; done
  install -d -m 0755 "$(dirname "${KUBELET_DROPIN}")"
  # kubernetes/release's kubelet.service and 10-kubeadm.conf (cmd/krel/templates/latest), with the
  # binary in /usr/local/bin and this family's defaults file.
  write_file "${KUBELET_UNIT}" 0644 <<'EOF'
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
EOF
  local unit_changed=${KV_CHANGED}
  write_file "${KUBELET_DROPIN}" 0644 <<EOF
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-${KUBELET_DEFAULTS}
ExecStart=
ExecStart=/usr/local/bin/kubelet \$KUBELET_KUBECONFIG_ARGS \$KUBELET_CONFIG_ARGS \$KUBELET_KUBEADM_ARGS \$KUBELET_EXTRA_ARGS
EOF
  if changed || [[ ${unit_changed} == 1 ]]; then systemctl daemon-reload; fi
  install -d -m 0755 '/etc/kubernetes/manifests' '/var/lib/kubelet'
}

# --- the artifacts' images: imported into containerd's k8s.io namespace before kubeadm runs
# (`up`'s packages phase, and `upgrade` for the target version) ---
# The image archives imported so far, by their checksum in SHA256SUMS: importing again is skipped.
readonly IMPORTED='/var/lib/kubeadm-vagrant/images-imported'
# The archives of control-plane images alone (kubeadm's static pods): a worker does not import them.
readonly CONTROL_PLANE_ARCHIVES=('etcd.tar' 'kube-apiserver.tar' 'kube-controller-manager.tar' 'kube-scheduler.tar')

# kv_node_role: this machine's role in the plan, control-plane or worker (by machine name or hostname).
kv_node_role() {
  local node=${KUBEADM_VAGRANT_NODE:-}
  if [[ -z ${node} ]]; then node=$(hostname); fi
  case ${node} in
    'master' | 'demo-master') echo 'control-plane' ;;
    'worker-1' | 'demo-worker-1') echo 'worker' ;;
    'worker-2' | 'demo-worker-2') echo 'worker' ;;
    *) die "machine '${node}' is not in the cluster plan; run kubeadm-vagrant generate and provision again" ;;
  esac
}

# node_images ROLE KUBEADM: the images of `kubeadm config images list` that a machine of ROLE runs (a
# worker, no control-plane image), as the kubeadm binary KUBEADM names them for its own version.
node_images() {
  local images
  images=$("$2" config images list --kubernetes-version "$("$2" version -o short)" 2>/dev/null) || return 0
  if [[ $1 == worker ]]; then
    grep -v -E '/(kube-apiserver|kube-controller-manager|kube-scheduler|etcd):' <<<"${images}" || true
  else
    printf '%s\n' "${images}"
  fi
}

# import_images DIR: every archive of the artifacts in DIR this machine needs into containerd's k8s.io
# namespace (once each), then every image that DIR's kubeadm names for this machine must be there:
# kubeadm never pulls.
import_images() {
  local dir=$1 archive sum missing role skipped
  role=$(kv_node_role)
  install -d -m 0755 "$(dirname "${IMPORTED}")"
  touch "${IMPORTED}"
  for archive in "${dir}"/images/*.tar; do
    if [[ ${role} == worker ]]; then
      for skipped in "${CONTROL_PLANE_ARCHIVES[@]}"; do [[ $(basename "${archive}") != "${skipped}" ]] || continue 2; done
    fi
    # SHA256SUMS names it images/NAME.tar, or ./images/NAME.tar as `find .` lists it; `*` marks binary mode.
    sum=$(awk -v f="images/$(basename "${archive}")" '{ sub(/^\*/, "", $2); sub(/^\.\//, "", $2) } $2 == f { print $1 }' "${dir}/SHA256SUMS")
    if [[ -n ${sum} ]] && grep -qx "${sum}" "${IMPORTED}"; then continue; fi
    log "importing $(basename "${archive}") into containerd (k8s.io)"
    ctr --namespace k8s.io images import "${archive}" >/dev/null || die "ctr could not import ${archive}"
    printf '%s\n' "${sum}" >>"${IMPORTED}"
  done
  missing=$(comm -23 <(node_images "${role}" "${dir}/bin/kubeadm" | sort) <(ctr --namespace k8s.io images ls --quiet | sort))
  [[ -z ${missing} ]] || die "the artifacts lack images kubeadm needs: $(echo "${missing}" | tr '\n' ' ')"
}

main() {
  local node_ip
  log "starting"
  node_ip=$(kv_node_ip)
  # Files, not packages: installing again is cheap and puts back anything missing (units included).
  log "installing kubelet, kubeadm, kubectl and crictl ${K8S_PATCH} from the artifacts"
  install_kubernetes
  installed_ok || die "after installing, kubeadm is '$(version_of kubeadm version -o short)', kubelet '$(version_of kubelet --version)', kubectl '$(version_of kubectl version --client)'; wanted ${K8S_PATCH}"
  import_images "${ARTIFACTS_DIR}"
  align_sandbox_image

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
