import { createHash } from 'node:crypto';
import { compareVersions } from '../doctor/parsers.js';
import { rubyQuote } from '../quote.js';
import { HOST } from '../layout.js';

/**
 * Pure writers of a Vagrant box's small files: metadata.json, the box's own Vagrantfile and, for
 * VirtualBox, the OVF descriptor. Sources of the facts (read in the projects' own trees):
 * - metadata.json: hashicorp/vagrant lib/vagrant/box.rb (REQUIRED_METADATA_FIELDS = ["provider"];
 *   any other key is kept and ignored, in 2.3.4 as in 2.4.x) and vagrant-libvirt's
 *   tools/create_box.sh and docs/boxes.markdown (format qcow2, virtual_size in GiB rounded up);
 * - the box Vagrantfile: vagrant-libvirt's lib/vagrant-libvirt/config.rb and templates/domain.xml.erb
 *   (the defaults an aarch64 guest cannot use: ps2 mouse, cirrus video, features apic and pae;
 *   ACPI needs UEFI there, issue #966); Vagrant's plugins/providers/virtualbox/action/
 *   match_mac_address.rb (base_mac becomes the first adapter's MAC after the import);
 * - the OVF: VirtualBox's src/VBox/Main/src-server/ApplianceImplExport.cpp (what VirtualBox itself
 *   writes for OVF 1.0), src/VBox/Main/xml/ovfreader.cpp (what its reader requires) and
 *   ApplianceImplImport.cpp (without a vbox:Machine section, the SATA controller is created as
 *   "SATA Controller" and a Connection named NAT becomes a NAT attachment).
 */

export type BoxProvider = 'libvirt' | 'virtualbox';
export type BoxArch = 'amd64' | 'arm64';
/** What `qemu-img convert` makes for a provider (src/boxes/package.ts). */
export type DiskFormat = 'qcow2-compressed' | 'vmdk-stream';

/** Every date a built box or seed carries: fixed, so that the same inputs give the same bytes. */
export const REPRODUCIBLE_DATE = new Date(Date.UTC(2000, 0, 1, 0, 0, 0));

export interface BoxLayout {
  /** The disk image's name inside the box. */
  disk: string;
  diskFormat: DiskFormat;
  /** Every file of the box, in the order the archive holds them. */
  files: readonly string[];
}

/** What a box of each provider holds: the one table `box build` and its tests read. */
export const BOX_LAYOUTS = {
  libvirt: { disk: 'box.img', diskFormat: 'qcow2-compressed', files: ['metadata.json', HOST.vagrantfile, 'box.img'] },
  // The names `vagrant package` gives a VirtualBox box (VirtualBox exports box.ovf's disk as box-disk001.vmdk).
  virtualbox: { disk: 'box-disk001.vmdk', diskFormat: 'vmdk-stream', files: ['box.ovf', 'box-disk001.vmdk', 'metadata.json', HOST.vagrantfile] },
} as const satisfies Record<BoxProvider, BoxLayout>;

/**
 * The storage of a machine imported from our OVF: VirtualBox names the controller itself (no
 * vbox:Machine section), the disk is on port 0, and the seed ISO goes on a free port as a DVD.
 */
export const VIRTUALBOX_SATA = { controller: 'SATA Controller', diskPort: 0, seedPort: 1 } as const;

/**
 * The first Vagrant that knows box architectures (hashicorp/vagrant CHANGELOG 2.4.0, "core: Add
 * architecture support [GH-13239]"). Vagrant itself reads `architecture` only from a box catalog
 * (lib/vagrant/box_metadata.rb) and `box add --architecture`; in the box's own metadata.json it is
 * a record of what the box is for, written only where the Vagrant that adds it knows the concept.
 */
export const ARCHITECTURE_SINCE_VAGRANT = '2.4.0';

const GIB = 1024 ** 3;

export interface BoxMetadataInput {
  provider: BoxProvider;
  arch: BoxArch;
  /** The disk's virtual size (qemu-img info): required for libvirt. */
  virtualSizeBytes?: number;
  /** The Vagrant that will add the box, e.g. `2.3.4`. */
  vagrantVersion: string;
}

export interface BoxMetadata {
  provider: BoxProvider;
  format?: 'qcow2';
  /** GiB, rounded up (vagrant-libvirt sizes the volume from it). */
  virtual_size?: number;
  architecture?: BoxArch;
}

