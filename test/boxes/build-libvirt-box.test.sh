#!/bin/bash
# Checks of boxes/build-libvirt-box.sh that need neither root nor a build: suite selection, one
# recipe hash per suite (a suite's own files change only its own box), the package lists (no
# container runtime; what kubeadm and kube-proxy use on the host is there), and shellcheck.
# Usage: test/boxes/build-libvirt-box.test.sh   (exit 0 when every check passes)
# With CI=true a missing shellcheck fails instead of being skipped.
set -euo pipefail

repo_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
script=$repo_dir/boxes/build-libvirt-box.sh
failures=0
work_dir=$(mktemp -d)
trap 'rm -rf "$work_dir"' EXIT

pass() { printf 'PASS %s\n' "$*"; }
fail() {
  printf 'FAIL %s\n' "$*"
  failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...: passes when COMMAND succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
is_sha256() { [[ $1 =~ ^[0-9a-f]{64}$ ]]; }

# hash_of [SCRIPT] ARGS...: the recipe hash the script prints (no root needed, nothing is built).
hash_of() { bash "$script" "$@" --recipe-hash; }

# ---- suite selection -------------------------------------------------------------------------
bookworm=$(hash_of --suite bookworm)
trixie=$(hash_of --suite trixie)
check "bookworm's recipe hash is a sha256 ($bookworm)" is_sha256 "$bookworm"
check "trixie's recipe hash is a sha256 ($trixie)" is_sha256 "$trixie"
check "the two suites have different recipe hashes" test "$bookworm" != "$trixie"
check "the default suite is bookworm" test "$(env -u KUBEADM_VAGRANT_BOX_SUITE bash "$script" --recipe-hash)" = "$bookworm"
check "KUBEADM_VAGRANT_BOX_SUITE=trixie selects trixie" test "$(KUBEADM_VAGRANT_BOX_SUITE=trixie bash "$script" --recipe-hash)" = "$trixie"
check "--suite wins over KUBEADM_VAGRANT_BOX_SUITE" test "$(KUBEADM_VAGRANT_BOX_SUITE=trixie hash_of --suite=bookworm)" = "$bookworm"
check "the hash is stable" test "$(hash_of --suite trixie)" = "$trixie"

# ---- --emulation: its own box, booting with mitigations=off tsc=reliable ---------------------
emulated=$(hash_of --suite bookworm --emulation)
check "the emulation box has a recipe hash of its own ($emulated)" test "$emulated" != "$bookworm"
check "the emulation box's hash is stable" test "$(hash_of --emulation --suite bookworm)" = "$emulated"
plain_cmdline=$(bash "$script" --suite bookworm --kernel-cmdline)
emulated_cmdline=$(bash "$script" --suite bookworm --emulation --kernel-cmdline)
check "a plain box keeps the kernel's mitigations ($plain_cmdline)" test -z "$(grep -o 'mitigations=' <<<"$plain_cmdline")"
check "the emulation box boots with mitigations=off ($emulated_cmdline)" grep -qw 'mitigations=off' <<<"$emulated_cmdline"
check "the emulation box trusts the TSC as clocksource ($emulated_cmdline)" grep -qw 'tsc=reliable' <<<"$emulated_cmdline"
check "the plain box leaves the TSC to the kernel ($plain_cmdline)" test -z "$(grep -o 'tsc=' <<<"$plain_cmdline")"
check "the emulation box keeps the plain box's other arguments" test "${emulated_cmdline% mitigations=off tsc=reliable}" = "$plain_cmdline"
check "both boot read-only root and the serial console" grep -q '^ro .*console=ttyS0,115200n8' <<<"$plain_cmdline"

set +e
out=$(bash "$script" --suite sid --recipe-hash 2>&1)
rc=$?
set -e
check "an unknown suite is refused with exit 2 (got $rc)" test "$rc" -eq 2
check "an unknown suite names the known ones" grep -q "unknown suite 'sid' (bookworm or trixie)" <<<"$out"
set +e
bash "$script" --no-such-option >/dev/null 2>&1
rc=$?
set -e
check "an unknown option is refused with exit 2 (got $rc)" test "$rc" -eq 2

# ---- one recipe hash per suite, in a copy of boxes/ -----------------------------------------
cp -a "$repo_dir/boxes" "$work_dir/boxes"
copy=$work_dir/boxes/build-libvirt-box.sh
check "a copy elsewhere has the same hashes (relative paths only)" \
  test "$(bash "$copy" --suite bookworm --recipe-hash) $(bash "$copy" --suite trixie --recipe-hash)" = "$bookworm $trixie"
echo '# changed' >>"$work_dir/boxes/recipe/suites/trixie/packages.txt"
check "a trixie-only change leaves bookworm's hash alone" test "$(bash "$copy" --suite bookworm --recipe-hash)" = "$bookworm"
check "a trixie-only change changes trixie's hash" test "$(bash "$copy" --suite trixie --recipe-hash)" != "$trixie"
trixie_changed=$(bash "$copy" --suite trixie --recipe-hash)
echo '# changed' >>"$work_dir/boxes/recipe/packages.txt"
check "a shared change changes bookworm's hash" test "$(bash "$copy" --suite bookworm --recipe-hash)" != "$bookworm"
check "a shared change changes trixie's hash" test "$(bash "$copy" --suite trixie --recipe-hash)" != "$trixie_changed"

# ---- package lists --------------------------------------------------------------------------
packages_of() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$repo_dir/boxes/recipe/packages.txt" "$repo_dir/boxes/recipe/suites/$1/packages.txt"; }
for suite in bookworm trixie; do
  list=$(packages_of "$suite")
  check "$suite: no package is listed twice" test -z "$(sort <<<"$list" | uniq -d)"
  check "$suite: no container runtime in the box (the product installs containerd)" \
    test -z "$(grep -xE 'containerd|containerd\.io|runc|crun|docker.*|podman' <<<"$list")"
  for needed in conntrack socat iptables ebtables ethtool iproute2 kmod mount util-linux procps ca-certificates curl \
    nftables ipset openssh-server sudo linux-image-cloud-amd64 ifupdown; do
    check "$suite: $needed is in the box" grep -qx "$needed" <<<"$list"
  done
done
check "bookworm keeps isc-dhcp-client" grep -qx isc-dhcp-client <<<"$(packages_of bookworm)"
check "trixie uses dhcpcd-base, not the deprecated isc-dhcp-client" \
  test "$(grep -xE 'dhcpcd-base|isc-dhcp-client' <<<"$(packages_of trixie)")" = dhcpcd-base

# ---- shellcheck -----------------------------------------------------------------------------
if command -v shellcheck >/dev/null; then
  check "shellcheck finds nothing in the box scripts and this test" \
    shellcheck --severity=style --shell=bash "$script" "$repo_dir/boxes/recipe/configure-guest.sh" "${BASH_SOURCE[0]}"
elif [[ ${CI:-} == true ]]; then
  fail "shellcheck is not installed (CI=true)"
else
  printf 'SKIP shellcheck is not installed\n'
fi

if ((failures > 0)); then
  printf '%d check(s) failed\n' "$failures"
  exit 1
fi
printf 'all checks passed\n'
