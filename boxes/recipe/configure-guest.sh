#!/bin/bash
# Runs inside the box's root file system (chroot) after the packages are installed.
# Usage: configure-guest.sh ROOT_UUID SWAP_MIB PUBKEY_FILE HOSTNAME
set -euo pipefail

root_uuid=$1
swap_mib=$2
pubkey_file=$3
guest_hostname=$4

export DEBIAN_FRONTEND=noninteractive LC_ALL=C

# The vagrant user: passwordless sudo, Vagrant's published insecure key.
if ! id vagrant >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --user-group vagrant
fi
# The conventional vagrant:vagrant password, for the serial console only (sshd below refuses passwords).
echo 'vagrant:vagrant' | chpasswd
passwd --lock root >/dev/null
chmod 0440 /etc/sudoers.d/vagrant
visudo --check --file=/etc/sudoers.d/vagrant >/dev/null
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
install -m 0600 -o vagrant -g vagrant "$pubkey_file" /home/vagrant/.ssh/authorized_keys
rm -f "$pubkey_file"

# sshd: keys only, no DNS lookups (guests have no resolver worth waiting for).
cat >/etc/ssh/sshd_config.d/kubeadm-vagrant.conf <<'EOF'
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
# Host keys are made at first boot by ssh-host-keys.service, so every machine has its own.
rm -f /etc/ssh/ssh_host_*
systemctl enable ssh-host-keys.service ssh.service >/dev/null 2>&1

# Disk and a small swap file, so that "swap off, also in fstab" has something to turn off.
cat >/etc/fstab <<EOF
UUID=$root_uuid / ext4 errors=remount-ro 0 1
/swapfile none swap sw 0 0
EOF
dd if=/dev/zero of=/swapfile bs=1M count="$swap_mib" status=none
chmod 0600 /swapfile
mkswap /swapfile >/dev/null

echo "$guest_hostname" >/etc/hostname
cat >/etc/hosts <<EOF
127.0.0.1 localhost
127.0.1.1 $guest_hostname
::1 localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
EOF
install -d -m 0755 /etc/network/interfaces.d

# iptables, ip6tables, ebtables and arptables on the nf_tables backend (Debian's default; made
# explicit so kube-proxy and the CNI plugins never meet legacy rules).
for tool in iptables ip6tables ebtables arptables; do
  if update-alternatives --query "$tool" >/dev/null 2>&1; then
    update-alternatives --quiet --set "$tool" "/usr/sbin/$tool-nft"
  fi
done

# Sanity checks of what kubeadm's preflight, the kubelet, kube-proxy and the CNI plugins use.
for tool in conntrack socat iptables ip6tables ebtables ethtool nsenter ip modprobe mount swapon swapoff \
  sysctl nft ipset curl; do
  command -v "$tool" >/dev/null || { echo "configure-guest: $tool missing" >&2; exit 1; }
done
iptables --version | grep -q 'nf_tables'
ebtables --version | grep -q 'nf_tables'
kver=$(basename "$(ls -d /lib/modules/*)")
for module in overlay br_netfilter nf_conntrack vxlan; do
  modinfo -k "$kver" "$module" >/dev/null
done

# Per-machine identity is made at first boot (systemd takes the VM's SMBIOS UUID). Empty, not
# "uninitialized": systemd then skips its first-boot units (systemd-firstboot's console prompts).
: >/etc/machine-id
mkdir -p /var/lib/dbus
rm -f /var/lib/dbus/machine-id
ln -s /etc/machine-id /var/lib/dbus/machine-id
# Leases of isc-dhcp-client (bookworm) and dhcpcd (trixie), if any.
rm -rf /var/lib/dhcp/*.leases /var/lib/dhcpcd/* /etc/resolv.conf

# Smaller image: what dpkg's excludes (etc/dpkg/dpkg.cfg.d) kept out of later packages, also for
# the ones debootstrap installed before them.
find /usr/share/doc -depth -mindepth 1 ! -name copyright ! -type d -delete
find /usr/share/doc -depth -mindepth 1 -type d -empty -delete
find /usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf /usr/share/man/* /usr/share/info/* /usr/share/lintian/*
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log /var/log/apt/* /tmp/* /var/tmp/*
