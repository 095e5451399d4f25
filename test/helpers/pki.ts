// Throw-away CAs and certificates for TLS tests, made with the openssl command:
// EC P-256, valid one day. A server certificate names its hosts in
// subjectAltName; a client certificate carries extendedKeyUsage clientAuth.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pem {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
let serial = 1;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function read(certPath: string, keyPath: string): Pem {
  return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

/** A self-signed CA in `dir/<name>.crt` + `.key`. */
export function makeCa(dir: string, name: string): Pem {
  mkdirSync(dir, { recursive: true });
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...EC, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,digitalSignature', '-keyout', keyPath, '-out', certPath]);
  return read(certPath, keyPath);
}

/**
 * A certificate signed by `ca`, written to `certPath`/`keyPath`. `dns`: its
 * subjectAltNames (a server certificate); none: a client certificate.
 */
export function issue(ca: Pem, certPath: string, keyPath: string, opts: { cn: string; dns?: string[] }): Pem {
  const csr = `${certPath}.csr`;
  const ext = `${certPath}.ext`;
  openssl(['req', '-new', ...EC, '-subj', `/CN=${opts.cn}`, '-keyout', keyPath, '-out', csr]);
  writeFileSync(ext, opts.dns !== undefined ? `subjectAltName=${opts.dns.map((d) => `DNS:${d}`).join(',')}\nextendedKeyUsage=serverAuth\n` : 'extendedKeyUsage=clientAuth\n');
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', String(serial++), '-days', '1', '-extfile', ext, '-out', certPath]);
  execFileSync('rm', ['-f', csr, ext]);
  return read(certPath, keyPath);
}