/** Each provider's own part of metadata.json. */
const PROVIDER_METADATA: Record<BoxProvider, (input: BoxMetadataInput) => BoxMetadata> = {
  libvirt: (input) => {
    const bytes = input.virtualSizeBytes;
    if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`boxMetadata: a libvirt box needs the disk's virtual size in bytes, got ${String(bytes)}`);
    return { provider: 'libvirt', format: 'qcow2', virtual_size: Math.ceil(bytes / GIB) };
  },
  virtualbox: () => ({ provider: 'virtualbox' }),
};

/** A box's metadata.json, as an object (JSON.stringify it). */
export function boxMetadata(input: BoxMetadataInput): BoxMetadata {
  const version = /^\d+\.\d+\.\d+/.exec(input.vagrantVersion)?.[0];
  if (!version) throw new Error(`boxMetadata: Vagrant version ${JSON.stringify(input.vagrantVersion)} is not x.y.z`);
  const metadata = PROVIDER_METADATA[input.provider](input);
  return compareVersions(version, ARCHITECTURE_SINCE_VAGRANT) >= 0 ? { ...metadata, architecture: input.arch } : metadata;
}

/** A MAC address as VirtualBox and Vagrant's base_mac write it: 12 upper-case hex digits. */
export function normalizeMac(mac: string): string {
  const hex = mac.replace(/[:-]/g, '').toUpperCase();
  if (!/^[0-9A-F]{12}$/.test(hex)) throw new Error(`not a MAC address: ${JSON.stringify(mac)}`);
  if (parseInt(hex.slice(0, 2), 16) & 1) throw new Error(`${mac} is a multicast MAC address; a network adapter needs a unicast one`);
  return hex;
}

/** A MAC address in VirtualBox's own range (08:00:27), derived from a name: the same box gets the same MAC. */
export function virtualBoxMac(name: string): string {
  return `080027${createHash('sha256').update(name).digest('hex').slice(0, 6).toUpperCase()}`;
}

export interface BoxVagrantfileInput {
  provider: BoxProvider;
  arch: BoxArch;
  /** virtualbox: the NAT adapter's MAC (Vagrant sets it after importing the OVF). */
  baseMac?: string;
  /**
   * libvirt arm64: the host's UEFI firmware, given to qemu as `-bios` (vagrant-libvirt's
   * `loader` without `nvram`), e.g. Debian's /usr/share/qemu-efi-aarch64/QEMU_EFI.fd. The box is
   * built on the machine that runs it, so the path is that machine's.
   */
  uefiLoader?: string;
  /**
   * libvirt arm64: a CPU model for an emulated guest (qemu TCG on another architecture, e.g.
   * `cortex-a72` or `max`); unset, the guest gets the host's CPU (KVM on an arm64 host).
   */
  cpuModel?: string;
}

function plainValue(what: string, value: string): string {
  if (value === '' || /[\u0000-\u001f\u007f]/.test(value)) throw new Error(`boxVagrantfile: ${what} ${JSON.stringify(value)} is empty or has control characters`);
  return rubyQuote(value);
}

/** The provider block's lines for libvirt (`libvirt.<setting> = <value>`). */
function libvirtSettings(input: BoxVagrantfileInput): string[] {
  const lines = ['libvirt.disk_bus = "virtio"', 'libvirt.nic_model_type = "virtio"'];
  if (input.arch === 'amd64') return lines;
  if (!input.uefiLoader) throw new Error('boxVagrantfile: a libvirt arm64 box needs the host UEFI firmware (uefiLoader)');
  return [
    ...lines,
    'libvirt.machine_type = "virt"',
    'libvirt.machine_arch = "aarch64"',
    `libvirt.loader = ${plainValue('uefiLoader', input.uefiLoader)}`,
    ...(input.cpuModel ? ['libvirt.cpu_mode = "custom"', `libvirt.cpu_model = ${plainValue('cpuModel', input.cpuModel)}`] : ['libvirt.cpu_mode = "host-passthrough"']),
    // vagrant-libvirt's defaults are a PC's: ACPI with apic and pae, a ps2 mouse, cirrus video.
    'libvirt.features = ["acpi"]',
    'libvirt.inputs = []',
    'libvirt.graphics_type = "none"',
  ];
}

