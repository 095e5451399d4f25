// One certificate and its key, read from two files and checked together, and
// the fingerprint of those files that tells a reload whether to read them
// again. A pair that does not check out (half written, a key of another
// certificate, not PEM) is refused with the file and the reason.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { certificateNames } from './names.js';

export interface TlsPair {
  readonly certPath: string;
  readonly keyPath: string;
  /** PEM: the certificate, then any intermediates (as cert-manager writes tls.crt). */
  readonly cert: Buffer;
  readonly key: Buffer;
  /** The certificate's DNS subjectAltNames (wildcards kept), lower-case. */
  readonly names: readonly string[];
  readonly notAfter: string;
  /** File fingerprint at load time (see fingerprint()). */
  readonly stamp: string;
}

/** Why a pair or a CA bundle was refused: the file at fault and the reason. */
export class PairError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
  }
}

/**
 * Device, inode, size and mtime of each file, through symlinks: a Kubernetes
 * Secret volume swaps a `..data` symlink, which changes the inode seen here.
 * Undefined when a file is missing.
 */
export async function fingerprint(...paths: string[]): Promise<string | undefined> {
  const parts: string[] = [];
  for (const p of paths) {
    try {
      const s = await stat(p);
      parts.push(`${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`);
    } catch {
      return undefined;
    }
  }
  return parts.join('|');
}

async function read(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PairError(path, e.code === 'ENOENT' ? 'missing' : e.message);
  }
}

/**
 * Reads and checks a pair. `requireNames`: a certificate chosen by SNI must
 * name the hosts it serves in its subjectAltName (CN is not read, as browsers
 * and Go do not).
 */
export async function loadPair(certPath: string, keyPath: string, requireNames: boolean): Promise<TlsPair> {
  const stamp = await fingerprint(certPath, keyPath);
  const [cert, key] = await Promise.all([read(certPath), read(keyPath)]);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new PairError(certPath, `not a PEM certificate (${(err as Error).message})`);
  }
  let k: KeyObject;
  try {
    k = createPrivateKey(key);
  } catch (err) {
    throw new PairError(keyPath, `not a PEM private key (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(k)) throw new PairError(keyPath, `is not the key of the certificate in ${certPath}`);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new PairError(certPath, `refused by TLS (${(err as Error).message})`);
  }
  const names = certificateNames(x509);
  if (requireNames && names.length === 0) throw new PairError(certPath, 'names no host: the certificate has no DNS subjectAltName');
  return { certPath, keyPath, cert, key, names, notAfter: x509.validTo, stamp: stamp ?? '' };
}

/** Reads and checks a CA bundle (one or more PEM certificates) for client certificates. */
export async function loadCaBundle(path: string): Promise<Buffer> {
  const pem = await read(path);
  const text = pem.toString('utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (blocks === null) throw new PairError(path, 'holds no PEM certificate');
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (err) {
      throw new PairError(path, `a certificate in it does not parse (${(err as Error).message})`);
    }
  }
  try {
    createSecureContext({ ca: pem });
  } catch (err) {
    throw new PairError(path, `refused by TLS (${(err as Error).message})`);
  }
  return pem;
}
