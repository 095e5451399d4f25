// Content digests (`sha256:<64 hex>`), the only algorithm this node stores.
import { createHash } from 'node:crypto';
import { invalidArgument } from '../errors.js';

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(bytes: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}

/** The hex part of a validated digest; INVALID_ARGUMENT names anything else (other algorithms included). */
export function digestHex(digest: string, what = 'digest'): string {
  if (!DIGEST_RE.test(digest)) {
    throw invalidArgument(`${what} ${JSON.stringify(digest)} is not a sha256 digest (sha256:<64 lowercase hex>)`);
  }
  return digest.slice(7);
}
