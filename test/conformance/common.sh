# shellcheck shell=bash
# What test/conformance/build.sh (e2e.test and ginkgo) and build-images.sh (the e2e test images) share:
# test/artifacts/lib.sh, the pins (the cluster's, test/artifacts/versions.env, then the conformance run's own,
# versions.env here), Go as the artifacts build it, and module/, the Go module both build from. Sourced after
# the caller sets LOG_NAME.
conformance_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
artifacts_recipe=$(cd "$conformance_dir/../artifacts" && pwd)
# shellcheck source-path=SCRIPTDIR source=../artifacts/lib.sh
source "$artifacts_recipe/lib.sh"
set -a
# shellcheck disable=SC1091 # versions.env holds only NAME=value lines
source "$artifacts_recipe/versions.env"
# shellcheck disable=SC1091 # likewise
source "$conformance_dir/versions.env"
set +a
# Go as upstream builds it, never fetching another toolchain, never editing go.mod/go.sum. Every Kubernetes
# binary here is static (test/artifacts/README.md), which also keeps the dependencies' compiled packages
# identical to the artifacts' (cgo changes the net package and all above it): one Go build cache for both.
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
arch=amd64
tree=$KUBERNETES_VERSION/$arch

# conformance_hash PATH...: the recipe hash over common.sh, module/ and the pins (both versions.env and
# lib.sh) and the PATHs (relative to test/), the caller's own files.
conformance_hash() {
  file_sums "$conformance_dir/.." conformance/common.sh conformance/module conformance/versions.env \
    artifacts/lib.sh artifacts/versions.env "$@" | sha256sum | cut -d' ' -f1
}

# prepare_module: module/ copied to $work/module (set as mod), checked: k8s.io/kubernetes at the cluster's tag
# with upstream's dependency versions, the staging modules at their release, and every module it shares
# with the artifacts' Kubernetes build at exactly the artifacts' version (one build cache entry per package).
# Sets kube_src (k8s.io/kubernetes's source at the tag).
prepare_module() {
  local started=$SECONDS shared_mismatch
  mod=$work/module
  cp -r "$conformance_dir/module" "$mod"
  # shellcheck disable=SC2034 # the caller reads kube_src
  kube_src=$(module_dir "k8s.io/kubernetes@$KUBERNETES_VERSION")
  check_upstream_versions "$mod" "k8s.io/kubernetes@$KUBERNETES_VERSION"
  check_staging_replaced "$mod"
  shared_mismatch=$(join <(cd "$mod" && go list -m -f '{{.Path}} {{.Version}}' all | LC_ALL=C sort) \
    <(cd "$artifacts_recipe/modules/kubernetes" && go list -m -f '{{.Path}} {{.Version}}' all | LC_ALL=C sort) |
    awk '$2 != $3')
  [[ -z $shared_mismatch ]] || die "module versions differ from test/artifacts/modules/kubernetes:"$'\n'"$shared_mismatch"
  took "module versions checked" "$started"
}
