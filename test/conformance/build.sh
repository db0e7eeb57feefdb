#!/usr/bin/env bash
# Builds (or reuses) Kubernetes' own end-to-end test binaries for kubeadm-vagrant's conformance run, from the
# Go module proxy at the cluster's tag (test/artifacts/versions.env):
#   e2e.test  `go test -c k8s.io/kubernetes/test/e2e`, as upstream's `make WHAT=test/e2e/e2e.test` builds it
#             (hack/lib/golang.sh: -trimpath, tags selinux,notest,grpcnotrace, -ldflags "all=-s -w <version>"),
#             but for -vet=off: go test vets the package first, which analyses every package it imports
#             (thousands; none of it in the artifacts' cache) and changes nothing in the binary;
#   ginkgo    github.com/onsi/ginkgo/v2/ginkgo at the version k8s.io/kubernetes's go.mod requires.
# Go's build cache is shared with test/artifacts/build.sh: module/ selects exactly the artifacts' module versions
# (common.sh checks it) and the flags are the same, so after the artifacts build only what test/e2e adds compiles.
# The e2e test images the run starts are build-images.sh's (the dry-run listing needs none).
#
# Prints how long each part took (on stderr) and the directory's path as the last line (on stdout), after a
# line `reused` when it reused one.
# Cache: ${KUBEADM_VAGRANT_CONFORMANCE_CACHE:-/var/cache/kubeadm-vagrant/conformance}/<recipe hash>/, beside the
# artifacts; the recipe is this script, common.sh, module/, test/artifacts/lib.sh and the pins, not the test
# selection: a new selection needs no new binary. Laid out like the artifacts:
#   v1.37.2/amd64/bin/e2e.test, bin/ginkgo   the binaries
#   v1.37.2/amd64/build-info.json            versions, module, flags, sizes, build times
#   v1.37.2/amd64/SHA256SUMS                 over the other two
#   .complete                                written last; the directory is only ever renamed into place whole
set -euo pipefail

LOG_NAME=conformance
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cache_base=${KUBEADM_VAGRANT_CONFORMANCE_CACHE:-/var/cache/kubeadm-vagrant/conformance}
build_started=$SECONDS

hash=$(conformance_hash conformance/build.sh)
root=$cache_base/$hash
for tool in go jq flock sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
start_build "$cache_base" "$hash" "$tree"
stage=$work/root
adir=$stage/$tree
mkdir -p "$adir/bin"
log "recipe $hash; building in $work"

prepare_module
# imports.go names what upstream's e2e_test.go imports (so that go.sum holds their modules).
upstream_imports=$(sed -n '/^import (/,/^)/p' "$kube_src/test/e2e/e2e_test.go" | grep -oE '"[^"]+\.[^"]+"' | tr -d '"' | LC_ALL=C sort -u)
our_imports=$(grep -oE '_ "[^"]+"' "$mod/imports.go" | cut -d'"' -f2 | LC_ALL=C sort -u)
[[ $upstream_imports == "$our_imports" ]] ||
  die "module/imports.go differs from test/e2e/e2e_test.go's imports:"$'\n'"$(diff <(echo "$our_imports") <(echo "$upstream_imports"))"
ginkgo_version=$(cd "$mod" && go list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2)
upstream_ginkgo=$(go mod edit -json "$(cd "$mod" && go list -m -f '{{.GoMod}}' k8s.io/kubernetes)" |
  jq -r '.Require[] | select(.Path == "github.com/onsi/ginkgo/v2") | .Version')
[[ $ginkgo_version == "$upstream_ginkgo" ]] || die "ginkgo $ginkgo_version, but k8s.io/kubernetes requires $upstream_ginkgo"

