// Certificates by SNI from a directory laid out as a kubernetes.io/tls Secret
// volume, reloaded without dropping connections, and per-domain client
// certificates — over a real data plane, with openssl s_client and grpc-js.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { defaultConfig } from '../../config.js';
import { DEFAULT_LIMITS } from '../../limits.js';
import type { Logger } from '../../observability/log.js';
import { startDataPlane, type DataPlane } from '../server.js';
import { StaticRouteTable } from '../../../test/helpers/static-routes.js';
import { echoDescriptorSet, echoPackage, echoRuntime } from '../../../test/fixtures/echo/echo.js';
import { issue, makeCa, type Pem } from '../../../test/helpers/pki.js';
import { until } from '../../../test/helpers/wait.js';

const run = promisify(execFile);
const WORKD_BIN = fileURLToPath(new URL('../../../../bin/workd.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'workd-certs-'));
const pki = join(root, 'pki');
const certDir = join(root, 'certs');
const serverCa = makeCa(pki, 'server-ca');
const clientCa = makeCa(pki, 'client-ca');
const otherCa = makeCa(pki, 'other-ca');
const client = issue(clientCa, join(pki, 'client.crt'), join(pki, 'client.key'), { cn: 'a client' });
const stranger = issue(otherCa, join(pki, 'stranger.crt'), join(pki, 'stranger.key'), { cn: 'a stranger' });
const defaultPair = issue(serverCa, join(pki, 'default.crt'), join(pki, 'default.key'), { cn: 'default', dns: ['localhost'] });

/** A Secret volume as the kubelet writes it: the files are symlinks into `..data`, itself a symlink swapped on update. */
function writeSecret(name: string, pem: Pem, version: string): void {
  const dir = join(certDir, name);
  mkdirSync(dir, { recursive: true });
  const data = join(dir, `..${version}`);
  mkdirSync(data);
  writeFileSync(join(data, 'tls.crt'), pem.cert);
  writeFileSync(join(data, 'tls.key'), pem.key);
  symlinkSync(`..${version}`, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const f of ['tls.crt', 'tls.key']) {
    try {
      symlinkSync(join('..data', f), join(dir, f));
    } catch {
      // already a link through ..data
    }
  }
}

const logLines: Record<string, unknown>[] = [];
const log = pino({ level: 'info' }, new Writable({
  write(chunk, _enc, done) {
    for (const line of String(chunk).split('\n')) if (line !== '') logLines.push(JSON.parse(line));
    done();
  },
})) as unknown as Logger;

let dp: DataPlane;
const routes = new StaticRouteTable();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const Bar = (grpc.loadPackageDefinition(echoPackage) as any).foo.Bar as typeof grpc.Client;
const clients: grpc.Client[] = [];

before(async () => {
  mkdirSync(certDir);
  writeSecret('a', issue(serverCa, join(pki, 'a1.crt'), join(pki, 'a1.key'), { cn: 'a one', dns: ['a.test'] }), '1');
  writeSecret('wild', issue(serverCa, join(pki, 'w.crt'), join(pki, 'w.key'), { cn: 'wild', dns: ['*.wild.test'] }), '1');
  writeSecret('exact', issue(serverCa, join(pki, 'e.crt'), join(pki, 'e.key'), { cn: 'exact', dns: ['x.wild.test', 'b.test'] }), '1');
  // Not a certificate directory: a file, and a dot-name.
  writeFileSync(join(certDir, 'README'), 'not a domain\n');
  mkdirSync(join(certDir, '.hidden'));
  for (const d of ['a.test', 'b.test', 'x.wild.test']) {
    const id = `${d}:foo.Bar@1.0.0#0`;
    routes.add(d, 'foo.Bar', { id, version: '1.0.0', runtime: echoRuntime(id, `${d}/`), descriptorSet: echoDescriptorSet() });
  }
  const config = {
    ...defaultConfig().dataplane,
    listen: '127.0.0.1:0',
    http3: false,
    tlsCert: defaultPair.certPath,
    tlsKey: defaultPair.keyPath,
    tlsCertDir: certDir,
    tlsClientCa: { 'a.test': clientCa.certPath },
  };
  dp = await startDataPlane({ config, routes, log, stateDir: join(root, 'state'), limits: DEFAULT_LIMITS });
});

after(async () => {
  for (const c of clients) c.close();
  await dp.close(100);
  rmSync(root, { recursive: true, force: true });
});

/** What openssl s_client sees: the certificate's subject CN and whether it verified against the server CA for that name. */
function sClient(servername: string | undefined, extra: string[] = []): Promise<{ cn: string; verified: boolean; out: string }> {
  const args = ['s_client', '-connect', `127.0.0.1:${dp.tcpPort}`, '-alpn', 'h2', '-CAfile', serverCa.certPath, ...extra];
  args.push(...(servername === undefined ? ['-noservername'] : ['-servername', servername, '-verify_hostname', servername]));
  return new Promise((resolve, reject) => {
    const p = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.stdin.end();
    p.on('error', reject);
    p.on('close', () => {
      const cn = /^subject=.*CN ?= ?([^,\n]+)/m.exec(out)?.[1]?.trim() ?? '';
      resolve({ cn, verified: /Verify return code: 0 \(ok\)/.test(out), out });
    });
  });
}

function grpcClient(servername: string, authority: string, pair?: Pem) {
  const creds = grpc.credentials.createSsl(serverCa.cert, pair?.key ?? null, pair?.cert ?? null);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const c = new Bar(`127.0.0.1:${dp.tcpPort}`, creds, { 'grpc.ssl_target_name_override': servername, 'grpc.default_authority': authority }) as any;
  clients.push(c);
  return c;
}

function echo(c: any, text: string): Promise<{ err: grpc.ServiceError | null; text?: string }> {
  return new Promise((resolve) => c.Echo({ text }, (err: grpc.ServiceError | null, res?: { text: string }) => resolve({ err, text: res?.text })));
}


describe('certificates by SNI', () => {
  test('the server name picks the directory\'s certificate: exact names, one-label wildcards, the default otherwise', async () => {
    const a = await sClient('a.test');
    assert.equal(a.cn, 'a one');
    assert.ok(a.verified, a.out);
    assert.equal((await sClient('y.wild.test')).cn, 'wild');
    assert.equal((await sClient('x.wild.test')).cn, 'exact', 'an exact name wins over a wildcard');
    assert.equal((await sClient('b.test')).cn, 'exact', 'every subjectAltName of a certificate is served');
    assert.equal((await sClient('deep.y.wild.test')).cn, 'default', 'a wildcard stands for one label only');
    assert.equal((await sClient('wild.test')).cn, 'default');
    assert.equal((await sClient('nowhere.test')).cn, 'default');
    assert.equal((await sClient(undefined)).cn, 'default', 'no SNI: the default certificate');
  });

  test('a renewed certificate is served to new handshakes; a connection opened before keeps working', async () => {
    const before = grpcClient('y.wild.test', 'x.wild.test');
    assert.equal((await echo(before, 'one')).text, 'x.wild.test/one');
    writeSecret('wild', issue(serverCa, join(pki, 'w2.crt'), join(pki, 'w2.key'), { cn: 'wild two', dns: ['*.wild.test'] }), '2');
    await until('the renewed certificate', async () => (await sClient('y.wild.test')).cn === 'wild two');
    assert.equal((await echo(before, 'two')).text, 'x.wild.test/two', 'the old connection still answers');
    assert.ok(logLines.some((l) => l.msg === 'tls: certificate reloaded; new handshakes get it' && String(l.cert).endsWith(join('wild', 'tls.crt'))));
  });

  test('a half-written pair is refused with a log line naming the file; the old one stays until the pair matches', async () => {
    const dir = join(certDir, 'plain');
    mkdirSync(dir);
    const v1 = issue(serverCa, join(pki, 'p1.crt'), join(pki, 'p1.key'), { cn: 'plain one', dns: ['plain.test'] });
    writeFileSync(join(dir, 'tls.key'), v1.key);
    writeFileSync(join(dir, 'tls.crt'), v1.cert);
    await until('the new directory', async () => (await sClient('plain.test')).cn === 'plain one');
    // A copy tool writes tls.crt, then tls.key: in between the pair does not match.
    const v2 = issue(serverCa, join(pki, 'p2.crt'), join(pki, 'p2.key'), { cn: 'plain two', dns: ['plain.test'] });
    writeFileSync(join(dir, 'tls.crt'), v2.cert);
    await until('the refusal', async () => logLines.some((l) => l.file === join(dir, 'tls.key') && /is not the key of the certificate in/.test(String(l.reason))));
    assert.equal((await sClient('plain.test')).cn, 'plain one', 'the pair loaded before stays in use');
    writeFileSync(join(dir, 'tls.key'), v2.key);
    await until('the completed pair', async () => (await sClient('plain.test')).cn === 'plain two');
    // Garbage is refused the same way, naming the file.
    writeFileSync(join(dir, 'tls.crt'), 'not pem');
    await until('the garbage refusal', async () => logLines.some((l) => l.file === join(dir, 'tls.crt') && /not a PEM certificate/.test(String(l.reason))));
    assert.equal((await sClient('plain.test')).cn, 'plain two');
  });

  test('a removed directory: its hosts get the default certificate', async () => {
    rmSync(join(certDir, 'exact'), { recursive: true });
    await until('the removal', async () => (await sClient('b.test')).cn === 'default');
    assert.equal((await sClient('x.wild.test')).cn, 'wild two', 'the wildcard covers it again');
  });
});

describe('client certificates per domain (mTLS)', () => {
  test('grpc-js with a certificate the domain\'s CA signed is served', async () => {
    const r = await echo(grpcClient('a.test', 'a.test', client), 'hi');
    assert.equal(r.err, null);
    assert.equal(r.text, 'a.test/hi');
  });

  test('without a certificate, or with one of another CA, the call is UNAUTHENTICATED saying why', async () => {
    let r = await echo(grpcClient('a.test', 'a.test'), 'hi');
    assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
    assert.match(r.err!.details, /^a\.test requires a client certificate \(mTLS\) signed by the CA configured for a\.test: the client presented no certificate$/);
    r = await echo(grpcClient('a.test', 'a.test', stranger), 'hi');
    assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
    assert.match(r.err!.details, /signed by the CA configured for a\.test: its certificate was refused \(UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT)/);
  });

  test('a connection opened for another server name cannot call the domain, even with a good certificate', async () => {
    const r = await echo(grpcClient('x.wild.test', 'a.test', client), 'hi');
    assert.equal(r.err?.code, grpc.status.UNAUTHENTICATED);
    assert.match(r.err!.details, /opened for the server name x\.wild\.test, whose certificates are not checked for a\.test: connect with the server name a\.test/);
  });

  test('domains without a client CA need no certificate', async () => {
    const r = await echo(grpcClient('x.wild.test', 'b.test'), 'hi');
    assert.equal(r.err, null);
    assert.equal(r.text, 'b.test/hi');
  });

  test('openssl s_client: the handshake asks for a certificate of the client CA', async () => {
    const r = await sClient('a.test');
    assert.match(r.out, /Acceptable client certificate CA names\s+CN ?= ?client-ca/);
  });

  test('a replaced CA bundle applies to new handshakes; a bad one is refused and the old one kept', async () => {
    const bundle = clientCa.certPath;
    const original = readFileSync(bundle);
    writeFileSync(bundle, 'garbage');
    await until('the refusal', async () => logLines.some((l) => l.file === bundle && /holds no PEM certificate/.test(String(l.reason))));
    assert.equal((await echo(grpcClient('a.test', 'a.test', client), 'kept')).text, 'a.test/kept');
    writeFileSync(bundle, otherCa.cert);
    await until('the new bundle', async () => (await echo(grpcClient('a.test', 'a.test', stranger), 'new')).text === 'a.test/new');
    assert.equal((await echo(grpcClient('a.test', 'a.test', client), 'old')).err?.code, grpc.status.UNAUTHENTICATED);
    writeFileSync(bundle, original);
  });
});

describe('the generated certificate (no tls_cert)', () => {
  let gen: DataPlane;
  const genRoutes = new StaticRouteTable();
  const stateDir = join(root, 'gen-state');
  before(async () => {
    const id = 'served.example:foo.Bar@1.0.0#0';
    genRoutes.add('served.example', 'foo.Bar', { id, version: '1.0.0', runtime: echoRuntime(id, 'served/'), descriptorSet: echoDescriptorSet() });
    gen = await startDataPlane({ config: { ...defaultConfig().dataplane, listen: '127.0.0.1:0', http3: false }, routes: genRoutes, log, stateDir, limits: DEFAULT_LIMITS });
  });
  after(() => gen.close(100));

  test('a client trusting <state>/tls/cert.pem verifies a served domain under its own name (grpc-js, workd call)', async () => {
    const ca = readFileSync(join(stateDir, 'tls', 'cert.pem'));
    assert.equal(gen.tls?.certPath, join(stateDir, 'tls', 'cert.pem'));
    // The server name is the domain's own, as when its DNS name points at the node.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const c = new Bar(`127.0.0.1:${gen.tcpPort}`, grpc.credentials.createSsl(ca), { 'grpc.default_authority': 'served.example', 'grpc.ssl_target_name_override': 'served.example' }) as any;
    clients.push(c);
    const r = await echo(c, 'hi');
    assert.equal(r.err, null, r.err?.details);
    assert.equal(r.text, 'served/hi');
    assert.ok(logLines.some((l) => l.msg === 'tls: issued a certificate for a served domain, signed by the node\'s generated certificate' && l.name === 'served.example'));
    // The CLI sends the authority as the server name and verifies it.
    const cli = await run(process.execPath, [WORKD_BIN, 'call', '--cacert', join(stateDir, 'tls', 'cert.pem'), '--authority', 'served.example', `127.0.0.1:${gen.tcpPort}`, 'foo.Bar/Echo', '-d', '{"text":"cli"}']);
    assert.match(cli.stdout, /"text": "served\/cli"/);
  });

  test('a domain the node does not serve gets no certificate of its own', async () => {
    const ca = readFileSync(join(stateDir, 'tls', 'cert.pem'));
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const c = new Bar(`127.0.0.1:${gen.tcpPort}`, grpc.credentials.createSsl(ca), { 'grpc.default_authority': 'unserved.example', 'grpc.ssl_target_name_override': 'unserved.example' }) as any;
    clients.push(c);
    const r = await echo(c, 'hi');
    assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
    assert.match(r.err!.details, /Hostname\/IP does not match certificate's altnames/);
    assert.ok(!existsSync(join(stateDir, 'tls', 'domains', 'unserved.example')));
  });
});
