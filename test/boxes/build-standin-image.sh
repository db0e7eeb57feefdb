#!/bin/bash
# Builds the test's stand-in for Debian's official cloud image (debian-12-genericcloud-amd64.qcow2, or
# debian-13-... for trixie), offline from Debian's packages: no machine here reaches cloud.debian.org.
# Like the official image it holds systemd, the cloud kernel, cloud-init with the NoCloud datasource
# and growpart, OpenSSH and sudo, boots from one small disk that cloud-init grows, and has no user
# but root (locked) and no key of any kind: the `vagrant` login user and its key come from the
# NoCloud seed that kubeadm-vagrant gives each machine. The differences from the official image are
# listed in standin/packages.txt. `kubeadm-vagrant box build` turns it into a box, as it would the
# official image.
#
# Usage: test/boxes/build-standin-image.sh [--suite bookworm|trixie] [--kernel-args ARGS] [OUTPUT_DIR]
#        test/boxes/build-standin-image.sh [--suite ...] [--kernel-args ARGS] --recipe-hash
#   --kernel-args  extra kernel command-line arguments (part of the recipe)
#   OUTPUT_DIR     default ${KUBEADM_VAGRANT_STANDIN_CACHE:-/var/cache/kubeadm-vagrant/standin}
# Prints the image's path as its last line: OUTPUT_DIR/<recipe hash>/debian-<N>-genericcloud-amd64.qcow2,
# reused while the recipe (this script and test/boxes/standin/) is unchanged and the image's sha256
# matches its manifest. Needs root, debootstrap, sfdisk, extlinux, qemu-img, losetup, mkfs.ext4.
set -euo pipefail

readonly DISK_GIB=3
readonly PART_START_SECTOR=2048
# Debian's cloud images' own console arguments (debian-cloud-images: grub's GRUB_CMDLINE_LINUX).
readonly KERNEL_ARGS='ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0'

usage() {
  echo "Usage: test/boxes/build-standin-image.sh [--suite bookworm|trixie] [--kernel-args ARGS] [--recipe-hash] [OUTPUT_DIR]" >&2
  exit "$1"
}

suite=bookworm
extra_args=
print_hash=0
output_arg=
while (($# > 0)); do
  case $1 in
    --suite) (($# >= 2)) || usage 2; suite=$2; shift 2 ;;
    --kernel-args) (($# >= 2)) || usage 2; extra_args=$2; shift 2 ;;
    --recipe-hash) print_hash=1; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "build-standin-image: unknown option $1" >&2; usage 2 ;;
    *) [[ -z $output_arg ]] || usage 2; output_arg=$1; shift ;;
  esac
done
case $suite in
  bookworm) major=12 ;;
  trixie) major=13 ;;
  *) echo "build-standin-image: unknown suite '$suite' (bookworm or trixie)" >&2; exit 2 ;;
esac
readonly SUITE=$suite KERNEL_CMDLINE="$KERNEL_ARGS${extra_args:+ $extra_args}"
readonly IMAGE_NAME=debian-$major-genericcloud-amd64.qcow2

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
recipe_dir=$script_dir/standin
started_at=$(date +%s)
log() { printf '[standin %s %4ss] %s\n' "$SUITE" "$(($(date +%s) - started_at))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

recipe_hash() {
  (
    cd "$script_dir"
    {
      echo "suite $SUITE"
      echo "kernel $KERNEL_CMDLINE"
      sha256sum "$(basename "${BASH_SOURCE[0]}")"
      find standin -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    } | sha256sum | cut -d' ' -f1
  )
}
hash=$(recipe_hash)
if ((print_hash)); then
  printf '%s\n' "$hash"
  exit 0
fi

output_dir=${output_arg:-${KUBEADM_VAGRANT_STANDIN_CACHE:-/var/cache/kubeadm-vagrant/standin}}
image_dir=$output_dir/$hash
image=$image_dir/$IMAGE_NAME
manifest=$image_dir/manifest.json
cached() { [[ -f $image && -f $manifest ]] && [[ $(sha256sum "$image" | cut -d' ' -f1) == "$(sed -n 's/.*"sha256": *"\([0-9a-f]*\)".*/\1/p' "$manifest")" ]]; }
if cached; then
  log "up to date: $image"
  printf '%s\n' "$image"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, loop devices, mounts)"
for tool in debootstrap sfdisk extlinux qemu-img losetup mkfs.ext4 blkid flock chroot apt-get; do
  command -v "$tool" >/dev/null || die "$tool not found"
done
mbr_bin=
for candidate in /usr/lib/EXTLINUX/mbr.bin /usr/lib/syslinux/mbr/mbr.bin /usr/share/syslinux/mbr.bin; do
  if [[ -f $candidate ]]; then mbr_bin=$candidate; break; fi
done
[[ -n $mbr_bin ]] || die "extlinux's mbr.bin not found (apt-get install extlinux syslinux-common)"

mkdir -p "$output_dir"
exec 9>"$output_dir/.lock-$hash"
flock -w 3600 9 || die "another build holds $output_dir/.lock-$hash"
if cached; then
  log "built meanwhile by another process: $image"
  printf '%s\n' "$image"
  exit 0
fi

