import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  ARCHITECTURE_SINCE_VAGRANT,
  BOX_LAYOUTS,
  boxMetadata,
  boxVagrantfile,
  normalizeMac,
  ovfDescriptor,
  virtualBoxMac,
  VIRTUALBOX_SATA,
  VMDK_STREAM_OPTIMIZED,
  xmlEscape,
  type OvfInput,
} from '../../src/boxes/formats.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'boxes');
const GIB = 1024 ** 3;

describe('boxMetadata', () => {
  it('writes libvirt metadata with the virtual size in GiB, rounded up', () => {
    const meta = (bytes: number) => boxMetadata({ provider: 'libvirt', arch: 'amd64', virtualSizeBytes: bytes, vagrantVersion: '2.3.4' });
    expect(meta(2 * GIB)).toEqual({ provider: 'libvirt', format: 'qcow2', virtual_size: 2 });
    expect(meta(2 * GIB + 1)).toEqual({ provider: 'libvirt', format: 'qcow2', virtual_size: 3 });
    expect(meta(1)).toEqual({ provider: 'libvirt', format: 'qcow2', virtual_size: 1 });
    expect(JSON.stringify(meta(10 * GIB))).toBe('{"provider":"libvirt","format":"qcow2","virtual_size":10}');
  });

  it('writes the architecture only for a Vagrant that knows it (2.4.0 and later)', () => {
    expect(ARCHITECTURE_SINCE_VAGRANT).toBe('2.4.0');
    const vb = (vagrantVersion: string, arch: 'amd64' | 'arm64' = 'arm64') => boxMetadata({ provider: 'virtualbox', arch, vagrantVersion });
    expect(vb('2.3.4')).toEqual({ provider: 'virtualbox' });
    expect(vb('2.3.7')).toEqual({ provider: 'virtualbox' });
    expect(vb('2.4.0')).toEqual({ provider: 'virtualbox', architecture: 'arm64' });
    expect(vb('2.4.10.dev', 'amd64')).toEqual({ provider: 'virtualbox', architecture: 'amd64' });
    expect(vb('10.0.0')).toEqual({ provider: 'virtualbox', architecture: 'arm64' });
    expect(boxMetadata({ provider: 'libvirt', arch: 'arm64', virtualSizeBytes: GIB, vagrantVersion: '2.4.9' })).toEqual({ provider: 'libvirt', format: 'qcow2', virtual_size: 1, architecture: 'arm64' });
  });

  it('refuses a libvirt box without a size and a Vagrant version it cannot read', () => {
    expect(() => boxMetadata({ provider: 'libvirt', arch: 'amd64', vagrantVersion: '2.3.4' })).toThrow(/virtual size/);
    expect(() => boxMetadata({ provider: 'libvirt', arch: 'amd64', virtualSizeBytes: 0, vagrantVersion: '2.3.4' })).toThrow(/virtual size/);
    expect(() => boxMetadata({ provider: 'virtualbox', arch: 'amd64', vagrantVersion: 'Vagrant 2.3.4' })).toThrow(/not x\.y\.z/);
  });
});

describe('BOX_LAYOUTS', () => {
  it('names the files a box of each provider holds', () => {
    expect(BOX_LAYOUTS.libvirt).toEqual({ disk: 'box.img', diskFormat: 'qcow2-compressed', files: ['metadata.json', 'Vagrantfile', 'box.img'] });
    expect(BOX_LAYOUTS.virtualbox).toEqual({ disk: 'box-disk001.vmdk', diskFormat: 'vmdk-stream', files: ['box.ovf', 'box-disk001.vmdk', 'metadata.json', 'Vagrantfile'] });
  });
});

const HEADER = "# The box's own defaults, written by kubeadm-vagrant box build; a project's Vagrantfile overrides them.\nVagrant.configure(\"2\") do |config|\n";

describe('boxVagrantfile', () => {
  it('libvirt amd64: virtio disk and network only', () => {
    expect(boxVagrantfile({ provider: 'libvirt', arch: 'amd64' })).toBe(
      `${HEADER}  config.vm.provider :libvirt do |libvirt|\n    libvirt.disk_bus = "virtio"\n    libvirt.nic_model_type = "virtio"\n  end\nend\n`,
    );
  });

  it('libvirt arm64: the virt machine, UEFI, the host CPU and no PC devices', () => {
    expect(boxVagrantfile({ provider: 'libvirt', arch: 'arm64', uefiLoader: '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd' })).toBe(
      HEADER +
        [
          '  config.vm.provider :libvirt do |libvirt|',
          '    libvirt.disk_bus = "virtio"',
          '    libvirt.nic_model_type = "virtio"',
          '    libvirt.machine_type = "virt"',
          '    libvirt.machine_arch = "aarch64"',
          '    libvirt.loader = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"',
          '    libvirt.cpu_mode = "host-passthrough"',
          '    libvirt.features = ["acpi"]',
          '    libvirt.inputs = []',
          '    libvirt.graphics_type = "none"',
          '  end',
          'end',
          '',
        ].join('\n'),
    );
  });

  it('libvirt arm64 under emulation: a named CPU model', () => {
    const text = boxVagrantfile({ provider: 'libvirt', arch: 'arm64', uefiLoader: '/fw.fd', cpuModel: 'cortex-a72' });
    expect(text).toContain('    libvirt.cpu_mode = "custom"\n    libvirt.cpu_model = "cortex-a72"\n');
    expect(text).not.toContain('host-passthrough');
  });

  it('quotes a firmware path as Ruby data, never code', () => {
    const text = boxVagrantfile({ provider: 'libvirt', arch: 'arm64', uefiLoader: '/x/#{`id`}/"q"\\.fd' });
    expect(text).toContain('libvirt.loader = "/x/\\#{`id`}/\\"q\\"\\\\.fd"');
    expect(() => boxVagrantfile({ provider: 'libvirt', arch: 'arm64', uefiLoader: '/a\nsystem("id")' })).toThrow(/control characters/);
    expect(() => boxVagrantfile({ provider: 'libvirt', arch: 'arm64' })).toThrow(/uefiLoader/);
  });

  it('virtualbox: the base MAC, normalized', () => {
    expect(boxVagrantfile({ provider: 'virtualbox', arch: 'amd64', baseMac: '08:00:27:ab:cd:ef' })).toBe(`${HEADER}  config.vm.base_mac = "080027ABCDEF"\nend\n`);
    expect(() => boxVagrantfile({ provider: 'virtualbox', arch: 'amd64' })).toThrow(/baseMac/);
  });
});

