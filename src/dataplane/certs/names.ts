// Which names a certificate serves, and which of a set of patterns a TLS
// server name (SNI) or a call's domain falls under. The rules are RFC 6125's
// as browsers and Go apply them: names compare without case and without a
// trailing dot; `*.example.com` stands for exactly one label (`a.example.com`,
// not `example.com` nor `a.b.example.com`); an exact name wins over a wildcard.
import type { X509Certificate } from 'node:crypto';

/** `Example.COM.` → `example.com`. */
export function normalizeName(name: string): string {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

const LABEL = '[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?';
const DNS_NAME = new RegExp(`^(${LABEL}\\.)*${LABEL}$`);
const WILDCARD = new RegExp(`^\\*\\.(${LABEL}\\.)*${LABEL}$`);

/** A host name as a certificate may carry it: letters, digits, `-`, `_`, dots between labels; at most 253 bytes. */
export function isDnsName(name: string): boolean {
  return name.length <= 253 && DNS_NAME.test(name);
}

/** A name or a `*.`-wildcard, lower-case, as accepted in config keys and certificates. */
export function isNamePattern(name: string): boolean {
  return name.length <= 253 && (DNS_NAME.test(name) || WILDCARD.test(name));
}

/** The DNS subjectAltNames of a certificate (wildcards kept), normalized; empty when it has none. */
export function certificateNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san === undefined) return [];
  const out: string[] = [];
  // node renders them as `DNS:a.example, IP Address:127.0.0.1, DNS:*.b.example`.
  for (const part of san.split(', ')) {
    if (!part.startsWith('DNS:')) continue;
    const n = normalizeName(part.slice(4));
    if (isNamePattern(n) && !out.includes(n)) out.push(n);
  }
  return out;
}

/** Patterns (exact names and `*.` wildcards) to values; lookups by a concrete name. */
export class NameTable<T> {
  private readonly exact = new Map<string, T>();
  /** Keyed by the part after `*.`. */
  private readonly wild = new Map<string, T>();

  /** Adds a pattern; false (and nothing changed) when it is there already. */
  add(pattern: string, value: T): boolean {
    const p = normalizeName(pattern);
    const [map, key] = p.startsWith('*.') ? [this.wild, p.slice(2)] : [this.exact, p];
    if (map.has(key)) return false;
    map.set(key, value);
    return true;
  }

  /** The value for a name: its exact pattern, else the wildcard one label up. */
  get(name: string): T | undefined {
    const n = normalizeName(name);
    const hit = this.exact.get(n);
    if (hit !== undefined) return hit;
    const dot = n.indexOf('.');
    return dot > 0 ? this.wild.get(n.slice(dot + 1)) : undefined;
  }

  get size(): number {
    return this.exact.size + this.wild.size;
  }
}
