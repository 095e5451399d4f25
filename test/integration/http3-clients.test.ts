// HTTP/3 from clients that are not ours, installed from Debian:
//   gtlsclient (ngtcp2-client: ngtcp2 + nghttp3 + GnuTLS) and headless Chromium.
// Both reach the data plane's shared gRPC layer over real QUIC on loopback.
// gtlsclient cannot set request headers (no content-type: application/grpc),
// so against the gRPC layer it sees the 415 answer a gRPC server owes it;
// its view of a full answer with trailers is checked against the HTTP/3
// layer with a handler that accepts its requests as they are.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { startEchoPlane, type EchoPlane } from '../helpers/echo-plane.js';
import { startHttp3, type Http3Server } from '../../src/dataplane/http3/listener.js';
import { echo } from '../fixtures/echo/echo.js';
import { encodeMessage } from '../../src/dataplane/grpc/framing.js';
import { createLogger } from '../../src/observability/log.js';
import type { UniversalHandler } from '../../src/dataplane/universal.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';

const run = promisify(execFile);
let plane: EchoPlane;
let dir: string;

before(async () => {
  plane = await startEchoPlane();
  dir = await mkdtemp(join(tmpdir(), 'workd-h3-clients-'));
});

after(async () => {
  await plane?.close();
  await rm(dir, { recursive: true, force: true });
});

/** gtlsclient's HTTP lines for stream 0: `[name: value]` fields and the body hex dump. */
async function gtlsclient(port: number, path: string, body: Uint8Array | null, extra: string[] = []): Promise<{ fields: string[]; out: string; body: Buffer }> {
  const args = ['--no-quic-dump', '--exit-on-all-streams-close', '--timeout=5s', ...extra];
  if (body) {
    const file = join(dir, `body-${port}.bin`);
    await writeFile(file, body);
    args.push('-m', 'POST', '-d', file);
  }
  args.push('127.0.0.1', String(port), `https://localhost:${port}${path}`);
  const { stdout, stderr } = await run('gtlsclient', args, { timeout: 20_000, maxBuffer: 16 * 1024 * 1024 });
  // ngtcp2's own log lines (I000…) are noise here; keep the HTTP and handshake lines for messages.
  const out = (stdout + stderr).split('\n').filter((l) => !l.startsWith('I0')).join('\n');
  const fields = [...out.matchAll(/^http: stream 0x0 \[([^\]]*)\]$/gm)].map((m) => m[1]!);
  // Bodies are printed as hex dumps: `00000000  63 6f 6e ...  |con...|`.
  const hex = [...out.matchAll(/^[0-9a-f]{8}  ((?:[0-9a-f]{2} {1,2})+)/gm)].map((m) => m[1]!.replace(/ /g, '')).join('');
  return { fields, out, body: Buffer.from(hex, 'hex') };
}

describe('gtlsclient (ngtcp2-client)', () => {
  test('a POST without content-type: application/grpc gets the gRPC layer\'s HTTP 415 over h3', async () => {
    const { fields, out, body } = await gtlsclient(plane.port, '/foo.Bar/Echo', encodeMessage(echo.requestSerialize({ text: 'hi' })));
    assert.ok(fields.includes(':status: 415'), out);
    assert.ok(fields.includes('content-type: text/plain; charset=utf-8'), out);
    assert.equal(body.toString(), 'content-type (none) is not application/grpc\n');
  });

  test('a GET gets HTTP 405 with allow: POST', async () => {
    const { fields, out } = await gtlsclient(plane.port, '/foo.Bar/Echo', null);
    assert.ok(fields.includes(':status: 405'), out);
    assert.ok(fields.includes('allow: POST'), out);
  });

  test('headers, body and trailers (a second HEADERS frame) as nghttp3 decodes them, on 20 streams', async () => {
    // The HTTP/3 layer alone: a handler that echoes the body and answers with gRPC-style trailers.
    let active = 0;
    const handler: UniversalHandler = {
      get active() {
        return active;
      },
      open(req, res) {
        active++;
        const chunks: Uint8Array[] = [];
        return {
          data: (c) => chunks.push(c),
          end: () => {
            res.sendHeaders(200, { 'content-type': 'application/grpc', 'x-length': String(req.headers['content-length']) });
            res.sendData(Buffer.concat(chunks));
            res.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'ok' });
            active--;
          },
          abort: () => active--,
        };
      },
    };
    const srv: Http3Server = await startHttp3({ host: '::', handler, port: 0, certPem: plane.certPem, keyPem: plane.keyPem, log: createLogger('silent'), limits: DEFAULT_LIMITS });
    try {
      const body = encodeMessage(Buffer.from('hello over h3'));
      const { fields, out, body: got } = await gtlsclient(srv.udpPort, '/foo.Bar/Echo', body, ['-n', '20']);
      const i = fields.indexOf('grpc-status: 0');
      assert.ok(fields.includes(':status: 200'), out);
      assert.ok(fields.includes('content-type: application/grpc'), out);
      assert.ok(fields.includes(`x-length: ${body.length}`), 'the content-length gtlsclient sent arrived');
      assert.ok(i > fields.indexOf(':status: 200'), 'grpc-status comes after the headers');
      assert.match(out, /stream 0x0 trailers started/, out);
      assert.equal(got.subarray(0, body.length).toString('hex'), Buffer.from(body).toString('hex'), 'the echoed body');
      assert.equal((out.match(/^http: stream 0x[0-9a-f]+ trailers ended$/gm) ?? []).length, 20, 'every stream got its trailers');
      assert.equal((out.match(/^http: stream 0x[0-9a-f]+ \[grpc-status: 0\]$/gm) ?? []).length, 20);
    } finally {
      await srv.close(100);
    }
  });
});

