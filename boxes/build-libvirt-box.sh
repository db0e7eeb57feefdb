#!/bin/bash
# Builds a kubeadm-vagrant Debian box for vagrant-libvirt (Debian 12 "bookworm" or Debian 13
# "trixie"), offline from Debian packages (the machine's Debian mirror), without any prebuilt image.
#
# Usage: boxes/build-libvirt-box.sh [--suite bookworm|trixie] [--emulation] [OUTPUT_DIR]
#        boxes/build-libvirt-box.sh [--suite bookworm|trixie] [--emulation] --recipe-hash|--kernel-cmdline
#   --suite          which Debian release; default ${KUBEADM_VAGRANT_BOX_SUITE:-bookworm}
#   --emulation      a box for qemu software emulation (libvirt `driver: qemu`, no KVM): its kernel
#                    boots with mitigations=off tsc=reliable (see EMULATION_KERNEL_ARGS); its own box file
#   --recipe-hash    print the recipe hash and exit (no root needed; nothing is built)
#   --kernel-cmdline print the kernel command line after root= and exit (nothing is built)
#   OUTPUT_DIR       defaults to ${KUBEADM_VAGRANT_BOX_CACHE:-/var/cache/kubeadm-vagrant/boxes}
# Writes OUTPUT_DIR/kubeadm-vagrant-debian12.box (bookworm) or kubeadm-vagrant-debian13.box (trixie),
# with --emulation kubeadm-vagrant-debian12-emulation.box (or -debian13-), and its .manifest.json. Skips the build when the box exists and its manifest records the same
# recipe hash (sha256 over this script, the shared recipe files and boxes/recipe/suites/SUITE/)
# and the box's sha256 still matches. Each suite has its own box, manifest, lock and hash.
# Needs root, debootstrap, sfdisk (fdisk), extlinux, qemu-img, losetup, mkfs.ext4.
#
# Environment:
#   KUBEADM_VAGRANT_BOX_SUITE     bookworm (default) or trixie; --suite wins
#   KUBEADM_VAGRANT_BOX_CACHE     default output directory
#   KUBEADM_VAGRANT_DEBIAN_MIRROR  Debian mirror URL (default: the one apt is configured with)
#   KUBEADM_VAGRANT_VAGRANT_PUBKEY  Vagrant's insecure public key (default: from the vagrant package)
#   KUBEADM_VAGRANT_BOX_FORCE=1   rebuild even when the cached box matches
set -euo pipefail

readonly DISK_GIB=16
readonly SWAP_MIB=64
readonly PART_START_SECTOR=2048
readonly KERNEL_ARGS='ro net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0,115200n8'
# Under software emulation (TCG) the guest's code is translated, not run by the host's CPU as the
# guest wrote it, so the guest kernel's Spectre-class mitigations (retpolines, return thunks, RSB
# filling) guard nothing and make every system call, interrupt and context switch longer: on the
# e2e's worker, `mitigations=off` made 400k read/write calls 1.3-2x and fork+exec and `iptables -S`
# about 2x faster. Never for a box that runs under KVM, where they do protect.
# `tsc=reliable`: under TCG the kernel's boot-time check finds the vCPUs' TSCs "unsynchronized"
# (each vCPU is a host thread translating at its own pace) and falls back to the HPET, whose every
# read is an emulated MMIO access taken under QEMU's global lock and, with no vDSO for it, a system
# call: Go's time.Now() cost 2,290 ns in the guest (60 ns on the host). QEMU derives every vCPU's
# TSC from the same host clock, so trusting it is safe there; with the TSC as clocksource
# time.Now() cost 220-270 ns. Go's runtime (kubelet, containerd, etcd, every control-plane
# component) reads the clock constantly. Not for KVM, whose kvm-clock the kernel picks by itself.
readonly EMULATION_KERNEL_ARGS='mitigations=off tsc=reliable'