work_dir=$(mktemp -d "$output_dir/.build.XXXXXX")
root_dir=$work_dir/rootfs
mnt_dir=$work_dir/mnt
loop_dev=
cleanup() {
  local rc=$? mounts
  set +e
  mounts=$(awk -v w="$work_dir/" 'index($2 "/", w) == 1 { print $2 }' /proc/self/mounts | LC_ALL=C sort -r)
  while IFS= read -r m; do [[ -z $m ]] || umount "$m" 2>/dev/null || umount -l "$m"; done <<<"$mounts"
  [[ -z $loop_dev ]] || losetup -d "$loop_dev" 2>/dev/null
  if awk -v w="$work_dir/" 'index($2 "/", w) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
    log "WARNING: something is still mounted below $work_dir; left in place"
  else
    rm -rf "$work_dir"
  fi
  ((rc == 0)) || log "FAILED (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The Debian mirror apt is configured with (for this suite, else the host's own release).
# shellcheck disable=SC2016 # $(...) are apt's format fields
mirror=$(apt-get indextargets --format '$(REPO_URI) $(COMPONENT)' 'Identifier: Packages' 2>/dev/null | awk '$2 == "main" { print $1; exit }')
mirror=${KUBEADM_VAGRANT_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian/}}
log "recipe $hash; mirror $mirror; work area $work_dir"

log "debootstrap $SUITE (minbase)"
debootstrap --variant=minbase --arch=amd64 --components=main --include=ca-certificates \
  "$SUITE" "$root_dir" "$mirror" >"$work_dir/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work_dir/debootstrap.log" >&2; die "debootstrap failed"; }
while IFS= read -r -d '' file; do
  install -D -m 0644 -o root -g root "$recipe_dir/rootfs/$file" "$root_dir/$file"
done < <(cd "$recipe_dir/rootfs" && find . -type f -printf '%P\0')
printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$SUITE" "$mirror" "$SUITE" >"$root_dir/etc/apt/sources.list"
cp -L /etc/resolv.conf "$root_dir/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root_dir/usr/sbin/policy-rc.d"
chmod 0755 "$root_dir/usr/sbin/policy-rc.d"
mount -t proc proc "$root_dir/proc"
mount -t sysfs -o ro sysfs "$root_dir/sys"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root_dir/dev/pts"

mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$recipe_dir/packages.txt")
log "apt-get install ${#packages[@]} packages"
in_root=(chroot "$root_dir" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C HOME=/root)
{
  "${in_root[@]}" apt-get update &&
    "${in_root[@]}" apt-get -y -o Dpkg::Options::=--force-confold dist-upgrade &&
    "${in_root[@]}" apt-get -y --no-install-recommends -o Dpkg::Options::=--force-confold install "${packages[@]}"
} >"$work_dir/apt.log" 2>&1 || { tail -n 40 "$work_dir/apt.log" >&2; die "apt-get in the chroot failed"; }

kernels=("$root_dir"/boot/vmlinuz-*)
[[ ${#kernels[@]} -eq 1 && -f ${kernels[0]} ]] || die "expected one kernel, found: ${kernels[*]}"
kernel=$(basename "${kernels[0]}")
initrd=initrd.img-${kernel#vmlinuz-}
[[ -f $root_dir/boot/$initrd ]] || die "no $initrd"

raw=$work_dir/disk.raw
truncate -s "${DISK_GIB}G" "$raw"
printf 'label: dos\nstart=%s, type=83, bootable\n' "$PART_START_SECTOR" | sfdisk --quiet "$raw"
dd if="$mbr_bin" of="$raw" bs=440 count=1 conv=notrunc status=none
part_bytes=$(($(stat -c %s "$raw") - PART_START_SECTOR * 512))
loop_dev=$(losetup --find --show --offset $((PART_START_SECTOR * 512)) --sizelimit "$part_bytes" "$raw")
mkfs.ext4 -q -L root -E lazy_itable_init=0,lazy_journal_init=0 "$loop_dev"
root_uuid=$(blkid -s UUID -o value "$loop_dev")

log "configure the guest"
# As the official image: root locked, no host keys (cloud-init makes them at first boot), no machine
# identity, the nf_tables iptables, fstab by UUID, no swap; nothing of this build left behind.
"${in_root[@]}" /bin/bash -euo pipefail -c "
  passwd --lock root >/dev/null
  rm -f /etc/ssh/ssh_host_*
  printf 'UUID=$root_uuid / ext4 errors=remount-ro 0 1\n' >/etc/fstab
  echo localhost >/etc/hostname
  for tool in iptables ip6tables ebtables arptables; do
    if update-alternatives --query \$tool >/dev/null 2>&1; then update-alternatives --quiet --set \$tool /usr/sbin/\$tool-nft; fi
  done
  : >/etc/machine-id
  rm -f /var/lib/dbus/machine-id
  ln -s /etc/machine-id /var/lib/dbus/machine-id
  ! id vagrant >/dev/null 2>&1
  find /usr/share/doc -depth -mindepth 1 ! -name copyright ! -type d -delete
  find /usr/share/doc -depth -mindepth 1 -type d -empty -delete
  rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/*
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /tmp/* /var/tmp/* /etc/resolv.conf /var/lib/cloud
"
rm -f "$root_dir/usr/sbin/policy-rc.d"
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

log "qemu-img convert to compressed qcow2"
mkdir -p "$work_dir/out"
qemu-img convert -c -O qcow2 "$raw" "$work_dir/out/$IMAGE_NAME"
rm -f "$raw"
sha=$(sha256sum "$work_dir/out/$IMAGE_NAME" | cut -d' ' -f1)
printf '{\n  "image": "%s",\n  "sha256": "%s",\n  "recipeHash": "%s",\n  "suite": "%s",\n  "kernel": "%s",\n  "cmdline": "%s"\n}\n' \
  "$IMAGE_NAME" "$sha" "$hash" "$SUITE" "${kernel#vmlinuz-}" "$KERNEL_CMDLINE" >"$work_dir/out/manifest.json"
rm -rf "$image_dir"
mv "$work_dir/out" "$image_dir"
log "done: $image ($(($(stat -c %s "$image") / 1024 / 1024)) MiB) in $(($(date +%s) - started_at)) s"
printf '%s\n' "$image"
