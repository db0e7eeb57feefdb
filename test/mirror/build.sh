#!/usr/bin/env bash
# Builds (or reuses) the tools of the tests' local registry mirror: go-containerregistry's in-memory
# registry server (cmd/registry) and crane (cmd/crane), at the tag go.mod pins, from the Go module proxy.
#
# Prints the directory holding `registry` and `crane` as the last line on stdout (after a line `reused`
# when it reused one); how long it took on stderr.
# Cache: ${KUBEADM_VAGRANT_MIRROR_TOOLS_CACHE:-/var/cache/kubeadm-vagrant/mirror-tools}/<hash>, the hash
# of what makes the binaries (go.mod, go.sum, this script, the Go version); reused while complete and its
# SHA256SUMS verify; built beside it in a temporary directory, then renamed.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_base=${KUBEADM_VAGRANT_MIRROR_TOOLS_CACHE:-/var/cache/kubeadm-vagrant/mirror-tools}
ggcr=github.com/google/go-containerregistry
ggcr_version=v0.22.1
# The binaries: name, main package.
tools=(registry "$ggcr/cmd/registry" crane "$ggcr/cmd/crane")
# Go as upstream builds it, never fetching another toolchain, never editing go.mod/go.sum.
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0

started=$SECONDS
log() { printf '[mirror-tools] %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

command -v go >/dev/null || die "go is not installed (Go 1.26 in /usr/local/go/bin; .ci/run puts it on PATH)"
command -v jq >/dev/null || die "jq is not installed"
go_version=$(go env GOVERSION)

# serve.mjs and the README are not built, so they are not in the hash: editing them rebuilds nothing.
hash=$(
  cd "$script_dir"
  { sha256sum go.mod go.sum build.sh; printf '%s\n' "$go_version"; } | sha256sum | cut -d' ' -f1
)
root=$cache_base/$hash

verify_root() {
  [[ -f $root/.complete && -f $root/SHA256SUMS ]] && (cd "$root" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1)
}

mkdir -p "$cache_base"
# One build per recipe at a time; a second caller waits and then reuses the first one's directory.
exec {lock_fd}>"$cache_base/.lock-$hash"
flock "$lock_fd"

if verify_root; then
  log "reused $root"
  echo reused
  printf '%s\n' "$root"
  exit 0
fi
[[ -e $root ]] && log "cached $root is incomplete or damaged: rebuilding"

work=$(mktemp -d "$cache_base/.build-$hash.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$script_dir"

# The pin is the one go.mod resolves, and both main packages exist in the module at that tag.
resolved=$(go list -m -f '{{.Version}}' "$ggcr")
[[ $resolved == "$ggcr_version" ]] || die "go.mod resolves $ggcr to $resolved, not $ggcr_version"
module_dir=$(go mod download -json "$ggcr@$ggcr_version" | jq -r .Dir)
for ((i = 0; i < ${#tools[@]}; i += 2)); do
  pkg=${tools[i + 1]}
  [[ -f $module_dir/${pkg#"$ggcr"/}/main.go ]] || die "$ggcr@$ggcr_version has no ${pkg#"$ggcr"/}/main.go"
done
# Every module that upstream's go.mod requires is built at exactly upstream's version (ours raise nothing).
while read -r path version; do
  ours=$(go list -m -f '{{.Version}}' "$path")
  [[ $ours == "$version" ]] || die "$path is $ours here but $version in $ggcr@$ggcr_version's go.mod"
done < <(go mod edit -json "$module_dir/go.mod" | jq -r '.Require[] | "\(.Path) \(.Version)"')

pkgs=()
for ((i = 1; i < ${#tools[@]}; i += 2)); do pkgs+=("${tools[i]}"); done
go build -trimpath -ldflags "-s -w" -o "$work/" "${pkgs[@]}"

# Each binary names its main package and the upstream module at the pinned version.
for ((i = 0; i < ${#tools[@]}; i += 2)); do
  bin=$work/${tools[i]} pkg=${tools[i + 1]}
  info=$(cd "$work" && go version -m "./${tools[i]}") || die "go version -m $bin"
  grep -qP "^\tpath\t\Q$pkg\E$" <<<"$info" || die "$bin: main package is not $pkg"
  grep -qP "^\t(dep|mod)\t\Q$ggcr\E\t\Q$ggcr_version\E(\t|$)" <<<"$info" || die "$bin: not built from $ggcr $ggcr_version"
  printf '%s\n' "$info" >>"$work/build-info.txt"
done
crane_version=$("$work/crane" version) || die "crane does not run"
[[ $crane_version == "$ggcr_version" ]] || die "crane version says $crane_version, not $ggcr_version"

(cd "$work" && sha256sum registry crane build-info.txt >SHA256SUMS)
date -u +%Y-%m-%dT%H:%M:%SZ >"$work/.complete"
chmod 0755 "$work"
if [[ -e $root ]]; then
  stale=$(mktemp -d "$cache_base/.stale-$hash.XXXXXX")
  mv "$root" "$stale/"
  rm -rf "$stale"
fi
mv "$work" "$root"
trap - EXIT
log "built $root in $((SECONDS - started)) s ($ggcr $ggcr_version, $go_version)"
printf '%s\n' "$root"