usage() { # usage EXIT_CODE
  cat >&2 <<'EOF'
Usage: boxes/build-libvirt-box.sh [--suite bookworm|trixie] [--emulation] [OUTPUT_DIR]
       boxes/build-libvirt-box.sh [--suite bookworm|trixie] [--emulation] --recipe-hash|--kernel-cmdline
EOF
  exit "$1"
}

suite=${KUBEADM_VAGRANT_BOX_SUITE:-bookworm}
print_hash=0
print_cmdline=0
emulation=0
output_arg=
while (($# > 0)); do
  case $1 in
    --suite) (($# >= 2)) || usage 2; suite=$2; shift 2 ;;
    --suite=*) suite=${1#--suite=}; shift ;;
    --recipe-hash) print_hash=1; shift ;;
    --kernel-cmdline) print_cmdline=1; shift ;;
    --emulation) emulation=1; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "build-libvirt-box: unknown option $1" >&2; usage 2 ;;
    *) [[ -z $output_arg ]] || usage 2; output_arg=$1; shift ;;
  esac
done

# The box each suite makes: file name and the guest's default hostname.
case $suite in
  bookworm) debian_major=12 ;;
  trixie) debian_major=13 ;;
  *) echo "build-libvirt-box: unknown suite '$suite' (bookworm or trixie)" >&2; exit 2 ;;
esac
readonly SUITE=$suite
readonly EMULATION=$emulation
if ((EMULATION)); then
  readonly BOX_NAME=kubeadm-vagrant-debian$debian_major-emulation
  readonly KERNEL_CMDLINE="$KERNEL_ARGS $EMULATION_KERNEL_ARGS"
else
  readonly BOX_NAME=kubeadm-vagrant-debian$debian_major
  readonly KERNEL_CMDLINE=$KERNEL_ARGS
fi
if ((print_cmdline)); then
  printf '%s\n' "$KERNEL_CMDLINE"
  exit 0
fi
readonly GUEST_HOSTNAME=debian$debian_major

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
recipe_dir=$script_dir/recipe
suite_dir=$recipe_dir/suites/$SUITE
[[ -d $suite_dir ]] || { echo "build-libvirt-box: no recipe for $SUITE in $suite_dir" >&2; exit 2; }
output_dir=${output_arg:-${KUBEADM_VAGRANT_BOX_CACHE:-/var/cache/kubeadm-vagrant/boxes}}
box_file=$output_dir/$BOX_NAME.box
manifest_file=$output_dir/$BOX_NAME.manifest.json
started_at=$(date +%s)

log() { printf '[build-libvirt-box %s %4ss] %s\n' "$SUITE" "$(($(date +%s) - started_at))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# sha256 over this script, the shared recipe files and this suite's own ones (not the other suites'),
# by relative path, so moving the checkout does not change it.
recipe_hash() {
  (
    cd "$script_dir"
    {
      echo "suite $SUITE"
      echo "kernel $KERNEL_CMDLINE"
      sha256sum "$(basename "${BASH_SOURCE[0]}")"
      find recipe -path recipe/suites -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
      find "recipe/suites/$SUITE" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
  )
}

json_field() { # json_field FILE KEY: the string value of a top-level key, or nothing
  sed -n "s/^[[:space:]]*\"$2\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$1" | head -n1
}

# The host's own Debian release (apt's sources name it; the mirror serves the other suites too).
host_suite() {
  local codename=''
  if [[ -r /etc/os-release ]]; then
    codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d '"')
  fi
  printf '%s\n' "${codename:-$SUITE}"
}

# The Debian mirror apt is configured with (never a hard-coded host): the one for $SUITE main, else
# the one for the host's own release main, since one Debian mirror serves every suite.
find_mirror() {
  local mirror='' wanted
  if [[ -n ${KUBEADM_VAGRANT_DEBIAN_MIRROR:-} ]]; then
    printf '%s\n' "${KUBEADM_VAGRANT_DEBIAN_MIRROR%/}/"
    return
  fi
  for wanted in "$SUITE" "$(host_suite)"; do
    # shellcheck disable=SC2016 # $(...) are apt's format fields, not shell
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null |
      awk -v s="$wanted" '$2 == s && $3 == "main" { print $1; exit }')
    if [[ -z $mirror ]]; then # No apt lists yet: read the sources themselves (one-line and deb822 formats).
      mirror=$(
        {
          cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk -v s="$wanted" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == s) print $i }'
          cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk -v s="$wanted" 'BEGIN { RS = ""; FS = "\n" } /(^|\n)Types:[^\n]*deb( |$|\n)/ && $0 ~ ("Suites:[^\n]*[ ]" s "([ ]|$|\n)") {
              for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { split($i, a, " "); print a[2] } }'
        } | head -n1
      )
    fi
    if [[ -n $mirror ]]; then break; fi
  done
  [[ -n $mirror ]] || die "no Debian mirror in apt's sources; set KUBEADM_VAGRANT_DEBIAN_MIRROR"
  printf '%s\n' "${mirror%/}/"
}

