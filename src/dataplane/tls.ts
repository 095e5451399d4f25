// The data plane's TLS identity: the configured certificate and key, or a
// self-signed pair generated once under <stateDir>/tls/ (openssl from the OS).
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
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
    opts.log.info({ certPath, keyPath }, 'generated a self-signed TLS certificate for the data plane');
  } else {
    opts.log.info({ certPath }, 'data plane uses the self-signed TLS certificate generated earlier');
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
      '-keyout', tmpKey, '-out', tmpCert, '-days', '3650', '-subj', '/CN=workd',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
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
