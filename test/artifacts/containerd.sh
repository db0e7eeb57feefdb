# shellcheck shell=bash
# A containerd of our own for checking image archives (check.sh, test/conformance/check-images.sh): the
# containerd, shim and runc of an artifacts directory, as a process of its own with its own root, state and
# socket under a temporary directory, stopped by its PID on exit. Sourced by a script that runs as root and
# sets no EXIT trap of its own; the caller sets LOG_NAME.
#
#   start_containerd DIR    DIR: an artifacts directory's containerd/ (containerd, ctr, the shim, runc)
#   import_images INFO ARCHIVE...   imports the archives into the k8s.io namespace; the images listed must be
#                           exactly INFO's (a build-info.json) .images[].ref
#   run_in NAME EXPECTED COMMAND...  runs COMMAND in the image NAME (image_ref); its output must contain EXPECTED
#   on_mounted NAME PATH COMMAND...  prints the output of COMMAND with PATH in the image NAME (mounted) as its last argument

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_tmp=$(mktemp -d /tmp/kubeadm-vagrant-check.XXXXXX)
sock=$check_tmp/containerd.sock
containerd_pid=
containerd_dir=
images_info=
stop_containerd() {
  if [[ -n $containerd_pid ]]; then
    kill "$containerd_pid" 2>/dev/null || true
    wait "$containerd_pid" 2>/dev/null || true
  fi
  # containerd's snapshots may still be mounted if it died mid-way: unmount before removing.
  local mounted
  mounted=$(awk -v t="$check_tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r)
  [[ -z $mounted ]] || xargs -n1 umount -l <<<"$mounted" || true
  rm -rf "$check_tmp"
}
trap stop_containerd EXIT

# ctr through our socket; its client-side notice that cgroup v1 is deprecated (on this host) is dropped.
ctr() {
  local rc=0
  PATH=$containerd_dir:$PATH "$containerd_dir/ctr" --address "$sock" --namespace k8s.io "$@" 2>"$check_tmp/ctr.err" || rc=$?
  grep -v 'DEPRECATION: The support for cgroup v1' "$check_tmp/ctr.err" >&2 || true
  return "$rc"
}

start_containerd() {
  containerd_dir=$1
  # Only what an import and a test run need: the CRI plugins (CNI, sandboxes) and NRI stay off.
  cat >"$check_tmp/config.toml" <<TOML
version = 3
root = "$check_tmp/root"
state = "$check_tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.nri.v1.nri"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  address = "$check_tmp/debug.sock"
TOML
  # The shim and runc are found on PATH, as in a guest where they are installed side by side.
  PATH=$containerd_dir:$PATH "$containerd_dir/containerd" --config "$check_tmp/config.toml" >"$check_tmp/containerd.log" 2>&1 &
  containerd_pid=$!
  for _ in $(seq 100); do
    ctr version >/dev/null 2>&1 && break
    kill -0 "$containerd_pid" 2>/dev/null || { cat "$check_tmp/containerd.log" >&2; die "containerd exited"; }
    sleep 0.2
  done
  ctr version >/dev/null || { tail -n 30 "$check_tmp/containerd.log" >&2; die "containerd did not answer"; }
  log "containerd $(ctr version | awk '/Version:/{print $2; exit}') running as pid $containerd_pid"
}

import_images() {
  images_info=$1
  shift
  local started=$SECONDS archive expected listed
  for archive in "$@"; do
    ctr images import "$archive" >/dev/null || die "ctr images import $archive"
  done
  log "imported $# archives in $((SECONDS - started))s"
  expected=$(jq -r '.images[].ref' "$images_info" | LC_ALL=C sort)
  listed=$(ctr images ls -q | LC_ALL=C sort)
  [[ $listed == "$expected" ]] || die "ctr images ls lists"$'\n'"$listed"$'\n'"expected"$'\n'"$expected"
  log "ctr -n k8s.io images ls: exactly the $(wc -l <<<"$listed") expected references"
}

# image_ref NAME: the reference of the image whose repository's last part is NAME (kube-proxy, coredns, agnhost, ...).
image_ref() {
  local ref
  ref=$(jq -r --arg n "$1" '.images[] | select(.ref | split(":")[0] | split("/")[-1] == $n) | .ref' "$images_info")
  [[ -n $ref ]] || die "no image named $1 in $images_info"
  printf '%s\n' "$ref"
}

on_mounted() {
  local name=$1 path=$2 image mnt out rc=0
  shift 2
  image=$(image_ref "$name") || exit 1
  mnt=$check_tmp/mnt-$name # one mount point each: containerd remembers a mount point it used
  mkdir -p "$mnt"
  ctr images mount "$image" "$mnt" >/dev/null
  out=$("$@" "$mnt$path") || rc=$?
  ctr images unmount "$mnt" >/dev/null
  ((rc == 0)) || die "$image: $* $path failed"
  printf '%s\n' "$out"
}

run_in() {
  local name=$1 expected=$2 image output
  shift 2
  image=$(image_ref "$name") || exit 1
  output=$(ctr run --rm --net-host "$image" "check-$name-$RANDOM" "$@" 2>&1) || die "$image: $* failed: $output"
  grep -qF -- "$expected" <<<"$output" || die "$image: expected \"$expected\" from $*, got: $output"
}
