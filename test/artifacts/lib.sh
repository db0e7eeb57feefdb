# shellcheck shell=bash
# Functions shared by the builds from upstream source: test/artifacts/build.sh (the offline artifacts),
# test/conformance/build.sh (Kubernetes' e2e.test and ginkgo) and test/conformance/build-images.sh (the e2e
# test images the conformance tests start). Sourced; the caller sets LOG_NAME, and start_build sets `work`
# (the build's scratch directory, outside any Go module), which module_dir, kube_ldflags, install_root and
# the Debian layers use.
# shellcheck disable=SC2154 # work is start_build's

log() { printf '[%s] %s\n' "$LOG_NAME" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
# took NAME START: print how long the part NAME took since START (a $SECONDS value).
took() { log "$(printf '%-40s %4ds' "$1" $((SECONDS - $2)))"; }

# file_sums BASE FIND_ARGS...: sha256sum lines of the files `find FIND_ARGS` names below BASE (relative paths,
# sorted; editor swap files left out). A recipe hash is the hash of these lines.
file_sums() {
  local base=$1
  shift
  (cd "$base" && find "$@" -type f ! -name '*.swp' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

# verify_tree DIR: SHA256SUMS in DIR verifies and lists every other file there, no more, no less.
verify_tree() {
  local dir=$1
  [[ -f $dir/SHA256SUMS ]] || return 1
  (cd "$dir" && sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1) || return 1
  diff <(cd "$dir" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort) \
    <(sed 's/^[0-9a-f]\{64\}  //' "$dir/SHA256SUMS") >/dev/null
}

# write_sums DIR: SHA256SUMS over every other file below DIR (sorted, paths relative to DIR), then verified.
write_sums() {
  local dir=$1 sums
  sums=$(cd "$dir" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs -d '\n' sha256sum)
  printf '%s\n' "$sums" >"$dir/SHA256SUMS"
  verify_tree "$dir" || die "$dir/SHA256SUMS does not verify"
}

# start_build CACHE_BASE HASH TREE: takes the recipe's lock (held until the caller exits: one build per recipe
# at a time; a second caller waits, then reuses the first one's result). When CACHE_BASE/HASH is complete and
# its TREE (a relative path) verifies, prints "reused" and the path and exits 0. Otherwise makes the scratch
# directory `work` beside it, removed on exit with any background job still running.
start_build() {
  local base=$1 hash=$2 tree=$3 root=$1/$2
  mkdir -p "$base"
  exec {recipe_lock_fd}>"$base/.lock-$hash"
  flock "$recipe_lock_fd"
  if [[ -f $root/.complete ]] && verify_tree "$root/$tree"; then
    log "reused $root (recipe $hash; SHA256SUMS verified)"
    echo reused
    printf '%s\n' "$root"
    exit 0
  fi
  [[ ! -e $root ]] || log "cached $root is incomplete or damaged: rebuilding"
  work=$(mktemp -d "$base/.build-$hash.XXXXXX")
  trap cleanup_build EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
cleanup_build() {
  local pid
  for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

# install_root STAGE ROOT: marks STAGE complete and renames it to ROOT (a stale ROOT is moved aside into $work).
install_root() {
  date -u +%Y-%m-%dT%H:%M:%SZ >"$1/.complete"
  if [[ -e $2 ]]; then
    mv "$2" "$work/stale-root"
  fi
  mv "$1" "$2"
}

# child_cpu: set cpu_ticks to the CPU time (user+system, 1/100 s) this shell's finished children used,
# a figure that, unlike wall time, does not grow when other work shares the machine's cores.
child_cpu() {
  local -a stat
  read -ra stat <"/proc/$BASHPID/stat"
  cpu_ticks=$((stat[15] + stat[16]))
}

# measured LABEL DIR COMMAND...: runs COMMAND in DIR and logs its wall and CPU time under LABEL; they stay in
# measured_wall and measured_cpu (seconds).
measured() {
  local label=$1 dir=$2 started=$SECONDS cpu_before
  shift 2
  child_cpu
  cpu_before=$cpu_ticks
  (cd "$dir" && "$@")
  child_cpu
  measured_wall=$((SECONDS - started))
  measured_cpu=$(((cpu_ticks - cpu_before) / 100))
  log "$(printf '%-40s %4ds (CPU %ds)' "$label" "$measured_wall" "$measured_cpu")"
}

# module_dir MODULE@VERSION: the module's extracted source in the module cache (downloaded if needed).
module_dir() {
  local dir
  dir=$(cd "$work" && go mod download -json "$1" | jq -r '.Dir // empty')
  [[ -n $dir && -d $dir ]] || die "go mod download $1"
  printf '%s\n' "$dir"
}

# expect_pin WHAT PINNED UPSTREAM_VALUE SOURCE
expect_pin() {
  [[ $2 == "$3" ]] || die "pin $1=$2 but upstream $4 says $3"
}

# check_upstream_versions MODULE_DIR MODULE@VERSION...: the Go module in MODULE_DIR builds each upstream
# MODULE at its pinned VERSION, and every requirement in that module's go.mod at exactly the version upstream
# pins (our go.mod may raise nothing).
check_upstream_versions() {
  local dir=$1
  shift
  local selected upstream_mod mod pinned mismatches
  selected=$(cd "$dir" && go list -m -f '{{.Path}} {{.Version}}' all)
  for pinned in "$@"; do
    mod=${pinned%@*}
    grep -qxF "$mod ${pinned#*@}" <<<"$selected" || die "${dir##*/}: go.mod does not build $pinned"
    upstream_mod=$(cd "$dir" && go list -m -f '{{.GoMod}}' "$mod")
    mismatches=$(go mod edit -json "$upstream_mod" |
      jq -r '.Require[]? | "\(.Path) \(.Version)"' | grep -v ' v0\.0\.0$' |
      while read -r path version; do
        grep -qxF "$path $version" <<<"$selected" || printf '%s wants %s, built with %s\n' "$path" "$version" \
          "$(grep "^$path " <<<"$selected" | cut -d' ' -f2)"
      done)
    [[ -z $mismatches ]] || die "${dir##*/}: dependency versions differ from $mod's go.mod:"$'\n'"$mismatches"
  done
}

# check_staging_replaced MODULE_DIR: every k8s.io/* module that k8s.io/kubernetes requires at v0.0.0 is
# replaced by the release KUBERNETES_STAGING_VERSION.
check_staging_replaced() {
  local staging
  staging=$(cd "$1" && go list -m -f '{{.Path}} {{.Version}} {{with .Replace}}{{.Version}}{{end}}' all |
    awk '$2 == "v0.0.0"')
  if [[ -z $staging ]] || grep -qv " v0\.0\.0 $KUBERNETES_STAGING_VERSION$" <<<"$staging"; then
    die "${1##*/}: staging modules not all replaced by $KUBERNETES_STAGING_VERSION:"$'\n'"$staging"
  fi
}

# Upstream's non-debug build of Kubernetes: -trimpath, -s -w, these tags (hack/lib/golang.sh).
# shellcheck disable=SC2034 # the scripts that source this use it
readonly KUBE_TAGS=selinux,notest,grpcnotrace

# kube_ldflags VERSION: -s -w and the version stamps of a k8s.io/kubernetes release (hack/lib/version.sh):
# its tag, and the time and commit of the module the proxy published.
kube_ldflags() {
  local version=$1 info time commit minor p ld="-s -w"
  info=$(cd "$work" && go list -m -json "k8s.io/kubernetes@$version")
  time=$(jq -r .Time <<<"$info")
  commit=$(jq -r '.Origin.Hash // empty' <<<"$info")
  minor=${version#v1.}
  minor=${minor%%.*}
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X '$p.gitVersion=$version' -X '$p.gitMajor=1' -X '$p.gitMinor=$minor'"
    ld+=" -X '$p.gitTreeState=clean' -X '$p.buildDate=$(date -u -d "$time" +%Y-%m-%dT%H:%M:%SZ)'"
    [[ -z $commit ]] || ld+=" -X '$p.gitCommit=$commit'"
  done
  printf '%s\n' "$ld"
}

# expect_module BINARY PACKAGE MODULE VERSION: built from PACKAGE, in MODULE at VERSION (`go version -m`).
expect_module() {
  local info
  info=$(go version -m "$1") || die "go version -m $1"
  grep -qP "^\tpath\t\Q$2\E$" <<<"$info" || die "$1: main package is not $2"
  # a dep line, or the line after it when a replace maps a k8s.io/* v0.0.0 requirement to its release
  grep -qP "^\t(dep|mod|=>)\t\Q$3\E\t\Q$4\E(\t|$)" <<<"$info" || die "$1: not built from $3 $4"
}

# expect_output WHAT EXPECTED COMMAND...: the command's output (stdout and stderr) contains EXPECTED.
expect_output() {
  local what=$1 expected=$2 output
  shift 2
  output=$("$@" 2>&1) || die "$what: $* failed: $output"
  grep -qF -- "$expected" <<<"$output" || die "$what: expected \"$expected\" in the output of $*, got: $output"
}

# ---------------------------------------------------------------------------------------------------
# Debian layers: dependency closures of bookworm packages (what apt installs for them on an empty system,
# without recommends), unpacked with dpkg-deb (no maintainer scripts), docs, man pages and locales removed.
# A layer that goes above another holds only the packages its closure adds to the one below.
# ---------------------------------------------------------------------------------------------------
# debian_closure PACKAGES...: the packages, one a line, sorted.
debian_closure() {
  [[ $# -gt 0 ]] || return 0
  : >"$work/empty-dpkg-status"
  apt-get -s -qq -o Dir::State::status="$work/empty-dpkg-status" -o APT::Install-Recommends=false install "$@" |
    awk '/^Inst /{print $2}' | LC_ALL=C sort -u
}

# debian_rootfs ROOTFS LIST BELOW PACKAGES...: unpacks into ROOTFS the closure of PACKAGES minus the packages
# the file BELOW lists (the LIST of the layer below; /dev/null for none) and writes to LIST a line for each
# package unpacked, as dpkg-deb prints its fields: "Package: NAME Version: VERSION". /usr is merged as
# bookworm has it (bin, sbin, lib, lib64 are links into usr) unless MERGE_USR=no.
debian_rootfs() {
  local rootfs=$1 list=$2 below=$3 started=$SECONDS
  shift 3
  local debs
  debs=$(mktemp -d "$work/debs.XXXXXX")
  mkdir -p "$rootfs"
  local -a closure
  mapfile -t closure < <(LC_ALL=C comm -23 <(debian_closure "$@") <(awk '{print $2}' "$below" | LC_ALL=C sort -u))
  (cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root "${closure[@]}")
  local deb
  : >"$list"
  for deb in "$debs"/*.deb; do
    dpkg-deb -x "$deb" "$rootfs"
    dpkg-deb -f "$deb" Package Version | paste -sd' ' >>"$list"
  done
  rm -rf "$debs"
  local d
  if [[ ${MERGE_USR:-yes} == yes ]]; then
    for d in bin sbin lib lib64; do
      if [[ -d $rootfs/$d && ! -L $rootfs/$d ]]; then
        mkdir -p "$rootfs/usr/$d"
        cp -a "$rootfs/$d/." "$rootfs/usr/$d/"
        rm -rf "${rootfs:?}/$d"
      fi
      ln -s "usr/$d" "$rootfs/$d"
    done
  fi
  rm -rf "$rootfs"/usr/share/{doc,man,info,locale,lintian,bug,doc-base} "$rootfs"/etc/{init.d,default,logrotate.d}
  rm -rf "$rootfs"/usr/lib/x86_64-linux-gnu/gconv
  log "$(printf '%-40s %4ds, %s, %d packages' "Debian layer: ${rootfs##*/}" $((SECONDS - started)) "$(du -sh "$rootfs" | cut -f1)" "${#closure[@]}")"
}

# debian_tools_rootfs ROOTFS LIST: the tools layer of kube-proxy, flannel, agnhost and the other e2e test images
# (BASE_PACKAGES: iptables with the nf_tables backend, nft, conntrack, busybox's applets), checked by running
# the tools in it.
debian_tools_rootfs() {
  local rootfs=$1
  # shellcheck disable=SC2086 # BASE_PACKAGES is a word list
  debian_rootfs "$rootfs" "$2" /dev/null $BASE_PACKAGES
  # Debian's alternatives for iptables (postinst's update-alternatives): the nf_tables backend.
  local t
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    [[ -e $rootfs/usr/sbin/$t ]] || ln -s "${t/tables/tables-nft}" "$rootfs/usr/sbin/$t"
  done
  # busybox's applets (sh, cp, ls, ...) wherever no package put a real program.
  local applet
  while read -r applet; do
    applet=${applet#/}
    applet=usr/${applet#usr/}
    [[ -e $rootfs/$applet || -L $rootfs/$applet ]] || ln -s /usr/bin/busybox "$rootfs/$applet"
  done < <(chroot "$rootfs" /usr/bin/busybox --list-full)
  # What the images run must work: the tools, through the alternatives links, in the layer itself.
  chroot "$rootfs" /usr/sbin/iptables --version | grep -q 'nf_tables' || die "iptables is not the nft backend"
  chroot "$rootfs" /usr/sbin/ip6tables-save --version >&2
  chroot "$rootfs" /usr/sbin/nft --version >&2
  chroot "$rootfs" /usr/sbin/conntrack --version >&2
  chroot "$rootfs" /bin/sh -c 'cp /etc/protocols /protocols.copy && rm /protocols.copy'
}