# ---------------------------------------------------------------------------------------------------
# Builds
# ---------------------------------------------------------------------------------------------------
ldflags="all=$(kube_ldflags "$KUBERNETES_VERSION")"
# Exactly the modules the two builds need (go list loads every package they compile, tests included).
download_modules() {
  go list -test -deps -tags "$KUBE_TAGS" k8s.io/kubernetes/test/e2e >/dev/null
  go list -deps -tags "$KUBE_TAGS" github.com/onsi/ginkgo/v2/ginkgo >/dev/null
}
# build_measured NAME: the last measured() figures as build-info.json's {wallSeconds, cpuSeconds}.
build_measured() { jq -n --argjson wall "$measured_wall" --argjson cpu "$measured_cpu" '{wallSeconds: $wall, cpuSeconds: $cpu}'; }
measured "module download: e2e.test, ginkgo" "$mod" download_modules
measured "go test -c: e2e.test" "$mod" go test -c -vet=off -trimpath -tags "$KUBE_TAGS" -ldflags "$ldflags" -o "$adir/bin/e2e.test" \
  k8s.io/kubernetes/test/e2e
e2e_build=$(build_measured)
measured "go build: ginkgo" "$mod" go build -trimpath -tags "$KUBE_TAGS" -ldflags "$ldflags" -o "$adir/bin/ginkgo" \
  github.com/onsi/ginkgo/v2/ginkgo
ginkgo_build=$(build_measured)

# ---------------------------------------------------------------------------------------------------
# Checks: what each binary was built from, and what it says it is
# ---------------------------------------------------------------------------------------------------
started=$SECONDS
expect_module "$adir/bin/ginkgo" github.com/onsi/ginkgo/v2/ginkgo github.com/onsi/ginkgo/v2 "$ginkgo_version"
expect_module "$adir/bin/e2e.test" k8s.io/kubernetes/test/e2e.test k8s.io/kubernetes "$KUBERNETES_VERSION"
expect_output e2e.test "$KUBERNETES_VERSION" "$adir/bin/e2e.test" --version
expect_output ginkgo "Ginkgo Version ${ginkgo_version#v}" "$adir/bin/ginkgo" version
# The e2e images it asks for are from the registry and at the tags the artifacts and build-images.sh build.
e2e_images=$("$adir/bin/e2e.test" --list-images)
for image in "agnhost:$AGNHOST_VERSION" "busybox:$BUSYBOX_IMAGE_TAG" "nginx:$NGINX_IMAGE_TAG" \
  "glibc-dns-testing:$GLIBC_DNS_TESTING_IMAGE_TAG" "nautilus:$NAUTILUS_IMAGE_TAG" "nonewprivs:$NONEWPRIVS_IMAGE_TAG"; do
  grep -qxF "registry.k8s.io/e2e-test-images/$image" <<<"$e2e_images" || die "e2e.test --list-images does not name registry.k8s.io/e2e-test-images/$image"
done
took "checks: modules, versions, images" "$started"

jq -n --arg kv "$KUBERNETES_VERSION" --arg ginkgo "$ginkgo_version" --arg recipe "$hash" --arg go "$(go env GOVERSION)" \
  --arg built "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg tags "$KUBE_TAGS" --argjson e2e "$e2e_build" --argjson gk "$ginkgo_build" \
  --argjson e2eBytes "$(stat -c %s "$adir/bin/e2e.test")" --argjson ginkgoBytes "$(stat -c %s "$adir/bin/ginkgo")" \
  '{kubernetesVersion: $kv, recipeHash: $recipe, builtAt: $built, go: $go, cgo: false, tags: ($tags | split(",")),
    vet: false, binaries: [
      {path: "bin/e2e.test", module: "k8s.io/kubernetes", version: $kv, package: "k8s.io/kubernetes/test/e2e", bytes: $e2eBytes, build: $e2e},
      {path: "bin/ginkgo", module: "github.com/onsi/ginkgo/v2", version: $ginkgo, package: "github.com/onsi/ginkgo/v2/ginkgo", bytes: $ginkgoBytes, build: $gk}
    ]}' >"$adir/build-info.json"
write_sums "$adir"
install_root "$stage" "$root"
log "$(printf '%-40s %4ds, %s' "total" $((SECONDS - build_started)) "$(du -sh "$root" | cut -f1)")"
printf '%s\n' "$root"
