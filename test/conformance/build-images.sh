#!/usr/bin/env bash
# Builds (or reuses) the e2e test images the chosen conformance tests start (selection.yaml), by the exact
# references e2e.test asks for (test/utils/image/manifest.go at the cluster's tag): agnhost (with its
# Dockerfile's tools: dig, curl, OpenBSD nc, ip, bash, socat, getent, and its users), nautilus, nonewprivs,
# and Debian stand-ins for glibc-dns-testing, busybox and nginx, in one archive that holds their shared layers
# once. Only the conformance run imports them (into every node's containerd, after `up`): the cluster's own
# artifacts (test/artifacts) carry only what a cluster and its smoke test run, so their build, which the main
# end-to-end test waits for, does none of this. README.md's "Kubernetes' conformance tests" says how each
# image is made and how it differs from upstream's.
#
# Usage: build-images.sh [ARTIFACTS_ROOT]   (as root) ARTIFACTS_ROOT: an artifacts directory test/artifacts/
# build.sh printed, whose containerd check-images.sh runs the images with; without it, build.sh is run (and
# reuses its cache). Prints the part times on stderr and the directory's path as the last line on stdout
# (after a line `reused` when it reused one).
# Cache: ${KUBEADM_VAGRANT_E2E_IMAGES_CACHE:-/var/cache/kubeadm-vagrant/e2e-test-images}/<recipe hash>/:
#   v1.37.2/amd64/images/e2e-test-images.tar   the images (an OCI image layout, as the artifacts' archives)
#   v1.37.2/amd64/build-info.json              what each was built from, its layers' digests, Debian packages
#   v1.37.2/amd64/SHA256SUMS                   over the other files
#   .complete                                  written last; the directory is only ever renamed into place whole
set -euo pipefail

LOG_NAME=e2e-images
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cache_base=${KUBEADM_VAGRANT_E2E_IMAGES_CACHE:-/var/cache/kubeadm-vagrant/e2e-test-images}
artifacts_root=${1:-}
# PATH inside every image (the upstream images' default), as images.json and the artifacts' images.json say.
export IMAGE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
build_started=$SECONDS

# The recipe: the images' spec and this build's scripts, the shared layers' spec and imagepack, and common.sh's.
hash=$(conformance_hash conformance/build-images.sh conformance/check-images.sh conformance/images.json \
  artifacts/images.json artifacts/imagepack artifacts/containerd.sh)
root=$cache_base/$hash
[[ $(id -u) == 0 ]] || die "run as root (the Debian layers are extracted from Debian packages, check-images.sh runs containerd)"
for tool in go jq apt-get dpkg-deb chroot flock sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
start_build "$cache_base" "$hash" "$tree"
out=$work/out # the files the images are made of (images.json's -from directory)
stage=$work/root
adir=$stage/$tree
mkdir -p "$out/kubernetes" "$out/agnhost-porter" "$out/nautilus" "$adir/images"
log "recipe $hash; building in $work"
# The artifacts whose containerd check-images.sh runs the images with (built, or reused, now if not given).
if [[ -z $artifacts_root ]]; then
  artifacts_root=$(bash "$artifacts_recipe/build.sh" | tail -n 1) || die "test/artifacts/build.sh"
fi
[[ -x $(echo "$artifacts_root"/v*/amd64/containerd/containerd) ]] || die "$artifacts_root has no v*/amd64/containerd/containerd"

# ---------------------------------------------------------------------------------------------------
# The module and the pins, checked against upstream at their tags
# ---------------------------------------------------------------------------------------------------
prepare_module
started=$SECONDS
# expect_e2e_image ID NAME TAG: test/utils/image/manifest.go names registry.k8s.io/e2e-test-images/NAME:TAG as ID.
manifest=$kube_src/test/utils/image/manifest.go
expect_e2e_image() {
  grep -qF "configs[$1] = Config{list.PromoterE2eRegistry, \"$2\", \"$3\"}" "$manifest" ||
    die "test/utils/image/manifest.go does not tag $2 $3 (as $1)"
}
grep -qF 'PromoterE2eRegistry:      "registry.k8s.io/e2e-test-images"' "$manifest" ||
  die "test/utils/image/manifest.go: the e2e registry is not registry.k8s.io/e2e-test-images"