describe('MAC addresses', () => {
  it('normalizes and refuses what no adapter can have', () => {
    expect(normalizeMac('08-00-27-00-00-01')).toBe('080027000001');
    expect(() => normalizeMac('08002700001')).toThrow(/not a MAC/);
    expect(() => normalizeMac('0100270000zz')).toThrow(/not a MAC/);
    expect(() => normalizeMac('010027000001')).toThrow(/multicast/);
  });

  it("derives a stable one in VirtualBox's range from the box name", () => {
    const mac = virtualBoxMac('kubeadm-vagrant/debian-12');
    expect(mac).toMatch(/^080027[0-9A-F]{6}$/);
    expect(virtualBoxMac('kubeadm-vagrant/debian-12')).toBe(mac);
    expect(virtualBoxMac('kubeadm-vagrant/debian-13')).not.toBe(mac);
  });
});

const OVF: OvfInput = { name: 'kubeadm-vagrant-debian-12', osType: 'Debian_64', cpus: 2, memoryMiB: 2048, disk: { file: 'box-disk001.vmdk', capacityBytes: 2 * GIB }, arch: 'amd64' };

describe('ovfDescriptor', () => {
  it('writes the OVF 1.0 VirtualBox reads: the stored example exactly', () => {
    expect(ovfDescriptor(OVF)).toBe(readFileSync(join(FIXTURES, 'debian-12-amd64.ovf'), 'utf8'));
  });

  it('names the vmdk, its capacity and format, the SATA controller with the disk on port 0, and a NAT adapter', () => {
    const xml = ovfDescriptor({ ...OVF, disk: { ...OVF.disk, populatedBytes: 123456 } });
    expect(xml).toContain('<File ovf:id="file1" ovf:href="box-disk001.vmdk"/>');
    expect(xml).toContain(`<Disk ovf:capacity="${2 * GIB}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="${VMDK_STREAM_OPTIMIZED}" ovf:populatedSize="123456"/>`);
    expect(xml).toContain('<rasd:Description>SATA Controller</rasd:Description>');
    expect(xml).toContain('<rasd:ResourceSubType>AHCI</rasd:ResourceSubType>');
    expect(xml).toMatch(/<rasd:AddressOnParent>0<\/rasd:AddressOnParent>[\s\S]*<rasd:HostResource>\/disk\/vmdisk1<\/rasd:HostResource>[\s\S]*<rasd:Parent>3<\/rasd:Parent>/);
    expect(xml).toContain('<rasd:Connection>NAT</rasd:Connection>');
    expect(VIRTUALBOX_SATA).toEqual({ controller: 'SATA Controller', diskPort: 0, seedPort: 1 });
  });

  it('an arm64 machine: its OS type, and the adapter VirtualBox picks for it', () => {
    const xml = ovfDescriptor({ ...OVF, osType: 'Debian12_arm64', arch: 'arm64' });
    expect(xml).toContain('<vbox:OSType ovf:required="false">Debian12_arm64</vbox:OSType>');
    expect(xml).toContain('<OperatingSystemSection ovf:id="96">');
    expect(xml).not.toContain('E1000');
    expect(ovfDescriptor({ ...OVF, osType: 'Fedora_64' })).toContain('<OperatingSystemSection ovf:id="100">');
    expect(ovfDescriptor({ ...OVF, osType: 'Linux_64' })).toContain('<OperatingSystemSection ovf:id="101">');
  });

  it('escapes every text it is given', () => {
    expect(xmlEscape(`a<b>&"c'`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    const xml = ovfDescriptor({ ...OVF, name: 'x"/><Evil a="&' });
    expect(xml).toContain('<VirtualSystem ovf:id="x&quot;/&gt;&lt;Evil a=&quot;&amp;">');
    expect(xml).not.toContain('<Evil');
  });

  it('refuses values VirtualBox would not take', () => {
    expect(() => ovfDescriptor({ ...OVF, cpus: 0 })).toThrow(/cpus/);
    expect(() => ovfDescriptor({ ...OVF, memoryMiB: 1.5 })).toThrow(/memoryMiB/);
    expect(() => ovfDescriptor({ ...OVF, disk: { ...OVF.disk, capacityBytes: -1 } })).toThrow(/capacityBytes/);
    expect(() => ovfDescriptor({ ...OVF, osType: 'Debian12_arm64' })).toThrow(/not a VirtualBox OS type for amd64/);
    expect(() => ovfDescriptor({ ...OVF, arch: 'arm64' })).toThrow(/for arm64/);
    expect(() => ovfDescriptor({ ...OVF, disk: { ...OVF.disk, file: '../disk.vmdk' } })).toThrow(/plain file name/);
    expect(() => ovfDescriptor({ ...OVF, name: 'a\nb' })).toThrow(/control characters/);
  });
});
