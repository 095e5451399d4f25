// The same certificates over HTTP/3: picked by the SNI of the client's first
// Initial, reloaded for new handshakes, client certificates per domain (which
// quiche enforces in the handshake). The independent client is ngtcp2's
// gtlsclient (GnuTLS); it sends a host name by SNI only when it resolved one,
// so it runs in a mount namespace of its own with test names in /etc/hosts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../config.js';
import { DEFAULT_LIMITS, withLimits } from '../../limits.js';
import { createLogger } from '../../observability/log.js';
import { startDataPlane, type DataPlane } from '../server.js';
import { Http3Client } from '../http3/client.js';
import { StaticRouteTable } from '../../../test/helpers/static-routes.js';
import { echoDescriptorSet, echoRuntime } from '../../../test/fixtures/echo/echo.js';
import { issue, makeCa, type Pem } from '../../../test/helpers/pki.js';
import { until } from '../../../test/helpers/wait.js';

const NAMES = ['a.test', 'y.wild.test', 'nowhere.test', 'served.example'];
const usable = spawnSync('gtlsclient', ['--help']).status === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;
const skip = usable ? false : 'needs gtlsclient (ngtcp2-client) and unshare -m (root)';

const root = mkdtempSync(join(tmpdir(), 'workd-certs-h3-'));
const pki = join(root, 'pki');
const certDir = join(root, 'certs');
const hosts = join(root, 'hosts');
let serverCa: Pem, clientCa: Pem, client: Pem, stranger: Pem, fallback: Pem, aPair: Pem;
let dp: DataPlane;
const log = createLogger('silent');

function put(name: string, pem: Pem): void {
  // Written beside and renamed in, as a tool that updates a pair atomically would.
  const dir = join(certDir, name);
  const tmp = join(certDir, `.${name}.new`);
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'tls.crt'), pem.cert);
  writeFileSync(join(tmp, 'tls.key'), pem.key);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

before(async () => {
  if (skip) return;
  serverCa = makeCa(pki, 'server-ca');
  clientCa = makeCa(pki, 'client-ca');
  client = issue(clientCa, join(pki, 'client.crt'), join(pki, 'client.key'), { cn: 'a client' });
  stranger = issue(makeCa(pki, 'other-ca'), join(pki, 'stranger.crt'), join(pki, 'stranger.key'), { cn: 'a stranger' });
  fallback = issue(serverCa, join(pki, 'default.crt'), join(pki, 'default.key'), { cn: 'default', dns: ['localhost'] });
  aPair = issue(serverCa, join(pki, 'a.crt'), join(pki, 'a.key'), { cn: 'a', dns: ['a.test'] });
  mkdirSync(certDir);
  put('a', aPair);
  put('wild', issue(serverCa, join(pki, 'w1.crt'), join(pki, 'w1.key'), { cn: 'wild one', dns: ['*.wild.test'] }));
  writeFileSync(hosts, NAMES.map((n) => `127.0.0.1 ${n}\n`).join(''));
  const routes = new StaticRouteTable();
  for (const d of ['a.test', 'y.wild.test']) {
    const id = `${d}:foo.Bar@1.0.0#0`;
    routes.add(d, 'foo.Bar', { id, version: '1.0.0', runtime: echoRuntime(id, `${d}/`), descriptorSet: echoDescriptorSet() });
  }
  const config = {
    ...defaultConfig().dataplane,
    listen: '127.0.0.1:0',
    tlsCert: fallback.certPath,
    tlsKey: fallback.keyPath,
    tlsCertDir: certDir,
    tlsClientCa: { 'a.test': clientCa.certPath },
  };
  dp = await startDataPlane({ config, routes, log, stateDir: join(root, 'state'), limits: DEFAULT_LIMITS });
});

after(async () => {
  await dp?.close(100);
  rmSync(root, { recursive: true, force: true });
});