# The guest's apt sources: $SUITE, $SUITE-updates and $SUITE-security main from the same hosts
# apt uses for the host's own release (for a bookworm box on a bookworm host: apt's own lines).
guest_sources() {
  local host
  host=$(host_suite)
  # shellcheck disable=SC2016 # $(...) are apt's format fields, not shell
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null |
    awk -v h="$host" -v s="$SUITE" '$3 == "main" && ($2 == h || $2 == h "-updates" || $2 == h "-security") {
      print "deb " $1 " " s substr($2, length(h) + 1) " main" }' |
    LC_ALL=C sort -u
}

find_vagrant_pubkey() {
  local candidate
  if [[ -n ${KUBEADM_VAGRANT_VAGRANT_PUBKEY:-} ]]; then
    printf '%s\n' "$KUBEADM_VAGRANT_VAGRANT_PUBKEY"
    return
  fi
  for candidate in /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub \
    /usr/share/vagrant/keys/vagrant.pub /opt/vagrant/embedded/gems/gems/vagrant-*/keys/vagrant.pub; do
    if [[ -f $candidate ]]; then
      printf '%s\n' "$candidate"
      return
    fi
  done
  die "Vagrant's insecure public key not found (install the vagrant package or set KUBEADM_VAGRANT_VAGRANT_PUBKEY)"
}

# ---- cache check ----------------------------------------------------------------------------
hash=$(recipe_hash)
if ((print_hash)); then
  printf '%s\n' "$hash"
  exit 0
fi
if [[ -f $box_file && -f $manifest_file && -z ${KUBEADM_VAGRANT_BOX_FORCE:-} ]]; then
  if [[ $(json_field "$manifest_file" recipeHash) == "$hash" ]] &&
    [[ $(sha256sum "$box_file" | cut -d' ' -f1) == "$(json_field "$manifest_file" sha256)" ]]; then
    log "up to date: $box_file (recipe $hash)"
    printf '%s\n' "$box_file"
    exit 0
  fi
  log "cached box is stale or damaged: rebuilding"
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, loop devices, mounts)"
for tool in debootstrap sfdisk extlinux qemu-img losetup mkfs.ext4 blkid flock chroot; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
mbr_bin=
for candidate in /usr/lib/EXTLINUX/mbr.bin /usr/lib/syslinux/mbr/mbr.bin /usr/share/syslinux/mbr.bin; do
  if [[ -f $candidate ]]; then mbr_bin=$candidate; break; fi
done
[[ -n $mbr_bin ]] || die "extlinux's mbr.bin not found (apt-get install extlinux syslinux-common)"

mkdir -p "$output_dir"
# One build at a time per cache directory; a second caller waits, then finds the box made.
exec 9>"$output_dir/.$BOX_NAME.lock"
flock -w 3600 9 || die "another build holds $output_dir/.$BOX_NAME.lock"
if [[ -f $box_file && -f $manifest_file && -z ${KUBEADM_VAGRANT_BOX_FORCE:-} &&
  $(json_field "$manifest_file" recipeHash) == "$hash" ]]; then
  log "built meanwhile by another process: $box_file"
  printf '%s\n' "$box_file"
  exit 0
