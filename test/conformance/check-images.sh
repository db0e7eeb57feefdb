#!/usr/bin/env bash
# Checks the e2e test images build-images.sh made with the containerd of an artifacts directory
# (test/artifacts/containerd.sh): imports the archive, checks the image list is exactly build-info.json's and
# nonewprivs' setuid program, and runs in each image what the conformance tests run in it.
#
# Usage: check-images.sh IMAGES_ROOT ARTIFACTS_ROOT   (as root; each a directory with one v*/amd64 below it)
set -euo pipefail

[[ $# == 2 ]] || { echo "usage: check-images.sh IMAGES_ROOT ARTIFACTS_ROOT" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "check-images.sh: run as root" >&2; exit 1; }
shopt -s nullglob
# arch_dir ROOT: its one v*/amd64 directory.
arch_dir() {
  local dirs=("$1"/v*/amd64)
  [[ ${#dirs[@]} == 1 ]] || { echo "check-images.sh: expected one v*/amd64 directory in $1" >&2; exit 1; }
  printf '%s\n' "${dirs[0]}"
}
images=$(arch_dir "$1")
artifacts=$(arch_dir "$2")

# shellcheck disable=SC2034 # containerd.sh's log reads it
LOG_NAME=check-images
# shellcheck source-path=SCRIPTDIR source=../artifacts/containerd.sh
source "$(dirname "${BASH_SOURCE[0]}")/../artifacts/containerd.sh"
start_containerd "$artifacts/containerd"
import_images "$images/build-info.json" "$images"/images/*.tar

# nonewprivs' nnp is setuid and setgid root (its Dockerfile's chmod +s): the test runs it as uid 1000.
nnp_mode=$(on_mounted nonewprivs /usr/local/bin/nnp stat -c '%a %u')
[[ $nnp_mode == "6755 0" ]] || die "nonewprivs: /usr/local/bin/nnp is $nnp_mode, not mode 6755 owned by root"

started=$SECONDS
run_in agnhost "Usage:" /agnhost --help
run_in agnhost "check-ok" sh -c 'cp /etc/passwd /tmp/p && echo check-ok'
# The tools the e2e tests run in agnhost (and in the images made from the same layers).
run_in agnhost "DiG 9" dig -v
run_in agnhost "curl " curl --version
run_in agnhost "OpenBSD netcat" sh -c 'nc -h 2>&1; true'
run_in agnhost "iproute2" ip -V
run_in agnhost "GNU bash" bash --version
run_in agnhost "user-defined-in-image" getent group group-defined-in-image
run_in nautilus '"image": "nautilus.jpg"' cat /data.json
run_in glibc-dns-testing "DiG 9" dig -v
run_in glibc-dns-testing "root:x:0:0" getent passwd root
run_in busybox "check-ok" sh -c 'cp /etc/passwd /tmp/p && echo check-ok'
run_in busybox "BusyBox v" busybox
run_in nginx "test is successful" nginx -t
run_in nonewprivs "Effective uid: 0" nnp
log "ran the tests' commands in every image through containerd-shim-runc-v2 and runc in $((SECONDS - started))s"
