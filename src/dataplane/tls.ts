// The data plane's TLS identity: the configured certificate and key, or a
// self-signed pair generated once under <stateDir>/tls/ (openssl from the OS).
// The generated certificate is also a CA (basicConstraints CA:TRUE): it
// serves localhost, 127.0.0.1 and ::1 itself, and signs a certificate for each
// domain the node serves as clients first ask for it by SNI (LocalIssuer), so
// a client that trusts <stateDir>/tls/cert.pem verifies every served domain
// under its own name.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Code, WorkdError } from '../errors.js';
import type { Logger } from '../observability/log.js';

const run = promisify(execFile);

export interface TlsIdentity {
  readonly certPath: string;
  readonly keyPath: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** True when generated here rather than configured. */
  readonly selfSigned: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function loadTlsIdentity(opts: { tlsCert?: string; tlsKey?: string; stateDir: string; log: Logger }): Promise<TlsIdentity> {
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `TLS needs both a certificate and a key (got only the ${opts.tlsCert === undefined ? 'key' : 'certificate'})`);
  }
  if (opts.tlsCert !== undefined && opts.tlsKey !== undefined) {
    const [cert, key] = await Promise.all([readPem(opts.tlsCert, 'certificate'), readPem(opts.tlsKey, 'key')]);
    return { certPath: opts.tlsCert, keyPath: opts.tlsKey, cert, key, selfSigned: false };
  }
  const dir = join(opts.stateDir, 'tls');
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  if (!((await exists(certPath)) && (await exists(keyPath)))) {
    await generateSelfSigned(dir, certPath, keyPath);
    opts.log.info({ certPath, keyPath }, 'generated a TLS certificate for the data plane; it also signs one for each served domain, so clients verify those with it as their CA');
  } else {
    opts.log.info({ certPath }, 'data plane uses the TLS certificate generated earlier; clients verify served domains with it as their CA');
  }
  const [cert, key] = await Promise.all([readPem(certPath, 'certificate'), readPem(keyPath, 'key')]);
  return { certPath, keyPath, cert, key, selfSigned: true };
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `cannot read TLS ${what} ${path}: ${(err as Error).message}`);
  }
}

async function generateSelfSigned(dir: string, certPath: string, keyPath: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Written under temporary names and renamed, so a crash never leaves a half pair.
  const tmpCert = `${certPath}.${process.pid}.tmp`;
  const tmpKey = `${keyPath}.${process.pid}.tmp`;
  try {
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', tmpKey, '-out', tmpCert, '-days', '3650', '-subj', '/CN=workd local CA',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
    ]);
    await rename(tmpKey, keyPath);
    await rename(tmpCert, certPath);
  } catch (err) {
    await rm(tmpCert, { force: true });
    await rm(tmpKey, { force: true });
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'the openssl command is not installed' : e.message;
    throw new WorkdError(Code.FAILED_PRECONDITION, `cannot generate a self-signed TLS certificate in ${dir}: ${why} (or give dataplane tls_cert and tls_key)`);
  }
}

/**
 * Certificates for served domains, signed by the generated certificate:
 * `<stateDir>/tls/domains/<name>/tls.crt` and `tls.key`, the layout of a
 * certificate directory (certs/cert-dir.ts), so they are loaded and reloaded
 * the same way and reused after a restart.
 */
export class LocalIssuer {
  private readonly pending = new Map<string, Promise<void>>();
  readonly dir: string;

  constructor(
    private readonly ca: TlsIdentity,
    stateDir: string,
    private readonly log: Logger,
  ) {
    this.dir = join(stateDir, 'tls', 'domains');
  }

  /** Issues a certificate for one host name (checked by the caller: a DNS name, no wildcard); once per name at a time. */
  issue(name: string): Promise<void> {
    let p = this.pending.get(name);
    if (p === undefined) {
      p = this.write(name).finally(() => this.pending.delete(name));
      this.pending.set(name, p);
    }
    return p;
  }

  private async write(name: string): Promise<void> {
    const out = join(this.dir, name);
    // Built under a dot-name (a certificate directory skips those) and renamed into place whole.
    const tmp = join(this.dir, `.issue.${name}.${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    try {
      const csr = join(tmp, 'req.csr');
      await run('openssl', [
        'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
        '-keyout', join(tmp, 'tls.key'), '-out', csr, '-subj', `/CN=${name}`,
      ]);
      const ext = join(tmp, 'ext.cnf');
      await writeFile(ext, `subjectAltName=DNS:${name}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
      await run('openssl', [
        'x509', '-req', '-in', csr, '-CA', this.ca.certPath, '-CAkey', this.ca.keyPath, '-set_serial', `0x${randomBytes(16).toString('hex')}`,
        '-days', '3650', '-extfile', ext, '-out', join(tmp, 'tls.crt'),
      ]);
      await rm(csr);
      await rm(ext);
      await rm(out, { recursive: true, force: true });
      await rename(tmp, out);
      this.log.info({ name, cert: join(out, 'tls.crt'), ca: this.ca.certPath }, 'tls: issued a certificate for a served domain, signed by the node\'s generated certificate');
    } catch (err) {
      this.log.warn({ name, err: (err as Error).message }, 'tls: cannot issue a certificate for a served domain; it gets the default certificate');
      throw err;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}