fi

# ---- work area and cleanup ------------------------------------------------------------------
work_dir=$(mktemp -d "$output_dir/.build.XXXXXX")
root_dir=$work_dir/rootfs
mnt_dir=$work_dir/mnt
loop_dev=

# Unmounts everything below the work area (deepest first), detaches the loop device, and removes
# the work area only when nothing is mounted in it any more.
cleanup() {
  local rc=$? mounts
  set +e
  mounts=$(awk -v w="$work_dir/" 'index($2 "/", w) == 1 { print $2 }' /proc/self/mounts | LC_ALL=C sort -r)
  if [[ -n $mounts ]]; then
    while IFS= read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m"
    done <<<"$mounts"
  fi
  if [[ -n $loop_dev ]]; then
    losetup -d "$loop_dev" 2>/dev/null
  fi
  if awk -v w="$work_dir/" 'index($2 "/", w) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    log "WARNING: something is still mounted below $work_dir; left in place"
  else
    rm -rf "$work_dir"
  fi
  if [[ $rc -ne 0 ]]; then log "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mirror=$(find_mirror)
pubkey=$(find_vagrant_pubkey)
log "recipe $hash; mirror $mirror; key $pubkey; work area $work_dir"

# ---- root file system -----------------------------------------------------------------------
log "debootstrap $SUITE (minbase) — several minutes"
debootstrap --variant=minbase --arch=amd64 --components=main --include=ca-certificates \
  "$SUITE" "$root_dir" "$mirror" >"$work_dir/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work_dir/debootstrap.log" >&2; die "debootstrap failed"; }

# Files of the recipe, shared then the suite's own (dpkg's excludes among them, so they apply to every
# package installed next), owned by root whoever owns the checkout; configure-guest.sh sets the special modes.
for overlay in "$recipe_dir/rootfs" "$suite_dir/rootfs"; do
  [[ -d $overlay ]] || continue
  while IFS= read -r -d '' file; do
    install -D -m 0644 -o root -g root "$overlay/$file" "$root_dir/$file"
  done < <(cd "$overlay" && find . -type f -printf '%P\0')
done
guest_sources >"$root_dir/etc/apt/sources.list"
if [[ ! -s $root_dir/etc/apt/sources.list ]]; then
  printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$root_dir/etc/apt/sources.list"
fi
cp -L /etc/resolv.conf "$root_dir/etc/resolv.conf"
# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root_dir/usr/sbin/policy-rc.d"
chmod 0755 "$root_dir/usr/sbin/policy-rc.d"
mount -t proc proc "$root_dir/proc"
mount -t sysfs -o ro sysfs "$root_dir/sys"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root_dir/dev/pts"

# The shared package list, then the suite's own.
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$recipe_dir/packages.txt" "$suite_dir/packages.txt")
log "apt-get install ${#packages[@]} packages"
chroot_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C HOME=/root)
{
  chroot "$root_dir" "${chroot_env[@]}" apt-get update &&
    chroot "$root_dir" "${chroot_env[@]}" apt-get -y -o Dpkg::Options::=--force-confold dist-upgrade &&
    chroot "$root_dir" "${chroot_env[@]}" apt-get -y --no-install-recommends -o Dpkg::Options::=--force-confold \
      install "${packages[@]}"
} >"$work_dir/apt.log" 2>&1 || { tail -n 40 "$work_dir/apt.log" >&2; die "apt-get in the chroot failed"; }