/** Chrome DevTools Protocol over --remote-debugging-pipe (fd 3 in, fd 4 out; NUL-separated JSON). */
class Cdp {
  private id = 0;
  private buf = '';
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  constructor(private readonly proc: ChildProcess) {
    const out = proc.stdio[4] as Readable;
    out.on('data', (d: Buffer) => {
      this.buf += d.toString();
      let z: number;
      while ((z = this.buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buf.slice(0, z)) as { id?: number; result?: unknown; error?: { message: string } };
        this.buf = this.buf.slice(z + 1);
        const w = msg.id !== undefined ? this.waiting.get(msg.id) : undefined;
        if (!w) continue;
        this.waiting.delete(msg.id!);
        if (msg.error) w.reject(new Error(msg.error.message));
        else w.resolve(msg.result);
      }
    });
  }
  send(method: string, params: object = {}, sessionId?: string): Promise<any> {
    const id = ++this.id;
    (this.proc.stdio[3] as Writable).write(JSON.stringify({ id, method, params, sessionId }) + '\0');
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }
}

describe('headless Chromium', () => {
  let chromium: ChildProcess;
  let cdp: Cdp;
  let session: string;

  before(async () => {
    const spki = execFileSync('sh', ['-c', `openssl x509 -pubkey -noout -in '${plane.certPath}' | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`]).toString().trim();
    chromium = spawn(
      'chromium',
      [
        '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-default-apps', '--disable-sync', '--no-first-run', '--no-default-browser-check', '--disable-extensions',
        `--user-data-dir=${join(dir, 'chromium-profile')}`, '--enable-quic', `--origin-to-force-quic-on=localhost:${plane.port}`,
        `--ignore-certificate-errors-spki-list=${spki}`, '--remote-debugging-pipe', 'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
    );
    cdp = new Cdp(chromium);
    const { targetId } = await cdp.send('Target.createTarget', { url: `https://localhost:${plane.port}/` });
    ({ sessionId: session } = await cdp.send('Target.attachToTarget', { targetId, flatten: true }));
    for (let i = 0; i < 100; i++) {
      const r = await cdp.send('Runtime.evaluate', { expression: 'location.origin + " " + document.readyState', returnByValue: true }, session);
      if (r.result.value === `https://localhost:${plane.port} complete`) return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error('Chromium did not load the page');
  });

  after(() => {
    chromium?.kill('SIGKILL');
  });

  async function grpcFetch(text: string): Promise<{ status: number; ct: string; grpcStatus: string | null; grpcMessage: string | null; body: number[]; protocol: string }> {
    const body = Array.from(encodeMessage(echo.requestSerialize({ text })));
    const expression = `(async () => {
      const r = await fetch('/foo.Bar/Echo', { method: 'POST', headers: { 'content-type': 'application/grpc', 'te': 'trailers' }, body: new Uint8Array(${JSON.stringify(body)}) });
      const bytes = Array.from(new Uint8Array(await r.arrayBuffer()));
      const entry = performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/foo.Bar/Echo')).pop();
      return { status: r.status, ct: r.headers.get('content-type'), grpcStatus: r.headers.get('grpc-status'), grpcMessage: r.headers.get('grpc-message'), body: bytes, protocol: entry ? entry.nextHopProtocol : '' };
    })()`;
    const r = await cdp.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, session);
    if (r.exceptionDetails) throw new Error(`fetch failed in Chromium: ${JSON.stringify(r.exceptionDetails)}`);
    return r.result.value;
  }

  test('the page itself came over h3 (a GET: the gRPC layer\'s 405)', async () => {
    const r = await cdp.send('Runtime.evaluate', { expression: 'performance.getEntriesByType("navigation")[0].nextHopProtocol + " " + document.body.innerText', returnByValue: true }, session);
    assert.match(r.result.value, /^h3 gRPC requires POST/);
  });

  test('fetch POST with content-type application/grpc gets the echo over h3', async () => {
    const r = await grpcFetch('hello chromium');
    assert.equal(r.status, 200);
    assert.equal(r.protocol, 'h3');
    assert.equal(r.ct, 'application/grpc');
    const payload = Buffer.from(r.body);
    assert.equal(payload[0], 0, 'uncompressed');
    assert.equal(payload.readUInt32BE(1), payload.length - 5);
    assert.equal((echo.responseDeserialize(payload.subarray(5)) as { text: string }).text, 'hello chromium');
  });

  test('a gRPC error as a trailers-only answer is visible in the headers', async () => {
    const r = await grpcFetch('status:5');
    assert.equal(r.status, 200);
    assert.equal(r.grpcStatus, '5');
    assert.equal(r.grpcMessage, 'asked for 5');
    assert.deepEqual(r.body, []);
  });

  test('twenty fetches at once on the one QUIC connection', async () => {
    const expression = `Promise.all(Array.from({ length: 20 }, (_, i) => fetch('/foo.Bar/Echo', { method: 'POST', headers: { 'content-type': 'application/grpc' }, body: new Uint8Array([0,0,0,0,3,10,1,48 + (i % 10)]) }).then((r) => r.status))).then((s) => s.join(','))`;
    const r = await cdp.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, session);
    assert.equal(r.result.value, Array(20).fill('200').join(','));
  });
});