expect_e2e_image Agnhost agnhost "$AGNHOST_VERSION"
expect_e2e_image BusyBox busybox "$BUSYBOX_IMAGE_TAG"
expect_e2e_image Nginx nginx "$NGINX_IMAGE_TAG"
expect_e2e_image GlibcDnsTesting glibc-dns-testing "$GLIBC_DNS_TESTING_IMAGE_TAG"
expect_e2e_image Nautilus nautilus "$NAUTILUS_IMAGE_TAG"
expect_e2e_image Nonewprivs nonewprivs "$NONEWPRIVS_IMAGE_TAG"
expect_pin AGNHOST_VERSION "$AGNHOST_VERSION" "$(tr -d '[:space:]' <"$kube_src/test/images/agnhost/VERSION")" \
  "test/images/agnhost/VERSION"
expect_pin NONEWPRIVS_IMAGE_TAG "$NONEWPRIVS_IMAGE_TAG" "$(tr -d '[:space:]' <"$kube_src/test/images/nonewprivs/VERSION")" \
  "test/images/nonewprivs/VERSION"
nautilus_src=$(module_dir "k8s.io/kubernetes@$NAUTILUS_SOURCE_VERSION")/test/images/nautilus
expect_pin NAUTILUS_IMAGE_TAG "$NAUTILUS_IMAGE_TAG" "$(tr -d '[:space:]' <"$nautilus_src/VERSION")" \
  "test/images/nautilus/VERSION at $NAUTILUS_SOURCE_VERSION"
took "pins checked against upstream" "$started"

# ---------------------------------------------------------------------------------------------------
# The Debian layers (lib.sh): the artifacts' tools layer, and above it the test tools and nginx; busybox alone
# ---------------------------------------------------------------------------------------------------
build_debian_layers() {
  local tools=$out/base-rootfs # images.json's debian-tools layer (the artifacts' images.json)
  debian_tools_rootfs "$tools" "$work/debian-tools.txt"
  # agnhost's tools (and glibc-dns-testing's, nautilus's): netcat-openbsd's alternatives (nc, netcat) and
  # upstream agnhost's /usr/local/bin/iperf link made by hand.
  local rootfs=$out/test-tools-rootfs
  # shellcheck disable=SC2086 # word lists
  debian_rootfs "$rootfs" "$work/debian-test-tools.txt" "$work/debian-tools.txt" $BASE_PACKAGES $TEST_TOOLS_PACKAGES
  ln -s nc.openbsd "$rootfs/usr/bin/nc"
  ln -s nc.openbsd "$rootfs/usr/bin/netcat"
  mkdir -p "$rootfs/usr/local/bin"
  ln -s /usr/bin/iperf "$rootfs/usr/local/bin/iperf"
  # nginx above the tools layer, which gives it busybox's sh.
  # shellcheck disable=SC2086 # word lists
  debian_rootfs "$out/nginx-rootfs" "$work/debian-nginx.txt" "$work/debian-tools.txt" $BASE_PACKAGES $NGINX_PACKAGES
  # busybox alone (the static build), every applet a link in /bin as in the busybox image.
  rootfs=$out/busybox-rootfs
  # shellcheck disable=SC2086 # a word list
  MERGE_USR=no debian_rootfs "$rootfs" "$work/debian-busybox.txt" /dev/null $BUSYBOX_PACKAGES
  local applet
  while read -r applet; do
    [[ -e $rootfs/bin/$applet ]] || ln -s busybox "$rootfs/bin/$applet"
  done < <(chroot "$rootfs" /bin/busybox --list)
  local said
  said=$(chroot "$rootfs" /bin/sh -c 'echo ok >/tmp.ok && cat /tmp.ok && rm /tmp.ok' 2>&1) || true
  [[ $said == ok ]] || die "busybox: sh -c 'echo ok >/tmp.ok && cat /tmp.ok && rm /tmp.ok' printed: $said"
}
build_debian_layers

