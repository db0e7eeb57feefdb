#!/usr/bin/env bash
# Builds (or reuses) the offline artifacts directory for kubeadm-vagrant's end-to-end test: Kubernetes,
# etcd, CoreDNS, flannel, the CNI plugins, crictl, containerd and runc built from upstream source at their
# tags through the Go module proxy, and OCI image archives of every image a kubeadm cluster with flannel
# and the smoke test runs. The layout is the contract with the product's `offline.dir` (README.md here).
#
# Prints how long each part took (on stderr) and the directory's path as the last line (on stdout).
# Cache: ${KUBEADM_VAGRANT_ARTIFACTS_CACHE:-/var/cache/kubeadm-vagrant/artifacts}/<recipe hash>, reused
# while complete and its SHA256SUMS verify; built beside it in a temporary directory, then renamed.
#
# Usage: build.sh [--kubernetes MINOR]. Without it, the Kubernetes release versions.env pins (1.37);
# `--kubernetes 1.36` builds the release kubernetes-1.36/ pins: its versions.env on top of this one, its
# modules/<group> go.mod and go.sum instead of those here, cached under a recipe hash of its own.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_NAME=artifacts
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$script_dir/lib.sh"
# release: empty for the base release (versions.env, modules/), else kubernetes-<MINOR>/ under script_dir.
release=
while (($# > 0)); do
  case $1 in
    --kubernetes)
      [[ $# -ge 2 ]] || { echo "build.sh: --kubernetes needs a minor, e.g. 1.36" >&2; exit 2; }
      release=kubernetes-$2
      shift 2
      ;;
    *) echo "usage: build.sh [--kubernetes MINOR]" >&2; exit 2 ;;
  esac
done
# The pins, exported: images.json refers to them as ${NAME}.
set -a
# shellcheck disable=SC1091 # versions.env holds only NAME=value lines
source "$script_dir/versions.env"
if [[ -n $release ]]; then
  if [[ ! -f $script_dir/$release/versions.env ]]; then
    # The base release's own minor needs no directory of its own.
    [[ v${release#kubernetes-}. == "${KUBERNETES_VERSION%.*}." ]] || { echo "build.sh: no $release/versions.env for that minor" >&2; exit 2; }
    release=
  else
    # shellcheck disable=SC1090 # the release's versions.env: NAME=value lines too
    source "$script_dir/$release/versions.env"
  fi
fi
# The release whose test/images/agnhost the agnhost image is built from (the smoke test's, see kubernetes-1.36/versions.env).
AGNHOST_KUBERNETES_VERSION=${AGNHOST_KUBERNETES_VERSION:-$KUBERNETES_VERSION}
set +a

arch=amd64
cache_base=${KUBEADM_VAGRANT_ARTIFACTS_CACHE:-/var/cache/kubeadm-vagrant/artifacts}
# Layers stored gzip-compressed (see README.md for the measured trade-off).
compress_layers=true
# PATH inside every image (the upstream images' default).
export IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Go as upstream builds it, never fetching another toolchain, never editing go.mod/go.sum.
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false"

build_started=$SECONDS

# The recipe: everything under test/artifacts the release uses (the scripts, the specs, the pins, the
# go.mod/go.sum files). Other releases' directories are left out: adding or changing one does not change
# this release's hash.
hash=$({
  file_sums "$script_dir" . ! -path './kubernetes-*'
  if [[ -n $release ]]; then file_sums "$script_dir" "./$release"; fi
} | sha256sum | cut -d' ' -f1)
root=$cache_base/$hash
arch_dir_rel=$KUBERNETES_VERSION/$arch
# One build per recipe at a time; a second caller waits and then reuses the first one's directory.
start_build "$cache_base" "$hash" "$arch_dir_rel"

# ---------------------------------------------------------------------------------------------------
# Host prerequisites
# ---------------------------------------------------------------------------------------------------
[[ $(id -u) == 0 ]] || die "run as root (the guests' tools layer is extracted from Debian packages, check.sh runs containerd)"
for tool in go gcc jq apt-get apt-cache dpkg-deb flock sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
# runc links libseccomp statically, as upstream's release does.
if [[ ! -f /usr/lib/x86_64-linux-gnu/libseccomp.a ]]; then
  log "installing libseccomp-dev (runc's static seccomp support)"
  apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
      libseccomp-dev >&2
  }
  apt_install || { apt-get update -qq >&2 && apt_install; } || die "apt-get install libseccomp-dev"
fi

out=$work/out         # built files, by component (images.json's -from directory)
stage=$work/root      # becomes $root
adir=$stage/$arch_dir_rel
mkdir -p "$out" "$work/logs" "$adir"/{bin,cni,containerd,images,manifests}
cp -r "$script_dir/modules" "$work/modules"
# agnhost_group: the module group agnhost is built from: the Kubernetes group itself, or, when the release
# builds the smoke test's agnhost of another Kubernetes release, the base modules/kubernetes group.
agnhost_group=kubernetes
if [[ -n $release ]]; then
  if [[ $AGNHOST_KUBERNETES_VERSION != "$KUBERNETES_VERSION" ]]; then
    agnhost_group=agnhost
    cp -r "$script_dir/modules/kubernetes" "$work/modules/agnhost"
  fi
  # The release's go.mod and go.sum replace the base group's (a group's other files, main.go, stay).
  cp -r "$script_dir/$release/modules/." "$work/modules/"
fi
log "recipe $hash${release:+ ($release)}; building in $work"

# ---------------------------------------------------------------------------------------------------
# Background jobs: a job's output goes to its log; wait_job fails loudly with the log's tail.
# ---------------------------------------------------------------------------------------------------
declare -A job_pid=()
start_job() { # start_job NAME FUNCTION [ARGS...]
  local name=$1
  shift
  ("$@") >"$work/logs/$name.log" 2>&1 &
  job_pid[$name]=$!
}
wait_job() { # wait_job NAME
  local name=$1
  if ! wait "${job_pid[$name]}"; then
    tail -n 40 "$work/logs/$name.log" >&2
    die "$name (log above)"
  fi
  grep -h "^\\[$LOG_NAME\\]" "$work/logs/$name.log" >&2 || true
}

# group_packages GROUP: the main packages the group's go.mod names in its tool directives (none for a
# group whose main package is its own directory, such as coredns).
group_packages() { (cd "$work/modules/$1" && go mod edit -json | jq -r '.Tool[]?.Path'); }

# go_download GROUP CGO TAGS: fetch exactly the modules the group's build needs (go list loads every
# package it would compile, for the same build configuration).
go_download() {
  local group=$1 cgo=$2 tags=$3 started=$SECONDS
  local -a pkgs
  mapfile -t pkgs < <(group_packages "$group")
  (cd "$work/modules/$group" && CGO_ENABLED=$cgo go list -deps -tags "$tags" "${pkgs[@]}" >/dev/null)
  took "module download: $group" "$started"
}

# group_versions GROUP MODULE@VERSION...: check_upstream_versions for a module group of modules/.
group_versions() {
  local group=$1
  shift
  check_upstream_versions "$work/modules/$group" "$@"
}

# ---------------------------------------------------------------------------------------------------
# Pins, checked against the upstream sources at their tags
# ---------------------------------------------------------------------------------------------------
started=$SECONDS
kube_src=$(module_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")
agnhost_src=$(module_dir "k8s.io/kubernetes@$AGNHOST_KUBERNETES_VERSION")
containerd_src=$(module_dir "github.com/containerd/containerd/v2@$CONTAINERD_VERSION")
flannel_src=$(module_dir "github.com/flannel-io/flannel@$FLANNEL_VERSION")
constants=$kube_src/cmd/kubeadm/app/constants/constants.go
const_value() { sed -n "s/^[[:space:]]*$1 = \"\\([^\"]*\\)\"/\\1/p" "$constants"; }
expect_pin ETCD_IMAGE_TAG "$ETCD_IMAGE_TAG" "$(const_value DefaultEtcdVersion)" "kubeadm constants.go DefaultEtcdVersion"
expect_pin ETCD_VERSION "$ETCD_VERSION" "v${ETCD_IMAGE_TAG%%-*}" "kubeadm constants.go DefaultEtcdVersion"
expect_pin COREDNS_VERSION "$COREDNS_VERSION" "$(const_value CoreDNSVersion)" "kubeadm constants.go CoreDNSVersion"
expect_pin PAUSE_VERSION "$PAUSE_VERSION" "$(const_value PauseVersion)" "kubeadm constants.go PauseVersion"
expect_pin AGNHOST_VERSION "$AGNHOST_VERSION" "$(tr -d '[:space:]' <"$agnhost_src/test/images/agnhost/VERSION")" \
  "test/images/agnhost/VERSION at $AGNHOST_KUBERNETES_VERSION"
grep -qF "configs[Agnhost] = Config{list.PromoterE2eRegistry, \"agnhost\", \"$AGNHOST_VERSION\"}" \
  "$agnhost_src/test/utils/image/manifest.go" || die "test/utils/image/manifest.go does not tag agnhost $AGNHOST_VERSION"
grep -qF 'PromoterE2eRegistry:      "registry.k8s.io/e2e-test-images"' "$agnhost_src/test/utils/image/manifest.go" ||
  die "test/utils/image/manifest.go: the e2e registry is not registry.k8s.io/e2e-test-images"
expect_pin CNI_PLUGINS_VERSION "$CNI_PLUGINS_VERSION" \
  "v$(awk '/- name: "cni"/{f=1} f && /version:/{print $2; exit}' "$kube_src/build/dependencies.yaml")" \
  "build/dependencies.yaml (cni)"
expect_pin RUNC_VERSION "$RUNC_VERSION" "$(tr -d '[:space:]' <"$containerd_src/script/setup/runc-version")" \
  "containerd's script/setup/runc-version"
flannel_manifest=$flannel_src/Documentation/kube-flannel.yml
# The manifest's images: flannel's own (built here) and flannel-cni-plugin (not served; see README.md).
manifest_images=$(sed -n 's/^[[:space:]]*image:[[:space:]]*//p' "$flannel_manifest" | LC_ALL=C sort -u)
flannel_cni_image=$(grep '/flannel-cni-plugin:' <<<"$manifest_images" || true)
[[ $(grep -v '/flannel-cni-plugin:' <<<"$manifest_images") == "ghcr.io/flannel-io/flannel:$FLANNEL_VERSION" ]] ||
  die "kube-flannel.yml at $FLANNEL_VERSION names images other than expected: $manifest_images"
took "pins checked against upstream" "$started"

# The Debian tools layer (kube-proxy, flannel, agnhost): lib.sh's debian_tools_rootfs.
build_base_rootfs() { debian_tools_rootfs "$out/base-rootfs" "$work/base-packages.txt"; }

# ---------------------------------------------------------------------------------------------------
# Builds (one `go build` per module group and build configuration; each group its own upstream versions)
# ---------------------------------------------------------------------------------------------------
# go_build GROUP CGO TAGS LDFLAGS OUTDIR [EXTRA_GO_FLAGS...] -- PKGS...
go_build() {
  local group=$1 cgo=$2 tags=$3 ldflags=$4 outdir=$5
  shift 5
  local -a extra=()
  while [[ $1 != -- ]]; do extra+=("$1"); shift; done
  shift
  mkdir -p "$outdir"
  CGO_ENABLED=$cgo measured "go build: $group ($#)" "$work/modules/$group" go build -trimpath ${extra[@]+"${extra[@]}"} \
    -tags "$tags" -ldflags "$ldflags" -o "$outdir/" "$@"
}

kube_time=$(cd "$work" && go list -m -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | jq -r .Time)
epoch=$(date -u -d "$kube_time" +%s)

# Upstream's non-debug build (lib.sh's KUBE_TAGS and kube_ldflags).
build_kubernetes() {
  local -a pkgs
  mapfile -t pkgs < <(group_packages kubernetes)
  go_build kubernetes 0 "$KUBE_TAGS" "$(kube_ldflags "$KUBERNETES_VERSION")" "$out/kubernetes" -- "${pkgs[@]}"
  if [[ $agnhost_group != kubernetes ]]; then
    go_build "$agnhost_group" 0 "$KUBE_TAGS" "$(kube_ldflags "$AGNHOST_KUBERNETES_VERSION")" "$out/kubernetes" \
      -- k8s.io/kubernetes/test/images/agnhost
  fi
}

build_small_groups() {
  # CNI plugins (upstream's release: CGO_ENABLED=0, -extldflags -static, BuildVersion stamped).
  local bv=github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion
  local -a pkgs
  mapfile -t pkgs < <(group_packages cni-plugins)
  go_build cni-plugins 0 "" "-s -w -extldflags -static -X $bv=$CNI_PLUGINS_VERSION" "$out/cni" -- "${pkgs[@]}"
  go_build cni-flannel 0 "" "-s -w -extldflags -static -X $bv=$CNI_FLANNEL_PLUGINS_VERSION" "$out/cni-flannel" \
    -- github.com/containernetworking/plugins/plugins/meta/flannel
  # crictl (cri-tools' Makefile: CGO_ENABLED=0, -trimpath, version without the "v").
  go_build cri-tools 0 "" "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${CRI_TOOLS_VERSION#v}" \
    "$out/cri-tools" -- sigs.k8s.io/cri-tools/cmd/crictl
  # runc (its Makefile's static target: cgo, seccomp, static PIE, netgo osusergo; no libpathrs, see README).
  go_build runc 1 "seccomp urfave_cli_no_docs netgo osusergo" \
    "-s -w -linkmode external -extldflags -static-pie" "$out/runc" -buildmode=pie -- github.com/opencontainers/runc
  # containerd (its Makefile with STATIC=1; the shim is built apart with no_grpc, as upstream does).
  local pkg=github.com/containerd/containerd/v2
  local cld="-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg"
  go_build containerd 0 "urfave_cli_no_docs osusergo netgo static_build" "$cld" "$out/containerd" \
    -- "$pkg/cmd/containerd" "$pkg/cmd/ctr"
  go_build containerd 0 "urfave_cli_no_docs osusergo netgo static_build no_grpc" "$cld -extldflags -static" \
    "$out/containerd" -- "$pkg/cmd/containerd-shim-runc-v2"
  # etcd (its scripts/build_lib.sh: CGO_ENABLED=0, GitSHA stamped; "GitNotFound" is what it stamps
  # without git, and the proxy's module carries no commit).
  mapfile -t pkgs < <(group_packages etcd)
  go_build etcd 0 "" "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=GitNotFound" "$out/etcd" -- "${pkgs[@]}"
  mv "$out/etcd/server" "$out/etcd/etcd" # go names a .../server/v3 main package "server"
  # CoreDNS: upstream's coremain and kubeadm's plugins under a main of ours (modules/coredns/main.go says
  # why), built as its Makefile builds (CGO_ENABLED=0).
  go_build coredns 0 "" "-s -w" "$out/coredns" -- .
  # flannel (Makefile: cgo on amd64 for the UDP backend, static; install-conf without cgo).
  go_build flannel 1 "" "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION -extldflags -static" \
    "$out/flannel" -- github.com/flannel-io/flannel
  mv "$out/flannel/flannel" "$out/flannel/flanneld"
  go_build flannel 0 "" "-s -w" "$out/flannel" -- github.com/flannel-io/flannel/cmd/install_conf
  mv "$out/flannel/install_conf" "$out/flannel/install-conf"
}

# Flannel's source at the tag, minus the one import the proxy cannot serve (modules/flannel/go.mod).
prepare_flannel_source() {
  local dest=$work/modules/flannel/flannel-src
  cp -r "$flannel_src" "$dest"
  chmod -R u+w "$dest"
  local line='	_ "github.com/flannel-io/flannel/pkg/backend/tencentvpc"'
  [[ $(grep -cxF "$line" "$dest/main.go") == 1 ]] || die "flannel main.go: the tencentvpc import is not where expected"
  grep -vxF "$line" "$dest/main.go" >"$dest/main.go.new"
  mv "$dest/main.go.new" "$dest/main.go"
}

check_all_upstream_versions() {
  local started=$SECONDS
  group_versions kubernetes "k8s.io/kubernetes@$KUBERNETES_VERSION"
  if [[ $agnhost_group != kubernetes ]]; then group_versions "$agnhost_group" "k8s.io/kubernetes@$AGNHOST_KUBERNETES_VERSION"; fi
  # Every k8s.io/* module that k8s.io/kubernetes requires at v0.0.0 is replaced by the same release.
  check_staging_replaced "$work/modules/kubernetes"
  group_versions etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3@$ETCD_VERSION" \
    "go.etcd.io/etcd/etcdutl/v3@$ETCD_VERSION"
  group_versions coredns "github.com/coredns/coredns@$COREDNS_VERSION"
  group_versions flannel "github.com/flannel-io/flannel@$FLANNEL_VERSION"
  group_versions cni-plugins "github.com/containernetworking/plugins@$CNI_PLUGINS_VERSION"
  group_versions cni-flannel "github.com/containernetworking/plugins@$CNI_FLANNEL_PLUGINS_VERSION"
  group_versions cri-tools "sigs.k8s.io/cri-tools@$CRI_TOOLS_VERSION"
  group_versions containerd "github.com/containerd/containerd/v2@$CONTAINERD_VERSION"
  group_versions runc "github.com/opencontainers/runc@$RUNC_VERSION"
  took "dependency versions equal upstream's" "$started"
}

# The other groups' modules, fetched in build order while the first builds compile.
download_small_groups() {
  go_download cni-plugins 0 ""
  go_download cni-flannel 0 ""
  go_download cri-tools 0 ""
  go_download runc 1 "seccomp urfave_cli_no_docs netgo osusergo"
  go_download containerd 0 "urfave_cli_no_docs osusergo netgo static_build"
  go_download etcd 0 ""
  go_download coredns 0 ""
  go_download flannel 1 ""
}

prepare_flannel_source
# Downloads and checks run beside the builds: network and go.mod reading while the CPU compiles.
download_kubernetes() {
  go_download kubernetes 0 "$KUBE_TAGS"
  if [[ $agnhost_group != kubernetes ]]; then go_download "$agnhost_group" 0 "$KUBE_TAGS"; fi
}
start_job download-kubernetes download_kubernetes
start_job download-small-groups download_small_groups
start_job tools-layer build_base_rootfs
start_job upstream-versions check_all_upstream_versions
started=$SECONDS
(cd "$script_dir/imagepack" && CGO_ENABLED=0 go build -trimpath -o "$work/imagepack" .)
took "go build: imagepack (ours)" "$started"

# pause: upstream's C source, compiled as build/pause/Makefile does (REV, a git describe, is unknown).
started=$SECONDS
mkdir -p "$out/pause"
gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION" -o "$out/pause/pause" "$kube_src/build/pause/linux/pause.c"
strip "$out/pause/pause"
took "gcc: pause" "$started"

started=$SECONDS
build_small_groups
took "all builds but Kubernetes" "$started"
wait_job download-small-groups
wait_job download-kubernetes
build_kubernetes
wait_job upstream-versions

# ---------------------------------------------------------------------------------------------------
# Checks on what was built: upstream module and version in every Go binary, each binary's own version
# ---------------------------------------------------------------------------------------------------
started=$SECONDS
for b in kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
  expect_module "$out/kubernetes/$b" "k8s.io/kubernetes/cmd/$b" k8s.io/kubernetes "$KUBERNETES_VERSION"
done
expect_module "$out/kubernetes/agnhost" k8s.io/kubernetes/test/images/agnhost k8s.io/kubernetes "$AGNHOST_KUBERNETES_VERSION"
expect_module "$out/kubernetes/kube-log-runner" k8s.io/component-base/logs/kube-log-runner k8s.io/component-base "$KUBERNETES_STAGING_VERSION"
expect_module "$out/etcd/etcd" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
expect_module "$out/etcd/etcdctl" go.etcd.io/etcd/etcdctl/v3 go.etcd.io/etcd/etcdctl/v3 "$ETCD_VERSION"
expect_module "$out/etcd/etcdutl" go.etcd.io/etcd/etcdutl/v3 go.etcd.io/etcd/etcdutl/v3 "$ETCD_VERSION"
expect_module "$out/coredns/coredns" kubeadm-vagrant.test/artifacts/coredns github.com/coredns/coredns "$COREDNS_VERSION"
expect_module "$out/flannel/flanneld" github.com/flannel-io/flannel github.com/flannel-io/flannel "$FLANNEL_VERSION"
expect_module "$out/flannel/install-conf" github.com/flannel-io/flannel/cmd/install_conf github.com/flannel-io/flannel "$FLANNEL_VERSION"
for b in bridge host-local loopback portmap; do
  expect_module "$out/cni/$b" "$(group_packages cni-plugins | grep "/$b$")" github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION"
done
expect_module "$out/cni-flannel/flannel" github.com/containernetworking/plugins/plugins/meta/flannel \
  github.com/containernetworking/plugins "$CNI_FLANNEL_PLUGINS_VERSION"
expect_module "$out/cri-tools/crictl" sigs.k8s.io/cri-tools/cmd/crictl sigs.k8s.io/cri-tools "$CRI_TOOLS_VERSION"
for b in containerd ctr containerd-shim-runc-v2; do
  expect_module "$out/containerd/$b" "github.com/containerd/containerd/v2/cmd/$b" github.com/containerd/containerd/v2 "$CONTAINERD_VERSION"
done
expect_module "$out/runc/runc" github.com/opencontainers/runc github.com/opencontainers/runc "$RUNC_VERSION"

k=$out/kubernetes
[[ $("$k/kubeadm" version -o short) == "$KUBERNETES_VERSION" ]] || die "kubeadm version -o short is not $KUBERNETES_VERSION"
expect_output kubelet "Kubernetes $KUBERNETES_VERSION" "$k/kubelet" --version
expect_output kubectl "Client Version: $KUBERNETES_VERSION" "$k/kubectl" version --client
for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
  expect_output "$b" "Kubernetes $KUBERNETES_VERSION" "$k/$b" --version
done
expect_output etcd "etcd Version: ${ETCD_VERSION#v}" "$out/etcd/etcd" --version
expect_output etcdctl "etcdctl version: ${ETCD_VERSION#v}" "$out/etcd/etcdctl" version
expect_output etcdutl "etcdutl version: ${ETCD_VERSION#v}" "$out/etcd/etcdutl" version
expect_output coredns "CoreDNS-${COREDNS_VERSION#v}" "$out/coredns/coredns" -version
coredns_plugins=$("$out/coredns/coredns" -plugins) # one plugin name a line
for plugin in errors health ready kubernetes prometheus forward cache loop reload loadbalance; do
  grep -qxF "$plugin" <<<"$coredns_plugins" || die "coredns lacks kubeadm's plugin $plugin: $coredns_plugins"
done
expect_output crictl "crictl version ${CRI_TOOLS_VERSION#v}" "$out/cri-tools/crictl" --version
expect_output containerd "containerd github.com/containerd/containerd/v2 $CONTAINERD_VERSION" "$out/containerd/containerd" --version
expect_output ctr "ctr github.com/containerd/containerd/v2 $CONTAINERD_VERSION" "$out/containerd/ctr" --version
expect_output containerd-shim-runc-v2 "Version:  $CONTAINERD_VERSION" "$out/containerd/containerd-shim-runc-v2" -v
expect_output runc "runc version ${RUNC_VERSION#v}" "$out/runc/runc" --version
expect_output runc "libseccomp:" "$out/runc/runc" --version
expect_output flanneld "$FLANNEL_VERSION" "$out/flannel/flanneld" --version
expect_output "CNI plugins" "$CNI_PLUGINS_VERSION" "$out/cni/bridge" --version
expect_output "flannel CNI plugin" "CNI flannel plugin $CNI_FLANNEL_PLUGINS_VERSION" "$out/cni-flannel/flannel" --version
expect_output pause "pause.c v$PAUSE_VERSION" "$out/pause/pause" -v
# Guests get static binaries: nothing may need the host's shared libraries.
for b in "$k"/* "$out"/{etcd,coredns,flannel,cni,cni-flannel,cri-tools,containerd,runc,pause}/*; do
  file_out=$(LC_ALL=C readelf -d "$b" 2>&1 || true)
  ! grep -q '(NEEDED)' <<<"$file_out" || die "$b is dynamically linked"
done

# The images kubeadm itself names for this version are exactly the kubeadm images built here.
kubeadm_images=$("$k/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" 2>/dev/null | LC_ALL=C sort)
spec_images=$("$work/imagepack" -spec "$script_dir/images.json" -list | LC_ALL=C sort)
expected_kubeadm=$(grep -v -e '^ghcr.io/flannel-io/' -e '/e2e-test-images/' <<<"$spec_images")
[[ $kubeadm_images == "$expected_kubeadm" ]] ||
  die "kubeadm config images list names"$'\n'"$kubeadm_images"$'\n'"but the kubeadm images built are"$'\n'"$expected_kubeadm"
took "checks: modules, versions, kubeadm's image list" "$started"

# ---------------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------------
wait_job tools-layer
mkdir -p "$out/agnhost-porter"
cp "$agnhost_src/test/images/agnhost/porter/localhost.crt" "$agnhost_src/test/images/agnhost/porter/localhost.key" "$out/agnhost-porter/"
chmod 0644 "$out"/agnhost-porter/*
started=$SECONDS
"$work/imagepack" -spec "$script_dir/images.json" -from "$out" -out "$adir/images" -epoch "$epoch" \
  -compress="$compress_layers" -info "$work/images-info.json" >&2
took "images (imagepack)" "$started"

# ---------------------------------------------------------------------------------------------------
# The directory: binaries, manifest, build-info.json, SHA256SUMS
# ---------------------------------------------------------------------------------------------------
started=$SECONDS
install -m 0755 "$k"/{kubeadm,kubelet,kubectl} "$out/cri-tools/crictl" "$adir/bin/"
install -m 0755 "$out"/cni/* "$out/cni-flannel/flannel" "$adir/cni/"
install -m 0755 "$out"/containerd/{containerd,containerd-shim-runc-v2,ctr} "$out/runc/runc" "$adir/containerd/"
install -m 0644 "$flannel_manifest" "$adir/manifests/kube-flannel.yml"

# component NAME MODULE VERSION FILE...: one build-info.json entry (sizes of the files given).
component() {
  local name=$1 module=$2 version=$3
  shift 3
  local files='[]' f
  for f in "$@"; do
    files=$(jq --arg path "${f#"$adir"/}" --argjson bytes "$(stat -c %s "$f")" '. + [{path: $path, bytes: $bytes}]' <<<"$files")
  done
  # ("module" is a jq keyword: quoted as a key, renamed as a variable)
  jq -n --arg name "$name" --arg mod "$module" --arg version "$version" --argjson files "$files" \
    '{name: $name, "module": $mod, version: $version, files: $files}'
}
{
  component kubernetes k8s.io/kubernetes "$KUBERNETES_VERSION" "$adir"/bin/{kubeadm,kubelet,kubectl}
  component cri-tools sigs.k8s.io/cri-tools "$CRI_TOOLS_VERSION" "$adir/bin/crictl"
  component cni-plugins github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION" "$adir"/cni/{bridge,host-local,loopback,portmap}
  component cni-flannel github.com/containernetworking/plugins "$CNI_FLANNEL_PLUGINS_VERSION" "$adir/cni/flannel" |
    jq '. + {note: "plugins/meta/flannel: github.com/flannel-io/cni-plugin (where it lives now) is not served by the Go module proxy"}'
  component containerd github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" "$adir"/containerd/{containerd,containerd-shim-runc-v2,ctr}
  component runc github.com/opencontainers/runc "$RUNC_VERSION" "$adir/containerd/runc" |
    jq '. + {note: "static PIE with libseccomp; built without the optional libpathrs tag"}'
  component kube-flannel.yml github.com/flannel-io/flannel "$FLANNEL_VERSION" "$adir/manifests/kube-flannel.yml" |
    jq --arg image "$flannel_cni_image" '. + {note: ("Documentation/kube-flannel.yml at the tag, unmodified; its init container image " + $image + " is not built (its module is not served): install cni/flannel into /opt/cni/bin and drop that init container")}'
  component etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$out/etcd/etcd" | jq '.files = []'
  component coredns github.com/coredns/coredns "$COREDNS_VERSION" "$out/coredns/coredns" | jq '.files = []'
  component flannel github.com/flannel-io/flannel "$FLANNEL_VERSION" "$out/flannel/flanneld" |
    jq '.files = [] | . + {note: "main.go without its tencentvpc backend import: the proxy does not serve github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc"}'
  component agnhost k8s.io/kubernetes/test/images/agnhost "$AGNHOST_KUBERNETES_VERSION" "$k/agnhost" | jq '.files = []'
  component pause k8s.io/kubernetes/build/pause/linux/pause.c "$PAUSE_VERSION" "$out/pause/pause" | jq '.files = []'
} | jq -s --arg kv "$KUBERNETES_VERSION" --arg arch "$arch" --arg recipe "$hash" --arg built "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg go "$(go env GOVERSION)" --argjson images "$(cat "$work/images-info.json")" \
  --arg base "$(LC_ALL=C sort "$work/base-packages.txt" | paste -sd, -)" --argjson compressed "$compress_layers" \
  --arg srcdate "$kube_time" \
  '{kubernetesVersion: $kv, arch: $arch, recipeHash: $recipe, builtAt: $built, sourceDate: $srcdate, go: $go,
    components: ., images: $images, layersCompressed: $compressed,
    toolsLayerDebianPackages: ($base | split(","))}' >"$adir/build-info.json"

write_sums "$adir"
took "checksums and build-info.json" "$started"

# containerd imports every archive (check.sh: the containerd built here, as a process of its own).
started=$SECONDS
bash "$script_dir/check.sh" "$stage" >&2 || die "check.sh"
took "check.sh (containerd import)" "$started"

install_root "$stage" "$root"
log "$(printf '%-40s %4ds, %s' "total" $((SECONDS - build_started)) "$(du -sh "$root" | cut -f1)")"
printf '%s\n' "$root"
