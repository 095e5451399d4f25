// The HTTP/2 listener contains what one connection's streams throw: a stream
// callback that throws (a bug the gRPC layer could have; injected here, since
// no peer can make the real layer throw) closes that connection only, and the
// listener keeps serving others.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { createLogger } from '../../observability/log.js';
import { ResetReason, type UniversalHandler, type UniversalResponse } from '../universal.js';
import { listenHttp2, type Http2Listener } from './listener.js';
import { ConnectionBudget } from '../connection-budget.js';
import { withLimits } from '../../limits.js';

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

// Idle and slow connections, and connections per peer (issue 12 item 4), with short limits.
describe('connections that hold a place without asking', () => {
  let small: Http2Listener;
  before(async () => {
    const limits = withLimits({ http2FirstRequestTimeoutMs: 300, http2IdleTimeoutMs: 600, http2MaxConnectionsPerPeer: 3 });
    small = await listenHttp2({ handler, host: '127.0.0.1', port: 0, log: createLogger('silent'), limits, budget: new ConnectionBudget(limits, undefined) });
  });
  after(async () => {
    await small.close(100);
  });

  function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
    // Reading is what lets the socket see the server's FIN.
    socket.resume();
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      socket.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  test('a connection that sends only the preface, or headers it never finishes, is closed after first_request_timeout_ms', async () => {
    const silent = net.connect(small.port, '127.0.0.1');
    silent.on('error', () => {});
    silent.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00', 'latin1'));
    // HEADERS without END_HEADERS: a header block that never completes.
    const slow = net.connect(small.port, '127.0.0.1');
    slow.on('error', () => {});
    slow.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00', 'latin1'), Buffer.from([0, 0, 1, 0x1, 0x0, 0, 0, 0, 1, 0x82])]));
    const [a, b] = await Promise.all([closedWithin(silent, 3000), closedWithin(slow, 3000)]);
    assert.equal(a, true, 'the silent connection is closed');
    assert.equal(b, true, 'the slow-headers connection is closed');
  });

  test('a connection idle after its calls is closed after idle_timeout_ms; one with a call open is not', async () => {
    const s = http2.connect(`http://127.0.0.1:${small.port}`);
    s.on('error', () => {});
    assert.equal(await call(s, '/fine'), 'ok');
    const closed = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 4000);
      s.once('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    assert.equal(closed, true, 'the idle connection is closed');
    const busy = http2.connect(`http://127.0.0.1:${small.port}`);
    busy.on('error', () => {});
    const req = busy.request({ ':method': 'POST', ':path': '/later', 'content-type': 'application/grpc' });
    req.on('error', () => {});
    req.write('x');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(busy.closed || busy.destroyed, false, 'a connection with an open call stays');
    busy.destroy();
  });

  test('connections past max_connections_per_peer are closed as they arrive; the first ones keep working', async () => {
    const first = await Promise.all([0, 1, 2].map(async () => {
      const s = http2.connect(`http://127.0.0.1:${small.port}`);
      s.on('error', () => {});
      assert.equal(await call(s, '/fine'), 'ok');
      return s;
    }));
    const extra = net.connect(small.port, '127.0.0.1');
    extra.on('error', () => {});
    assert.equal(await closedWithin(extra, 2000), true, 'the fourth connection from this address is closed');
    assert.equal(await call(first[0]!, '/fine'), 'ok');
    for (const s of first) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = http2.connect(`http://127.0.0.1:${small.port}`);
    again.on('error', () => {});
    assert.equal(await call(again, '/fine'), 'ok', 'closed connections give their places back');
    again.destroy();
  });
});
