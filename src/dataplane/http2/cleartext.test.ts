// One port taking TLS, cleartext HTTP/2 (prior knowledge) and HTTP/1.1, told
// apart by the first byte; a listener that stops accepting (the port refuses)
// while its open sessions carry on, and accepts again on the same port.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createLogger } from '../../observability/log.js';
import { withLimits } from '../../limits.js';
import { makeTestCert, type TestCert } from '../../../test/helpers/tls.js';
import type { UniversalHandler } from '../universal.js';
import { listenHttp2, type Http2Listener } from './listener.js';

const handler: UniversalHandler = {
  active: 0,
  open(req, res) {
    return {
      data() {},
      end() {
        res.sendHeaders(200, { 'content-type': 'application/grpc' });
        res.sendData(Buffer.from(req.protocol));
        res.sendTrailers({ 'grpc-status': '0' });
      },
      abort() {},
    };
  },
};

let tls: TestCert;
let listener: Http2Listener;

function h2call(url: string, ca?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { ca, servername: 'localhost' });
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': '/p.S/M', 'content-type': 'application/grpc' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      session.close();
      resolve(body);
    });
    req.on('error', reject);
    req.end();
  });
}

function connect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

before(async () => {
  tls = await makeTestCert();
  listener = await listenHttp2({
    handler,
    host: '127.0.0.1',
    port: 0,
    tls: { cert: Buffer.from(tls.certPem), key: Buffer.from(tls.keyPem) },
    cleartext: {
      http1: (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`http1 ${req.method} ${req.url}`);
      },
    },
    log: createLogger('silent'),
    limits: withLimits({ http2FirstRequestTimeoutMs: 300 }),
  });
});
after(async () => {
  await listener.close(100);
  await tls.cleanup();
});

describe('TLS and cleartext on one port', () => {
  test('TLS, h2c with prior knowledge and HTTP/1.1 each reach their own server', async () => {
    const port = listener.port;
    assert.equal(await h2call(`https://127.0.0.1:${port}`, tls.certPem), 'h2');
    assert.equal(await h2call(`http://127.0.0.1:${port}`), 'h2c');
    const body = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
        let b = '';
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    assert.equal(body, 'http1 GET /healthz');
  });

  test('a connection that sends nothing is closed after the first-request time', async () => {
    const s = net.connect({ host: '127.0.0.1', port: listener.port });
    const started = Date.now();
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    assert.ok(Date.now() - started >= 250, 'closed by the timer, not at once');
  });

  test('stopAccepting: the port refuses, an open session carries on; accept() serves the same port again', async () => {
    const port = listener.port;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const ask = () =>
      new Promise<string>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/p.S/M', 'content-type': 'application/grpc' });
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => resolve(body));
        req.on('error', reject);
        req.end();
      });
    assert.equal(await ask(), 'h2c');
    await listener.stopAccepting();
    assert.equal(listener.accepting, false);
    assert.equal(await connect(port), 'ECONNREFUSED');
    assert.equal(await ask(), 'h2c');
    await listener.accept();
    assert.equal(listener.port, port);
    assert.equal(await connect(port), 'connected');
    session.close();
  });

  test('accept() on a given listening server takes over its socket', async () => {
    await listener.stopAccepting();
    const given = net.createServer();
    await new Promise<void>((resolve) => given.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (given.address() as net.AddressInfo).port;
    await listener.accept(given);
    assert.equal(listener.port, port);
    assert.equal(await h2call(`http://127.0.0.1:${port}`), 'h2c');
    await listener.stopAccepting();
    assert.equal(await connect(port), 'ECONNREFUSED');
  });
});