# ---------------------------------------------------------------------------------------------------
# Builds: agnhost and nonewprivs as the artifacts build Kubernetes' binaries, and imagepack
# ---------------------------------------------------------------------------------------------------
measured "go build: agnhost, nonewprivs" "$mod" go build -trimpath -tags "$KUBE_TAGS" \
  -ldflags "$(kube_ldflags "$KUBERNETES_VERSION")" -o "$out/kubernetes/" \
  k8s.io/kubernetes/test/images/agnhost k8s.io/kubernetes/test/images/nonewprivs
expect_module "$out/kubernetes/agnhost" k8s.io/kubernetes/test/images/agnhost k8s.io/kubernetes "$KUBERNETES_VERSION"
expect_module "$out/kubernetes/nonewprivs" k8s.io/kubernetes/test/images/nonewprivs k8s.io/kubernetes "$KUBERNETES_VERSION"
for b in "$out"/kubernetes/*; do
  ! LC_ALL=C readelf -d "$b" 2>&1 | grep -q '(NEEDED)' || die "$b is dynamically linked"
done
started=$SECONDS
(cd "$artifacts_recipe/imagepack" && go build -trimpath -o "$work/imagepack" .)
took "go build: imagepack (ours)" "$started"

# ---------------------------------------------------------------------------------------------------
# The images, build-info.json, SHA256SUMS; then check-images.sh runs each in the artifacts' containerd
# ---------------------------------------------------------------------------------------------------
cp "$kube_src/test/images/agnhost/porter/localhost.crt" "$kube_src/test/images/agnhost/porter/localhost.key" "$out/agnhost-porter/"
cp "$nautilus_src/html/nautilus.jpg" "$nautilus_src/html/data.json" "$out/nautilus/"
chmod 0644 "$out"/agnhost-porter/* "$out"/nautilus/*
kube_time=$(cd "$work" && go list -m -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | jq -r .Time)
started=$SECONDS
"$work/imagepack" -spec "$conformance_dir/images.json" -from "$out" -out "$adir/images" -epoch "$(date -u -d "$kube_time" +%s)" \
  -compress=true -info "$work/images-info.json" >&2
took "images (imagepack)" "$started"

# debian_layers_json: {"<layer>": ["<package> <version>", ...], ...} of every Debian layer built.
debian_layers_json() {
  local f
  for f in "$work"/debian-*.txt; do
    jq -R -s --arg name "$(basename "$f" .txt | sed 's/^debian-//')" '{($name): (split("\n") | map(select(. != "")) | sort)}' "$f"
  done | jq -s 'add'
}
jq -n --arg kv "$KUBERNETES_VERSION" --arg recipe "$hash" --arg built "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg srcdate "$kube_time" --arg go "$(go env GOVERSION)" --arg nautilus "$NAUTILUS_SOURCE_VERSION" \
  --argjson images "$(cat "$work/images-info.json")" --argjson debian "$(debian_layers_json)" \
  '{kubernetesVersion: $kv, arch: "amd64", recipeHash: $recipe, builtAt: $built, sourceDate: $srcdate, go: $go,
    components: [
      {name: "agnhost", "module": "k8s.io/kubernetes", version: $kv, package: "k8s.io/kubernetes/test/images/agnhost"},
      {name: "nonewprivs", "module": "k8s.io/kubernetes", version: $kv, package: "k8s.io/kubernetes/test/images/nonewprivs"},
      {name: "nautilus", "module": "k8s.io/kubernetes", version: $nautilus, files: "test/images/nautilus/html/{nautilus.jpg,data.json}"}
    ],
    images: $images, layersCompressed: true, debianLayers: $debian}' >"$adir/build-info.json"
write_sums "$adir"

started=$SECONDS
bash "$conformance_dir/check-images.sh" "$stage" "$artifacts_root" >&2 || die "check-images.sh"
took "check-images.sh (containerd import, run)" "$started"

install_root "$stage" "$root"
log "$(printf '%-40s %4ds, %s' "total" $((SECONDS - build_started)) "$(du -sh "$root" | cut -f1)")"
printf '%s\n' "$root"
