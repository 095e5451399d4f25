// Component names (`example.com:foo.Bar@1.2.3`) and the pod labels that carry them.
// (IDs: src/pods/ids.ts.)
import semver from 'semver';
import { invalidArgument } from '../errors.js';

/** Labels through which a pod names its component (label values cannot hold ':' or '@'). */
export const LABEL_DOMAIN = 'workd.dev/domain';
export const LABEL_SERVICE = 'workd.dev/service';
export const LABEL_VERSION = 'workd.dev/version';

export interface ComponentName {
  /** DNS name the service is reached at (the `:authority` host), e.g. `example.com`. */
  readonly domain: string;
  /** Fully-qualified protobuf service, e.g. `foo.Bar` (package `foo`, service `Bar`). */
  readonly service: string;
  /** Semantic version, e.g. `1.2.3`. */
  readonly version: string;
  /** `domain:service@version`, the canonical string. */
  readonly name: string;
  /** `domain:service`, the key of the component map (all versions of one service). */
  readonly serviceKey: string;
}

// RFC 1123 host names: dot-separated labels of letters, digits and hyphens.
const DOMAIN_RE = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
// A protobuf full name: identifiers joined by dots; the last one is the service.
const SERVICE_RE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

export function validateDomain(domain: string, what = 'domain'): string {
  if (domain === '') throw invalidArgument(`component ${what} is missing`);
  if (!DOMAIN_RE.test(domain)) {
    throw invalidArgument(`component ${what} ${JSON.stringify(domain)} is not a valid lowercase DNS name`);
  }
  return domain;
}

export function validateService(service: string, what = 'service'): string {
  if (service === '') throw invalidArgument(`component ${what} is missing`);
  if (!SERVICE_RE.test(service)) {
    throw invalidArgument(`component ${what} ${JSON.stringify(service)} is not a protobuf service name like foo.Bar`);
  }
  return service;
}

export function validateVersion(version: string, what = 'version'): string {
  if (version === '') throw invalidArgument(`component ${what} is missing`);
  const v = semver.valid(version);
  if (v === null || v !== version) {
    throw invalidArgument(`component ${what} ${JSON.stringify(version)} is not a semantic version like 1.2.3`);
  }
  return version;
}

export function componentName(domain: string, service: string, version: string): ComponentName {
  validateDomain(domain);
  validateService(service);
  validateVersion(version);
  return {
    domain,
    service,
    version,
    name: `${domain}:${service}@${version}`,
    serviceKey: `${domain}:${service}`,
  };
}

/** Parses `domain:package.Service@version`; INVALID_ARGUMENT names the part that is wrong. */
export function parseComponentName(text: string): ComponentName {
  const colon = text.indexOf(':');
  if (colon < 0) throw invalidArgument(`component name ${JSON.stringify(text)} has no domain (expected domain:package.Service@version)`);
  const at = text.indexOf('@', colon + 1);
  if (at < 0) throw invalidArgument(`component name ${JSON.stringify(text)} has no version (expected domain:package.Service@version)`);
  return componentName(text.slice(0, colon), text.slice(colon + 1, at), text.slice(at + 1));
}

/** Reads the component from a pod's labels; INVALID_ARGUMENT names the missing or malformed label. */
export function componentFromLabels(labels: Readonly<Record<string, string>>): ComponentName {
  const domain = labels[LABEL_DOMAIN];
  const service = labels[LABEL_SERVICE];
  const version = labels[LABEL_VERSION];
  if (domain === undefined) throw invalidArgument(`pod label ${LABEL_DOMAIN} is missing`);
  if (service === undefined) throw invalidArgument(`pod label ${LABEL_SERVICE} is missing`);
  if (version === undefined) throw invalidArgument(`pod label ${LABEL_VERSION} is missing`);
  return componentName(
    validateDomain(domain, `label ${LABEL_DOMAIN}`),
    validateService(service, `label ${LABEL_SERVICE}`),
    validateVersion(version, `label ${LABEL_VERSION}`),
  );
}

/** True when the labels carry any of the component labels (the pod is a component pod). */
export function hasComponentLabels(labels: Readonly<Record<string, string>>): boolean {
  return LABEL_DOMAIN in labels || LABEL_SERVICE in labels || LABEL_VERSION in labels;
}
