// Custom metadata between HTTP fields and the guest's MetadataEntry lists.
// Keys ending in `-bin` carry bytes as base64 on the wire (padded or not);
// other values are printable ASCII. Reserved and transport fields never reach
// the guest, and the guest cannot set them in its response.
import type { MetadataEntry } from '../../wasm/api.js';
import type { OutgoingFields } from '../universal.js';

// Transport fields that are not custom metadata (besides the `grpc-` prefix and pseudo-headers).
const TRANSPORT = new Set(['content-type', 'te', 'content-length', 'host', 'connection', 'accept-encoding', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

const KEY_RE = /^[0-9a-z_.-]+$/;
const ASCII_RE = /^[\x20-\x7e]*$/;

function isCustomKey(key: string): boolean {
  return key.charCodeAt(0) !== 58 /* ':' */ && !key.startsWith('grpc-') && !TRANSPORT.has(key);
}

function pushValue(out: MetadataEntry[], key: string, value: string, binary: boolean): void {
  if (!binary) {
    out.push([key, value]);
    return;
  }
  // Several binary values may arrive joined by commas (base64 has none of its own).
  if (value.indexOf(',') < 0) {
    out.push([key, Buffer.from(value, 'base64')]);
    return;
  }
  for (const part of value.split(',')) out.push([key, Buffer.from(part.trim(), 'base64')]);
}

/** Most requests carry no custom metadata: they all share this one (frozen) list. */
const NO_METADATA: readonly MetadataEntry[] = Object.freeze([]);

/** The request's custom metadata, in order, from its flat [name, value, …] fields; `-bin` values decoded. */
export function requestMetadata(fields: readonly string[]): readonly MetadataEntry[] {
  let out: MetadataEntry[] | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const key = fields[i]!;
    if (!isCustomKey(key)) continue;
    pushValue((out ??= []), key, fields[i + 1]!, key.endsWith('-bin'));
  }
  return out ?? NO_METADATA;
}

/** Why a guest metadata entry cannot be sent, or undefined when it can. */
export function invalidEntry(key: string, value: string | Uint8Array): string | undefined {
  if (!KEY_RE.test(key)) return `metadata key ${JSON.stringify(key)} has characters other than 0-9 a-z _ . -`;
  if (!isCustomKey(key)) return `metadata key ${JSON.stringify(key)} is reserved`;
  const binary = key.endsWith('-bin');
  if (binary !== (typeof value !== 'string')) return `metadata key ${JSON.stringify(key)} ${binary ? 'ends in -bin but has a text value' : 'has a binary value but does not end in -bin'}`;
  if (!binary && !ASCII_RE.test(value as string)) return `metadata value of ${JSON.stringify(key)} is not printable ASCII`;
  return undefined;
}

/**
 * Adds the entries to `fields` (base64 for `-bin`), skipping invalid ones.
 * Returns the reason of the first skipped entry, for the log.
 */
export function addMetadata(fields: OutgoingFields, entries: readonly MetadataEntry[]): string | undefined {
  let problem: string | undefined;
  for (const [key, value] of entries) {
    const why = invalidEntry(key, value);
    if (why !== undefined) {
      problem ??= why;
      continue;
    }
    const text = typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
    const prev = fields[key];
    if (prev === undefined) fields[key] = text;
    else if (typeof prev === 'string') fields[key] = [prev, text];
    else fields[key] = [...prev, text];
  }
  return problem;
}

// grpc-message: percent-encode bytes outside 0x20-0x7E and '%' itself (UTF-8 first).
export function percentEncode(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Decodes grpc-message; malformed escapes are kept as they are (the spec says so). */
export function percentDecode(text: string): string {
  if (text.indexOf('%') < 0) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && i + 2 < text.length && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(text[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