kernels=("$root_dir"/boot/vmlinuz-*)
[[ ${#kernels[@]} -eq 1 && -f ${kernels[0]} ]] || die "expected one kernel in the image, found: ${kernels[*]}"
kernel=$(basename "${kernels[0]}")
initrd=initrd.img-${kernel#vmlinuz-}
[[ -f $root_dir/boot/$initrd ]] || die "no $initrd in the image"
debian_version=$(cat "$root_dir/etc/debian_version")

# ---- disk -----------------------------------------------------------------------------------
raw=$work_dir/disk.raw
truncate -s "${DISK_GIB}G" "$raw"
printf 'label: dos\nstart=%s, type=83, bootable\n' "$PART_START_SECTOR" | sfdisk --quiet "$raw"
dd if="$mbr_bin" of="$raw" bs=440 count=1 conv=notrunc status=none
part_bytes=$(($(stat -c %s "$raw") - PART_START_SECTOR * 512))
# Partition device nodes (/dev/loopNp1) do not appear here: map the partition by offset instead.
loop_dev=$(losetup --find --show --offset $((PART_START_SECTOR * 512)) --sizelimit "$part_bytes" "$raw")
# Inode tables and journal are written now (zeros cost nothing in qcow2), not by every guest at boot.
mkfs.ext4 -q -L root -O ^64bit -E lazy_itable_init=0,lazy_journal_init=0 "$loop_dev"
root_uuid=$(blkid -s UUID -o value "$loop_dev")

# Guest configuration, inside the chroot.
install -m 0644 "$pubkey" "$root_dir/tmp/vagrant.pub"
install -m 0755 "$recipe_dir/configure-guest.sh" "$root_dir/tmp/configure-guest.sh"
log "configure the guest"
chroot "$root_dir" "${chroot_env[@]}" /bin/bash /tmp/configure-guest.sh "$root_uuid" "$SWAP_MIB" /tmp/vagrant.pub "$GUEST_HOSTNAME"
rm -f "$root_dir/usr/sbin/policy-rc.d" "$root_dir/tmp/configure-guest.sh"
umount "$root_dir/dev/pts" "$root_dir/sys" "$root_dir/proc"

mkdir -p "$mnt_dir"
mount "$loop_dev" "$mnt_dir"
log "copy the root file system ($(du -sh "$root_dir" | cut -f1))"
cp -a "$root_dir/." "$mnt_dir/"
mkdir -p "$mnt_dir/boot/extlinux"
cat >"$mnt_dir/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  LINUX /boot/$kernel
  INITRD /boot/$initrd
  APPEND root=UUID=$root_uuid $KERNEL_CMDLINE
EOF
extlinux --install "$mnt_dir/boot/extlinux" >/dev/null 2>&1
sync
umount "$mnt_dir"
losetup -d "$loop_dev"
loop_dev=

# ---- box ------------------------------------------------------------------------------------
log "qemu-img convert to compressed qcow2"
box_dir=$work_dir/box
mkdir -p "$box_dir"
qemu-img convert -c -O qcow2 "$raw" "$box_dir/box.img"
rm -f "$raw"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%s}\n' "$DISK_GIB" >"$box_dir/metadata.json"
cp "$recipe_dir/Vagrantfile" "$box_dir/Vagrantfile"
tar -C "$box_dir" -cf "$work_dir/$BOX_NAME.box" metadata.json Vagrantfile box.img
box_sha=$(sha256sum "$work_dir/$BOX_NAME.box" | cut -d' ' -f1)
box_bytes=$(stat -c %s "$work_dir/$BOX_NAME.box")
cat >"$work_dir/manifest.json" <<EOF
{
  "name": "$BOX_NAME",
  "box": "$BOX_NAME.box",
  "provider": "libvirt",
  "sha256": "$box_sha",
  "bytes": $box_bytes,
  "recipeHash": "$hash",
  "suite": "$SUITE",
  "debianVersion": "$debian_version",
  "mirror": "$mirror",
  "kernel": "${kernel#vmlinuz-}",
  "virtualSizeGiB": $DISK_GIB,
  "swapMiB": $SWAP_MIB
}
EOF
# Box first, manifest last: a manifest that matches always describes a complete box.
rm -f "$manifest_file"
mv -f "$work_dir/$BOX_NAME.box" "$box_file"
mv -f "$work_dir/manifest.json" "$manifest_file"
log "done: $box_file ($((box_bytes / 1024 / 1024)) MiB, sha256 $box_sha) in $(($(date +%s) - started_at)) s"
printf '%s\n' "$box_file"
