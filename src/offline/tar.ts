import { closeSync, openSync, readSync } from 'node:fs';

/**
 * tar-stream (CommonJS), loaded on first use: its exports are the module's default export under
 * Node and the bundle, its named ones under vitest's loader.
 */
export async function loadTarStream(): Promise<typeof import('tar-stream')> {
  const m = (await import('tar-stream')) as typeof import('tar-stream') & { default?: typeof import('tar-stream') };
  return m.default ?? m;
}

/**
 * Reads small members of an (uncompressed) tar archive by walking its 512-byte headers with
 * positioned reads: an image archive of hundreds of MB is not read through to find its
 * index.json. ustar names (prefix + name) are read; GNU long-name (`L`) and pax (`x`, `g`) records
 * are skipped over correctly, and the entry they describe is matched by its own header name, which
 * is enough for the short top-level names looked for (index.json, manifest.json).
 */
export function readTarMembers(file: string, wanted: readonly string[], maxSize = 1 << 20): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(512);
    for (let offset = 0; found.size < wanted.length; ) {
      if (readSync(fd, header, 0, 512, offset) < 512 || header.every((b) => b === 0)) break;
      const field = (start: number, length: number) => header.subarray(start, start + length).toString('latin1').replace(/\0.*$/s, '');
      const size = parseInt(field(124, 12).trim() || '0', 8);
      if (!Number.isFinite(size) || size < 0) throw new Error(`${file}: not a tar archive (bad size field at byte ${offset})`);
      if (offset === 0 && field(257, 5) !== 'ustar' && !/^[\x20-\x7e]+$/.test(field(0, 100))) throw new Error(`${file}: not a tar archive`);
      const prefix = field(345, 155);
      const name = (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100)).replace(/^\.\//, '');
      const type = field(156, 1) || '0';
      if ((type === '0' || type === '\0') && wanted.includes(name) && size <= maxSize) {
        const body = Buffer.alloc(size);
        readSync(fd, body, 0, size, offset + 512);
        found.set(name, body);
      }
      offset += 512 + Math.ceil(size / 512) * 512;
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

/**
 * The image references an archive holds: an OCI image layout (index.json, names in the
 * `io.containerd.image.name` or a full `org.opencontainers.image.ref.name` annotation) or a
 * `docker save` archive (manifest.json RepoTags), the formats `ctr images import` takes.
 */
export function imageRefsOf(file: string): string[] {
  const members = readTarMembers(file, ['index.json', 'manifest.json']);
  const refs = new Set<string>();
  const index = members.get('index.json');
  if (index) {
    const parsed = JSON.parse(index.toString('utf8')) as { manifests?: { annotations?: Record<string, string> }[] };
    for (const m of parsed.manifests ?? []) {
      const a = m.annotations ?? {};
      const name = a['io.containerd.image.name'] ?? a['org.opencontainers.image.ref.name'];
      // A bare tag (`3.10.2`) names no repository: ctr would need --base-name, so it does not count.
      if (name && /[/:]/.test(name) && name.includes(':')) refs.add(name);
    }
  }
  const manifest = members.get('manifest.json');
  if (manifest) {
    const parsed = JSON.parse(manifest.toString('utf8')) as { RepoTags?: string[] | null }[];
    for (const entry of Array.isArray(parsed) ? parsed : []) for (const tag of entry.RepoTags ?? []) refs.add(tag);
  }
  return [...refs].sort();
}
