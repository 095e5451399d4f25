// HTTP/3 request messages as field lists (RFC 9114 §4.2-4.3): a decoded
// request field section becomes the transport-free request head (responses
// are encoded straight into HEADERS frames by headers-frame.ts). Anything
// malformed is a stream error H3_MESSAGE_ERROR naming what was wrong.
import { H3Code, streamError } from './error-codes.js';
import type { H3Error } from './error-codes.js';
import type { UniversalHeaders } from '../universal.js';

export interface RequestHead {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  headers: UniversalHeaders;
  /** content-length when given, else -1. */
  contentLength: number;
}

const malformed = (what: string): H3Error => streamError(H3Code.H3_MESSAGE_ERROR, `malformed request: ${what}`);

/** Connection-specific fields HTTP/3 forbids (RFC 9114 §4.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function hasUpperOrInvalid(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    // token characters, lowercase only (RFC 9110 §5.1, RFC 9114 §4.2)
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a) || c === 0x3a) return true;
  }
  return name.length === 0;
}

/** Builds the request head from a flat [name, value, …] list. */
export function requestHead(fields: readonly string[]): RequestHead {
  let method: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let path: string | undefined;
  let contentLength = -1;
  const headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 0x3a /* ':' */) {
      if (regular) throw malformed(`pseudo-header ${name} after regular fields`);
      switch (name) {
        case ':method':
          if (method !== undefined) throw malformed('repeated :method');
          method = value;
          break;
        case ':scheme':
          if (scheme !== undefined) throw malformed('repeated :scheme');
          scheme = value;
          break;
        case ':authority':
          if (authority !== undefined) throw malformed('repeated :authority');
          authority = value;
          break;
        case ':path':
          if (path !== undefined) throw malformed('repeated :path');
          path = value;
          break;
        default:
          throw malformed(`unknown pseudo-header ${name}`);
      }
      continue;
    }
    regular = true;
    if (hasUpperOrInvalid(name)) throw malformed(`field name ${JSON.stringify(name)} is not a lowercase token`);
    if (CONNECTION_SPECIFIC.has(name)) throw malformed(`connection-specific field ${name}`);
    if (name === 'te' && value !== 'trailers') throw malformed(`te: ${value} (only "trailers" is allowed)`);
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (contentLength >= 0 && Number(value) !== contentLength)) throw malformed(`content-length ${JSON.stringify(value)}`);
      contentLength = Number(value);
    }
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (typeof prev === 'string') headers[name] = [prev, value];
    else prev.push(value);
  }
  if (method === undefined) throw malformed('no :method');
  if (method === 'CONNECT') throw malformed('CONNECT is not supported');
  if (scheme === undefined) throw malformed('no :scheme');
  if (path === undefined || path === '') throw malformed('no :path');
  if (authority === undefined) {
    const host = headers.host;
    authority = typeof host === 'string' ? host : '';
  }
  return { method, scheme, authority, path, headers, contentLength };
}

/** Checks a trailing field section (no pseudo-headers allowed, RFC 9114 §4.3). */
export function checkTrailers(fields: readonly string[]): void {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 0x3a) throw malformed(`pseudo-header ${name} in trailers`);
    if (hasUpperOrInvalid(name)) throw malformed(`trailer name ${JSON.stringify(name)} is not a lowercase token`);
  }
}