/** Each provider's lines inside `Vagrant.configure`. */
const PROVIDER_VAGRANTFILE: Record<BoxProvider, (input: BoxVagrantfileInput) => string[]> = {
  libvirt: (input) => ['config.vm.provider :libvirt do |libvirt|', ...libvirtSettings(input).map((l) => `  ${l}`), 'end'],
  virtualbox: (input) => {
    if (!input.baseMac) throw new Error('boxVagrantfile: a VirtualBox box needs the NAT adapter MAC (baseMac)');
    return [`config.vm.base_mac = ${rubyQuote(normalizeMac(input.baseMac))}`];
  },
};

/**
 * The Vagrantfile inside the box: the provider's defaults for machines made from it. The
 * project's own Vagrantfile is merged over it, so it sets only what the box needs to boot.
 */
export function boxVagrantfile(input: BoxVagrantfileInput): string {
  return [
    "# The box's own defaults, written by kubeadm-vagrant box build; a project's Vagrantfile overrides them.",
    'Vagrant.configure("2") do |config|',
    ...PROVIDER_VAGRANTFILE[input.provider](input).map((l) => `  ${l}`),
    'end',
    '',
  ].join('\n');
}

/** Text for XML character data and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export interface OvfInput {
  /** The virtual system's name (VirtualBox suggests it as the VM's name; Vagrant renames the VM anyway). */
  name: string;
  /** VirtualBox's guest OS type id: `Debian_64`, `Ubuntu_64`, `RedHat_64`, `Fedora_64`, or `Debian12_arm64`, ... */
  osType: string;
  cpus: number;
  memoryMiB: number;
  disk: {
    /** The vmdk's name beside the OVF, e.g. box-disk001.vmdk. */
    file: string;
    /** The disk's virtual size in bytes (qemu-img info). */
    capacityBytes: number;
    /** Bytes in use, when known: VirtualBox uses it for its progress estimate only. */
    populatedBytes?: number;
  };
  arch: BoxArch;
}

/** The vmdk flavour VirtualBox exports and imports (VMware's URI, VirtualBox public bug #6612). */
export const VMDK_STREAM_OPTIMIZED = 'http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized';

/**
 * The CIM operating system id (OVF's OperatingSystemSection ovf:id) for a VirtualBox OS type, by
 * the type's family (ovfreader.h's CIMOSType_T; VirtualBox maps Fedora to Linux 2.6.x 64-bit). On
 * import VirtualBox prefers the vbox:OSType element written beside it.
 */
const CIM_OS_BY_FAMILY: readonly [RegExp, number][] = [
  [/^Debian/, 96],
  [/^Ubuntu/, 94],
  [/^RedHat/, 80],
  [/^Oracle/, 109],
  [/^Fedora/, 100],
];
const CIM_OS_LINUX_64 = 101;

/** The adapter subtype VirtualBox writes for its Intel adapters; for arm64 the OS type's own adapter. */
const NIC_SUBTYPE: Record<BoxArch, string | undefined> = { amd64: 'E1000', arm64: undefined };
/** VirtualBox's OS type ids end in `_64` (x86-64) or `_arm64`. */
const OS_TYPE_SUFFIX: Record<BoxArch, RegExp> = { amd64: /^[A-Za-z0-9]+_64$/, arm64: /^[A-Za-z0-9]+_arm64$/ };

function positiveInteger(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`ovfDescriptor: ${what} must be a positive integer, got ${String(n)}`);
  return n;
}

/** One `<Item>` of the hardware section, its rasd: elements in the order given (VirtualBox writes them sorted). */
function item(fields: [string, string | number][]): string[] {
  return ['      <Item>', ...fields.map(([k, v]) => `        <rasd:${k}>${xmlEscape(String(v))}</rasd:${k}>`), '      </Item>'];
}

/**
 * An OVF 1.0 descriptor as VirtualBox writes one, without the optional vbox:Machine section:
 * the vmdk (stream-optimized), CPUs, memory, a SATA (AHCI) controller with the disk on port 0, one
 * NAT adapter. Every value is escaped; nothing depends on the host or the time.
 */