/** gtlsclient's GET to `name` over HTTP/3: its output (frames and the CRYPTO data it received, as hex dumps). */
function gtls(port: number, name: string, extra: string[] = []): Promise<string> {
  const cmd = ['gtlsclient', '--exit-on-all-streams-close', '--timeout=5s', ...extra, name, String(port), `https://${name}:${port}/`].join(' ');
  return new Promise((resolve, reject) => {
    const p = spawn('unshare', ['-m', 'sh', '-c', `mount --bind ${hosts} /etc/hosts && exec ${cmd}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', () => resolve(out));
  });
}

/** The bytes of gtlsclient's hex dumps, in order (the server's Certificate message is among them). */
function dumped(out: string): Buffer {
  const bytes: number[] = [];
  for (const line of out.split('\n')) {
    const m = /^[0-9a-f]{8}  (.*?)\s+\|/.exec(line);
    if (m) for (const h of m[1]!.trim().split(/\s+/)) bytes.push(parseInt(h, 16));
  }
  return Buffer.from(bytes);
}

const der = (pem: Pem | Buffer) => new X509Certificate(Buffer.isBuffer(pem) ? pem : pem.cert).raw;


describe('HTTP/3 certificates by SNI', { skip }, () => {
  test('the SNI of the first Initial picks the certificate (exact, wildcard, default)', async () => {
    assert.ok(dumped(await gtls(dp.udpPort!, 'a.test', ['--cert', client.certPath, '--key', client.keyPath])).includes(der(aPair)));
    const wild = readFileSync(join(certDir, 'wild', 'tls.crt'));
    assert.ok(dumped(await gtls(dp.udpPort!, 'y.wild.test')).includes(der(wild)));
    assert.ok(dumped(await gtls(dp.udpPort!, 'nowhere.test')).includes(der(fallback)));
  });

  test('a renewed certificate is served to new handshakes; an open connection keeps going', async () => {
    const open = await Http3Client.connect({ host: '127.0.0.1', port: dp.udpPort!, servername: 'y.wild.test', verifyPeer: true, caPem: serverCa.cert });
    try {
      const call = () => open.grpcCall({ authority: 'y.wild.test', path: '/foo.Bar/Echo', messages: [Buffer.from([0x0a, 2, 0x68, 0x69])] });
      assert.equal((await call()).code, 0);
      const renewed = issue(serverCa, join(pki, 'w2.crt'), join(pki, 'w2.key'), { cn: 'wild two', dns: ['*.wild.test'] });
      put('wild', renewed);
      await until('the renewed certificate over HTTP/3', async () => dumped(await gtls(dp.udpPort!, 'y.wild.test')).includes(der(renewed)));
      const r = await call();
      assert.equal(r.code, 0, 'the connection opened before still answers');
    } finally {
      open.close();
    }
  });
});

describe('HTTP/3 certificates by SNI after a Retry', { skip }, () => {
  test('with every client sent a Retry first, its second Initial (keys from our connection ID) still picks by SNI', async () => {
    const routes = new StaticRouteTable();
    const config = { ...defaultConfig().dataplane, listen: '127.0.0.1:0', tlsCert: fallback.certPath, tlsKey: fallback.keyPath, tlsCertDir: certDir };
    const retrying = await startDataPlane({ config, routes, log, stateDir: join(root, 'retry-state'), limits: withLimits({ http3RetryThreshold: 0 }) });
    try {
      const out = await gtls(retrying.udpPort!, 'a.test');
      assert.match(out, /type=Retry/);
      assert.ok(dumped(out).includes(der(aPair)));
    } finally {
      await retrying.close(100);
    }
  });
});

describe('HTTP/3 client certificates per domain', { skip }, () => {
  test('quiche refuses the handshake without a certificate (certificate_required) or with one of another CA (unknown_ca)', async () => {
    assert.match(await gtls(dp.udpPort!, 'a.test'), /CONNECTION_CLOSE\(0x1c\) error_code=CRYPTO_ERROR\(0x174\)/);
    assert.match(await gtls(dp.udpPort!, 'a.test', ['--cert', stranger.certPath, '--key', stranger.keyPath]), /CONNECTION_CLOSE\(0x1c\) error_code=CRYPTO_ERROR\(0x130\)/);
  });

  test('with a certificate the domain\'s CA signed, the request is served', async () => {
    const out = await gtls(dp.udpPort!, 'a.test', ['--cert', client.certPath, '--key', client.keyPath]);
    assert.match(out, /\[:status: 405\]/, 'past TLS, the GET reaches the gRPC layer');
  });

  test('a connection opened for another server name cannot call the domain: UNAUTHENTICATED saying why', async () => {
    const c = await Http3Client.connect({ host: '127.0.0.1', port: dp.udpPort!, servername: 'y.wild.test', verifyPeer: true, caPem: serverCa.cert });
    try {
      const r = await c.grpcCall({ authority: 'a.test', path: '/foo.Bar/Echo', messages: [new Uint8Array(0)] });
      assert.equal(r.code, 16);
      assert.match(r.message, /^a\.test requires a client certificate \(mTLS\); this connection was opened for the server name y\.wild\.test/);
    } finally {
      c.close();
    }
  });
});

describe('HTTP/3 with the generated certificate', { skip }, () => {
  test('a served domain gets a certificate signed by <state>/tls/cert.pem on its first handshake', async () => {
    const stateDir = join(root, 'gen-state');
    const routes = new StaticRouteTable();
    const id = 'served.example:foo.Bar@1.0.0#0';
    routes.add('served.example', 'foo.Bar', { id, version: '1.0.0', runtime: echoRuntime(id, 'served/'), descriptorSet: echoDescriptorSet() });
    const gen = await startDataPlane({ config: { ...defaultConfig().dataplane, listen: '127.0.0.1:0' }, routes, log, stateDir, limits: DEFAULT_LIMITS });
    try {
      const ca = readFileSync(join(stateDir, 'tls', 'cert.pem'));
      // The first Initial waits for the certificate to be issued; the client's retransmission gets it.
      const c = await Http3Client.connect({ host: '127.0.0.1', port: gen.udpPort!, servername: 'served.example', verifyPeer: true, caPem: ca });
      try {
        const r = await c.grpcCall({ authority: 'served.example', path: '/foo.Bar/Echo', messages: [Buffer.from([0x0a, 2, 0x68, 0x69])] });
        assert.equal(r.code, 0, r.message);
      } finally {
        c.close();
      }
    } finally {
      await gen.close(100);
    }
  });
});
