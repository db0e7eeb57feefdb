import { UsageError } from '../errors.js';

/**
 * Image references as Docker and containerd read them: `[host[:port]/]path[:tag][@digest]`, with
 * Docker Hub's defaults (no host: `docker.io`; a single name: `library/<name>`; no tag nor digest:
 * `latest`), and where a registry's API is reached: Docker Hub's at registry-1.docker.io, or a
 * mirror from `mirrors.registries`.
 */

/** A parsed image reference. */
export interface ImageReference {
  /** The registry as references name it: `registry.k8s.io`, `docker.io`, `localhost:5000`. */
  registry: string;
  /** The repository path in that registry: `coredns/coredns`, `library/nginx`. */
  repository: string;
  tag: string | undefined;
  /** `sha256:<hex>`, when the reference pins one. */
  digest: string | undefined;
}

/** The registry a reference without a host means. */
export const DOCKER_HUB = 'docker.io';
/** Docker Hub's API host (docker.io itself redirects people to its website). */
const DOCKER_HUB_API = 'registry-1.docker.io';
/** Other names of Docker Hub that references use. */
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io']);

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** A registry host: a DNS name or IPv4 address with an optional port, or `localhost[:port]`. */
export const REGISTRY_HOST = /^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::\d{1,5})?$/;

/** Whether the first component of a name is a registry host (it has a dot or a port, or is localhost). */
function isHost(component: string): boolean {
  return component === 'localhost' || /[.:]/.test(component) || /[A-Z]/.test(component);
}

/** Parses a reference; a malformed one is a UsageError naming it and what is wrong. */
export function parseImageReference(text: string): ImageReference {
  const bad = (why: string) => new UsageError(`"${text}" is not an image reference: ${why} (expected [registry/]repository[:tag][@sha256:<hex>], e.g. registry.k8s.io/pause:3.10.2)`);
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`the digest "${digest}" is not sha256:<64 lower-case hex digits>`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag "${tag}" is not a tag (letters, digits, _ . -, up to 128, not starting with . or -)`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && isHost(parts[0]!)) {
    registry = parts.shift()!;
    if (!REGISTRY_HOST.test(registry)) throw bad(`"${registry}" is not a registry host`);
  }
  if (DOCKER_HUB_ALIASES.has(registry)) registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p))) throw bad(`the repository "${parts.join('/')}" is not lower-case path components`);
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  return { registry, repository: parts.join('/'), tag: tag ?? (digest ? undefined : 'latest'), digest };
}

/** `registry/repository:tag` (and `@digest` when pinned): the name an archive gives the image. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Where a registry's API is reached for a repository: the origin of `/v2/` and the repository name there. */
export interface RegistryEndpoint {
  /** `https://registry.k8s.io`, or a mirror's origin. */
  origin: string;
  /** The repository's name at that origin: the reference's, under a mirror's path prefix. */
  repository: string;
  /** The mirror's base URL, when one is used. */
  mirror: string | undefined;
}

/**
 * The endpoint of a reference: `mirrors[registry]` (`http://127.0.0.1:5000/registry.k8s.io`: origin
 * `http://127.0.0.1:5000`, repository `registry.k8s.io/<repository>`), else the registry over HTTPS
 * (Docker Hub's API host for docker.io).
 */
export function registryEndpoint(ref: ImageReference, mirrors: Readonly<Record<string, string>> = {}): RegistryEndpoint {
  const mirror = mirrors[ref.registry];
  if (mirror) {
    const url = new URL(mirror);
    const prefix = url.pathname.replace(/^\/+|\/+$/g, '');
    return { origin: url.origin, repository: prefix ? `${prefix}/${ref.repository}` : ref.repository, mirror };
  }
  const host = ref.registry === DOCKER_HUB ? DOCKER_HUB_API : ref.registry;
  return { origin: `https://${host}`, repository: ref.repository, mirror: undefined };
}