export function ovfDescriptor(input: OvfInput): string {
  const cpus = positiveInteger('cpus', input.cpus);
  const memory = positiveInteger('memoryMiB', input.memoryMiB);
  const capacity = positiveInteger('disk.capacityBytes', input.disk.capacityBytes);
  if (input.disk.populatedBytes !== undefined) positiveInteger('disk.populatedBytes', input.disk.populatedBytes);
  if (!OS_TYPE_SUFFIX[input.arch].test(input.osType)) throw new Error(`ovfDescriptor: ${JSON.stringify(input.osType)} is not a VirtualBox OS type for ${input.arch}`);
  if (input.name === '' || /[\u0000-\u001f\u007f]/.test(input.name)) throw new Error(`ovfDescriptor: name ${JSON.stringify(input.name)} is empty or has control characters`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(input.disk.file)) throw new Error(`ovfDescriptor: disk file ${JSON.stringify(input.disk.file)} is not a plain file name`);
  const cim = CIM_OS_BY_FAMILY.find(([family]) => family.test(input.osType))?.[1] ?? CIM_OS_LINUX_64;
  const name = xmlEscape(input.name);
  const osType = xmlEscape(input.osType);
  const controllerId = 3;
  const nicSubtype = NIC_SUBTYPE[input.arch];
  const populated = input.disk.populatedBytes === undefined ? '' : ` ovf:populatedSize="${input.disk.populatedBytes}"`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" ' +
      'xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" ' +
      'xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" ' +
      'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:vbox="http://www.virtualbox.org/ovf/machine">',
    '  <References>',
    `    <File ovf:id="file1" ovf:href="${xmlEscape(input.disk.file)}"/>`,
    '  </References>',
    '  <DiskSection>',
    '    <Info>List of the virtual disks used in the package</Info>',
    `    <Disk ovf:capacity="${capacity}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="${VMDK_STREAM_OPTIMIZED}"${populated}/>`,
    '  </DiskSection>',
    '  <NetworkSection>',
    '    <Info>Logical networks used in the package</Info>',
    '    <Network ovf:name="NAT">',
    '      <Description>Logical network used by this appliance.</Description>',
    '    </Network>',
    '  </NetworkSection>',
    `  <VirtualSystem ovf:id="${name}">`,
    '    <Info>A virtual machine</Info>',
    `    <OperatingSystemSection ovf:id="${cim}">`,
    '      <Info>The kind of installed guest operating system</Info>',
    `      <Description>${osType}</Description>`,
    `      <vbox:OSType ovf:required="false">${osType}</vbox:OSType>`,
    '    </OperatingSystemSection>',
    '    <VirtualHardwareSection>',
    '      <Info>Virtual hardware requirements for a virtual machine</Info>',
    '      <System>',
    '        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>',
    '        <vssd:InstanceID>0</vssd:InstanceID>',
    `        <vssd:VirtualSystemIdentifier>${name}</vssd:VirtualSystemIdentifier>`,
    '        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>',
    '      </System>',
    ...item([
      ['Caption', `${cpus} virtual CPU`],
      ['Description', 'Number of virtual CPUs'],
      ['ElementName', `${cpus} virtual CPU`],
      ['InstanceID', 1],
      ['ResourceType', 3],
      ['VirtualQuantity', cpus],
    ]),
    ...item([
      ['AllocationUnits', 'MegaBytes'],
      ['Caption', `${memory} MB of memory`],
      ['Description', 'Memory Size'],
      ['ElementName', `${memory} MB of memory`],
      ['InstanceID', 2],
      ['ResourceType', 4],
      ['VirtualQuantity', memory],
    ]),
    ...item([
      ['Address', 0],
      ['Caption', 'sataController0'],
      ['Description', 'SATA Controller'],
      ['ElementName', 'sataController0'],
      ['InstanceID', controllerId],
      ['ResourceSubType', 'AHCI'],
      ['ResourceType', 20],
    ]),
    ...item([
      ['AddressOnParent', VIRTUALBOX_SATA.diskPort],
      ['Caption', 'disk1'],
      ['Description', 'Disk Image'],
      ['ElementName', 'disk1'],
      ['HostResource', '/disk/vmdisk1'],
      ['InstanceID', 4],
      ['Parent', controllerId],
      ['ResourceType', 17],
    ]),
    ...item([
      ['AutomaticAllocation', 'true'],
      ['Caption', "Ethernet adapter on 'NAT'"],
      ['Connection', 'NAT'],
      ['ElementName', "Ethernet adapter on 'NAT'"],
      ['InstanceID', 5],
      ...(nicSubtype ? ([['ResourceSubType', nicSubtype]] as [string, string][]) : []),
      ['ResourceType', 10],
    ]),
    '    </VirtualHardwareSection>',
    '  </VirtualSystem>',
    '</Envelope>',
    '',
  ].join('\n');
}
