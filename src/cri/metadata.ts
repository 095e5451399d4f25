// Bounds on what a CRI client stores with a pod or container and gets back in
// every List and Status answer: labels, annotations and metadata names. They
// follow what the Kubernetes API lets a pod carry (apimachinery's validation),
// so nothing the kubelet sends is refused, while a careless client cannot make
// one pod's record — and so ListPodSandbox — grow to many MiB.
//
// - label and annotation keys are qualified names (IsQualifiedName): an
//   optional DNS subdomain prefix of at most 253 characters and `/`, then a
//   name of at most 63 characters `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`;
// - a label value is at most 253 bytes (apimachinery allows 63 on pod labels,
//   but the kubelet puts the pod name, up to 253, in io.kubernetes.pod.name);
//   its characters are not checked (component versions may carry `+`);
// - annotations together are at most 256 KiB (TotalAnnotationSizeLimitB, the
//   sum of key and value lengths), and labels together the same;
// - metadata name, namespace and uid are at most 253 bytes each.
//
// The numbers are limits of the one table (src/limits.ts, section [cri]).
import { invalidArgument } from '../errors.js';
import { limitKey, type Limits } from '../limits.js';

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Shows at most 80 characters of what a client sent. */
const show = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** Why `key` is not a qualified name, or undefined when it is. */
export function qualifiedNameError(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined) {
    if (prefix.length === 0) return 'its prefix before "/" is empty';
    if (prefix.length > 253) return `its prefix is ${prefix.length} characters, more than 253`;
    if (!DNS_SUBDOMAIN.test(prefix)) return 'its prefix is not a DNS subdomain (lowercase letters, digits, "-" and ".")';
  }
  if (name.length === 0) return 'its name is empty';
  if (name.length > 63) return `its name is ${name.length} characters, more than 63`;
  if (!NAME.test(name)) return 'its name must be letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  return undefined;
}

function checkMap(map: Record<string, string> | undefined, what: string, kind: 'label' | 'annotation', limits: Limits): void {
  if (!map) return;
  const name = kind === 'label' ? 'criMaxLabelsBytes' : 'criMaxAnnotationsBytes';
  const total = limits[name];
  let size = 0;
  for (const [k, v] of Object.entries(map)) {
    size += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (size > total) throw invalidArgument(`${what}: ${kind}s take more than ${total} bytes (keys and values together; ${limitKey(name)})`);
    // Annotation keys are checked lowercased, as apimachinery does.
    const why = qualifiedNameError(kind === 'annotation' ? k.toLowerCase() : k);
    if (why) throw invalidArgument(`${what}: ${kind} key ${show(k)} is not a qualified name: ${why}`);
    if (kind === 'label' && Buffer.byteLength(v) > limits.criMaxLabelValueBytes) {
      throw invalidArgument(`${what}: label ${show(k)} has a value of ${Buffer.byteLength(v)} bytes, more than ${limits.criMaxLabelValueBytes} (${limitKey('criMaxLabelValueBytes')})`);
    }
  }
}

/** Labels and annotations of a PodSandboxConfig or ContainerConfig. */
export function checkLabelsAndAnnotations(config: { labels?: Record<string, string>; annotations?: Record<string, string> }, what: string, limits: Limits): void {
  checkMap(config.labels, what, 'label', limits);
  checkMap(config.annotations, what, 'annotation', limits);
}

/** Metadata strings (name, namespace, uid) of a PodSandboxConfig or ContainerConfig. */
export function checkMetadata(metadata: { name?: string; namespace?: string; uid?: string } | null | undefined, what: string, limits: Limits): void {
  if (!metadata) return;
  const max = limits.criMaxMetadataNameBytes;
  for (const field of ['name', 'namespace', 'uid'] as const) {
    const v = metadata[field];
    if (typeof v === 'string' && Buffer.byteLength(v) > max) {
      throw invalidArgument(`${what}: metadata.${field} is ${Buffer.byteLength(v)} bytes, more than ${max} (${limitKey('criMaxMetadataNameBytes')})`);
    }
  }
}
