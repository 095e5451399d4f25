// Image references, normalised the way docker and containerd do, and the
// mapping between a component name and the reference it is published under
// (docs/image-format.md).
import { invalidArgument } from '../errors.js';
import type { ComponentName } from '../pods/names.js';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';
/** Where docker.io's API actually lives. */
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

export interface ImageReference {
  /** Host[:port] of the registry, e.g. `registry.example:5000` or `docker.io`. */
  readonly registry: string;
  /** e.g. `example.com/foo.bar` (`library/x` for docker.io single names). */
  readonly repository: string;
  /** Absent when the reference names only a digest. */
  readonly tag?: string;
  readonly digest?: string;
}

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const DOMAIN_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;

/** Parses `[registry/]repo[:tag][@digest]`; a name alone gets the tag `latest`. */
export function parseReference(text: string): ImageReference {
  const bad = (why: string) => invalidArgument(`image reference ${JSON.stringify(text)} is invalid: ${why}`);
  if (text === '') throw bad('it is empty');
  if (text.length > 512) throw bad('it is longer than 512 characters');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad(`digest ${JSON.stringify(digest)} is malformed`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`tag ${JSON.stringify(tag)} is malformed`);
  }
  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // docker's rule: the first component is a registry when it looks like a host.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      registry = first;
      repository = rest.slice(slash + 1);
      if (!DOMAIN_RE.test(registry)) throw bad(`registry ${JSON.stringify(registry)} is not a host[:port]`);
    }
  }
  if (registry === 'index.docker.io') registry = DEFAULT_REGISTRY;
  if (repository === '') throw bad('the repository is missing');
  if (!PATH_RE.test(repository)) {
    throw bad(`repository ${JSON.stringify(repository)} must be lowercase letters, digits and separators (. _ __ -) between slashes`);
  }
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `registry/repo` */
export function repoName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The fully normalised form (`docker.io/library/x:latest`, `host/repo@sha256:…`). */
export function formatReference(ref: ImageReference): string {
  return repoName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** The host the registry's HTTP API answers on. */
export function apiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? DOCKER_HUB_API_HOST : registry;
}

/** Host without port, brackets removed. */
export function registryHostname(registry: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(registry);
  if (m) return m[1]!;
  const c = registry.lastIndexOf(':');
  return c >= 0 ? registry.slice(0, c) : registry;
}

export function isLoopbackRegistry(registry: string): boolean {
  const h = registryHostname(registry).toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** A semver version as a tag: `+` (build metadata) is not allowed in tags and becomes `_`. */
export function versionToTag(version: string): string {
  return version.replace(/\+/g, '_');
}

/** `example.com:foo.Bar@1.2.3` → `example.com/foo.bar` (the repository path under a registry). */
export function componentRepository(component: ComponentName): string {
  return `${component.domain}/${component.service.toLowerCase()}`;
}

/** `example.com:foo.Bar@1.2.3` + `registry:5000` → `registry:5000/example.com/foo.bar:1.2.3`. */
export function componentReference(component: ComponentName, registry: string): string {
  return `${registry}/${componentRepository(component)}:${versionToTag(component.version)}`;
}
