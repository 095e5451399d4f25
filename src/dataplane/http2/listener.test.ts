// The HTTP/2 listener contains what one connection's streams throw: a stream
// callback that throws (a bug the gRPC layer could have; injected here, since
// no peer can make the real layer throw) closes that connection only, and the
// listener keeps serving others.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { createLogger } from '../../observability/log.js';
import { ResetReason, type UniversalHandler, type UniversalResponse } from '../universal.js';
import { listenHttp2, type Http2Listener } from './listener.js';

let listener: Http2Listener;
let answerLater: UniversalResponse | null = null;

const handler: UniversalHandler = {
  active: 0,
  open(req, res) {
    if (req.path === '/throw/open') throw new Error('injected: open');
    if (req.path === '/later') answerLater = res;
    return {
      data() {
        if (req.path === '/throw/data') throw new Error('injected: data');
      },
      end() {
        if (req.path === '/throw/end') throw new Error('injected: end');
        if (req.path === '/later') return;
        res.sendHeaders(200, { 'content-type': 'application/grpc' });
        res.sendData(Buffer.from('ok'));
        res.sendTrailers({ 'grpc-status': '0' });
      },
      abort() {},
    };
  },
};

before(async () => {
  listener = await listenHttp2({ handler, host: '127.0.0.1', port: 0, log: createLogger('silent') });
});
after(async () => {
  await listener.close(100);
});

function call(session: http2.ClientHttp2Session, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc' });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => resolve(body));
    req.on('error', reject);
    req.end('x');
  });
}

function sessionClosed(s: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => (s.closed || s.destroyed ? resolve() : s.once('close', () => resolve())));
}

for (const where of ['open', 'data', 'end']) {
  test(`a stream whose ${where} callback throws closes its own connection only`, async () => {
    const bystander = http2.connect(`http://127.0.0.1:${listener.port}`);
    const victim = http2.connect(`http://127.0.0.1:${listener.port}`);
    bystander.on('error', () => {});
    victim.on('error', () => {});
    try {
      assert.equal(await call(bystander, '/fine'), 'ok');
      const answer = await call(victim, `/throw/${where}`).catch(() => 'failed');
      assert.notEqual(answer, 'ok');
      await sessionClosed(victim);
      assert.equal(await call(bystander, '/fine'), 'ok', 'the other connection still serves');
      const fresh = http2.connect(`http://127.0.0.1:${listener.port}`);
      assert.equal(await call(fresh, '/fine'), 'ok', 'new connections are served');
      fresh.close();
    } finally {
      bystander.close();
      victim.destroy();
    }
  });
}

test('answering a stream whose connection is gone is ignored, not thrown', async () => {
  const s = http2.connect(`http://127.0.0.1:${listener.port}`);
  s.on('error', () => {});
  const req = s.request({ ':method': 'POST', ':path': '/later', 'content-type': 'application/grpc' });
  req.on('error', () => {});
  req.end('x');
  while (answerLater === null) await new Promise((r) => setTimeout(r, 5));
  s.destroy();
  await new Promise((r) => setTimeout(r, 50));
  const res = answerLater as UniversalResponse;
  assert.doesNotThrow(() => {
    res.sendHeaders(200, { 'content-type': 'application/grpc' });
    res.sendData(Buffer.from('late'));
    res.sendTrailers({ 'grpc-status': '0' });
    res.sendTrailersOnly(200, { 'grpc-status': '0' });
    res.reset(ResetReason.Cancel);
  });
});
