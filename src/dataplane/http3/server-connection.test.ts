// The HTTP/3 server connection against our HTTP/3 client, joined by an
// in-memory QUIC pair: frame order, control and QPACK streams, errors and
// their codes, shutdown. The same paths over the real QUIC transport and the
// real gRPC layer are in test/integration/http3-*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Http3ServerConnection } from './server-connection.js';
import { Http3Client, toFields } from './client.js';
import { H3Code, H3Error } from './error-codes.js';
import { encodeFrame, encodeSettings, FrameType } from './frames.js';
import { encodeFieldSection } from './qpack/encoder.js';
import { memoryQuicPair, type MemConnection } from '../../../test/helpers/memory-quic.js';
import { AbortReason, type UniversalHandler, type UniversalRequest } from '../universal.js';
import { Setting } from './frames.js';
import { withLimits } from '../../limits.js';

interface Seen {
  requests: UniversalRequest[];
  aborts: number[];
}

function echoHandler(seen: Seen): UniversalHandler {
  let active = 0;
  return {
    get active() {
      return active;
    },
    open(req, res) {
      seen.requests.push(req);
      active++;
      const chunks: Uint8Array[] = [];
      if (req.path === '/trailers-only') {
        res.sendTrailersOnly(200, { 'grpc-status': '5', 'grpc-message': 'not here' });
        active--;
      }
      return {
        data(c) {
          chunks.push(c);
        },
        end() {
          if (req.path === '/trailers-only' || req.path === '/hang') return;
          const answer = () => {
            if (req.path === '/bigheaders') res.sendHeaders(200, { 'x-big': 'v'.repeat(20_000), 'x-mid': ['m'.repeat(100), 'n'] });
            else res.sendHeaders(200, { 'content-type': 'application/grpc' });
            res.sendData(Buffer.concat(chunks));
            res.sendTrailers({ 'grpc-status': '0', 'x-path': req.path, 'x-multi': ['a', 'b'] });
            active--;
          };
          if (req.path === '/slow') setTimeout(answer, 30);
          else answer();
        },
        abort(reason) {
          seen.aborts.push(reason);
          active--;
        },
      };
    },
  };
}

function setup(over?: { http3MaxFieldSectionSize: number; http3MaxConcurrentRequests: number }) {
  const limits = over && withLimits(over);
  const { client: cq, server: sq } = memoryQuicPair();
  const seen: Seen = { requests: [], aborts: [] };
  const server = new Http3ServerConnection(sq, { handler: echoHandler(seen), limits });
  const client = new Http3Client(cq);
  return { cq, sq, server, client, seen };
}

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));
/** Waits (up to 5 s, for loaded machines) until `cond` holds; the assertion after it says what was expected. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await tick(5);
}
const base = { authority: 'example.com:4433', path: '/foo.Bar/Echo', headers: ['content-type', 'application/grpc', 'te', 'trailers'] };

async function closedWith(c: MemConnection): Promise<number> {
  for (let i = 0; i < 100 && !c.closedWith; i++) await tick(5);
  assert.ok(c.closedWith, 'the server closed the connection');
  return c.closedWith.code;
}

test('a request gets headers, body and trailers; the server sent its SETTINGS', async () => {
  const { client, seen } = setup();
  const res = await client.request({ ...base, body: Buffer.from('hello') });
  assert.equal(res.status, 200);
  assert.equal(toFields(res.headers)['content-type'], 'application/grpc');
  assert.equal(Buffer.from(res.body).toString(), 'hello');
  assert.deepEqual({ ...toFields(res.trailers!) }, { 'grpc-status': '0', 'x-path': '/foo.Bar/Echo', 'x-multi': ['a', 'b'] });
  assert.equal(seen.requests[0]!.authority, 'example.com:4433');
  assert.equal(seen.requests[0]!.protocol, 'h3');
  assert.equal(seen.requests[0]!.headers['content-type'], 'application/grpc');
  assert.equal(client.peerSettings?.get(Setting.QPACK_MAX_TABLE_CAPACITY), 0);
  assert.equal(client.peerSettings?.get(Setting.QPACK_BLOCKED_STREAMS), 0);
  assert.equal(client.peerSettings?.get(Setting.MAX_FIELD_SECTION_SIZE), 64 * 1024);
});

test('response field sections of every size (one-byte, two-byte and long frame lengths)', async () => {
  const { client } = setup();
  const res = await client.request({ ...base, path: '/bigheaders', body: Buffer.from('b') });
  const f = toFields(res.headers);
  assert.equal(f['x-big'], 'v'.repeat(20_000));
  assert.deepEqual(f['x-mid'], ['m'.repeat(100), 'n']);
  assert.equal(Buffer.from(res.body).toString(), 'b');
});

test('trailers-only answer is one HEADERS frame with FIN', async () => {
  const { client } = setup();
  const res = await client.request({ ...base, path: '/trailers-only' });
  assert.equal(res.status, 200);
  assert.equal(res.trailers, null);
  assert.equal(toFields(res.headers)['grpc-status'], '5');
});

test('many concurrent requests on one connection, with trailing request HEADERS too', async () => {
  const { client, cq } = setup();
  const all = await Promise.all(Array.from({ length: 50 }, (_, i) => client.request({ ...base, body: Buffer.from(`m${i}`) })));
  all.forEach((r, i) => assert.equal(Buffer.from(r.body).toString(), `m${i}`));
  // A request with trailers of its own (allowed by RFC 9114 §4.1).
  const s = cq.openBidi();
  const chunks: Uint8Array[] = [];
  const done = new Promise<void>((r) => {
    s.onData = (c, fin) => {
      chunks.push(c);
      if (fin) r();
    };
  });
  const hb = encodeFieldSection([':method', 'POST', ':scheme', 'https', ':authority', 'x', ':path', '/t']);
  const tb = encodeFieldSection(['x-request-trailer', '1']);
  s.write(Buffer.concat([encodeFrame(FrameType.HEADERS, hb), encodeFrame(FrameType.DATA, Buffer.from('ab')), encodeFrame(FrameType.HEADERS, tb)]), true);
  await done;
  assert.ok(Buffer.concat(chunks).includes(Buffer.from('ab')));
});

test('HEADERS on the control stream closes the connection with H3_FRAME_UNEXPECTED', async () => {
  const { client, cq } = setup();
  client.control.write(encodeFrame(FrameType.HEADERS, encodeFieldSection([':status', '200'])));
  assert.equal(await closedWith(cq), H3Code.H3_FRAME_UNEXPECTED);
});

test('DATA on the control stream, a second SETTINGS: H3_FRAME_UNEXPECTED', async () => {
  for (const bad of [encodeFrame(FrameType.DATA, Uint8Array.of(1)), encodeSettings([])]) {
    const { client, cq } = setup();
    client.control.write(bad);
    assert.equal(await closedWith(cq), H3Code.H3_FRAME_UNEXPECTED);
  }
});

/** A client end that speaks raw bytes only (no Http3Client on it). */
function rawSetup() {
  const { client: cq, server: sq } = memoryQuicPair();
  const seen: Seen = { requests: [], aborts: [] };
  const server = new Http3ServerConnection(sq, { handler: echoHandler(seen) });
  cq.onStream = (s) => {
    s.onData = () => {};
  };
  const control = cq.openUni();
  return { cq, sq, server, seen, control };
}

test('a control stream that does not start with SETTINGS: H3_MISSING_SETTINGS', async () => {
  const { cq, control } = rawSetup();
  control.write(Buffer.concat([Uint8Array.of(0x00), encodeFrame(FrameType.GOAWAY, Uint8Array.of(0))]));
  assert.equal(await closedWith(cq), H3Code.H3_MISSING_SETTINGS);
});

test('settings errors: duplicate and HTTP/2-only identifiers are H3_SETTINGS_ERROR', async () => {
  for (const payload of ['0600 0601', '0300']) {
    const { cq, control } = rawSetup();
    control.write(Buffer.concat([Uint8Array.of(0x00), encodeFrame(FrameType.SETTINGS, hex(payload))]));
    assert.equal(await closedWith(cq), H3Code.H3_SETTINGS_ERROR, payload);
  }
});

test('a second control stream, or a push stream from a client: H3_STREAM_CREATION_ERROR', async () => {
  {
    const { cq, control } = rawSetup();
    control.write(Buffer.concat([Uint8Array.of(0x00), encodeSettings([])]));
    cq.openUni().write(Buffer.concat([Uint8Array.of(0x00), encodeSettings([])]));
    assert.equal(await closedWith(cq), H3Code.H3_STREAM_CREATION_ERROR);
  }
  {
    const { cq, control } = rawSetup();
    control.write(Buffer.concat([Uint8Array.of(0x00), encodeSettings([])]));
    cq.openUni().write(Uint8Array.of(0x01, 0x00));
    assert.equal(await closedWith(cq), H3Code.H3_STREAM_CREATION_ERROR);
  }
});

test('an oversized control frame is H3_EXCESSIVE_LOAD before anything is buffered', async () => {
  const { cq, control } = rawSetup();
  // SETTINGS claiming 2^30 bytes, with only a few sent.
  control.write(Buffer.concat([Uint8Array.of(0x00, 0x04, 0xc0, 0, 0, 0, 0x40, 0, 0, 0), new Uint8Array(10)]));
  assert.equal(await closedWith(cq), H3Code.H3_EXCESSIVE_LOAD);
});

test('closing the control stream: H3_CLOSED_CRITICAL_STREAM', async () => {
  const { cq, control } = rawSetup();
  control.write(Buffer.concat([Uint8Array.of(0x00), encodeSettings([])]), true);
  assert.equal(await closedWith(cq), H3Code.H3_CLOSED_CRITICAL_STREAM);
});

test('unknown and reserved stream types are stopped with H3_STREAM_CREATION_ERROR and ignored', async () => {
  const { client, cq } = setup();
  const grease = cq.openUni();
  let stopped = -1;
  grease.onReset = (code) => {
    stopped = code;
  };
  grease.write(Uint8Array.of(0x40, 0x21, 1, 2, 3)); // type 0x21 as a two-byte varint
  await tick();
  assert.equal(stopped, H3Code.H3_STREAM_CREATION_ERROR);
  const res = await client.request({ ...base, body: Buffer.from('still fine') });
  assert.equal(Buffer.from(res.body).toString(), 'still fine');
});

test('QPACK: a dynamic table reference is QPACK_DECOMPRESSION_FAILED; an encoder-stream insert is QPACK_ENCODER_STREAM_ERROR', async () => {
  {
    const { cq } = setup();
    const s = cq.openBidi();
    s.write(encodeFrame(FrameType.HEADERS, hex('0381 10 11')), true); // RFC 9204 B.2, stream 4
    assert.equal(await closedWith(cq), H3Code.QPACK_DECOMPRESSION_FAILED);
  }
  {
    const { cq, control } = rawSetup();
    control.write(Buffer.concat([Uint8Array.of(0x00), encodeSettings([])]));
    cq.openUni().write(hex('02 3fbd01')); // encoder stream: Set Dynamic Table Capacity 220
    assert.equal(await closedWith(cq), H3Code.QPACK_ENCODER_STREAM_ERROR);
  }
  {
    const { cq, control } = rawSetup();
    control.write(Buffer.concat([Uint8Array.of(0x00), encodeSettings([])]));
    cq.openUni().write(hex('02 20')); // capacity 0 is fine
    cq.openUni().write(hex('03 48')); // decoder stream: Stream Cancellation is fine
    const s = cq.openBidi();
    const got: Uint8Array[] = [];
    await new Promise<void>((r) => {
      s.onData = (c, fin) => {
        got.push(c);
        if (fin) r();
      };
      s.write(Buffer.concat([encodeFrame(FrameType.HEADERS, encodeFieldSection([':method', 'POST', ':scheme', 'https', ':authority', 'x', ':path', '/p'])), encodeFrame(FrameType.DATA, Buffer.from('ok'))]), true);
    });
    assert.ok(Buffer.concat(got).includes(Buffer.from('ok')));
    assert.equal(cq.closedWith, null);
  }
  {
    const { client, cq } = setup();
    cq.openUni().write(hex('02')); // a second encoder stream
    assert.equal(await closedWith(cq), H3Code.H3_STREAM_CREATION_ERROR);
    void client;
  }
  {
    const { client, cq } = setup();
    cq.openUni().write(hex('03')); // a second decoder stream
    assert.equal(await closedWith(cq), H3Code.H3_STREAM_CREATION_ERROR);
    void client;
  }
  {
    const { cq, control } = rawSetup();
    control.write(Buffer.concat([Uint8Array.of(0x00), encodeSettings([])]));
    cq.openUni().write(hex('03'), true); // closing the decoder stream
    assert.equal(await closedWith(cq), H3Code.H3_CLOSED_CRITICAL_STREAM);
  }
});

test('frame order on a request stream: DATA first, HTTP/2 frame types, SETTINGS: H3_FRAME_UNEXPECTED', async () => {
  const bad = [encodeFrame(FrameType.DATA, Uint8Array.of(1)), encodeFrame(0x6, new Uint8Array(8)), encodeSettings([])];
  for (const b of bad) {
    const { cq } = setup();
    cq.openBidi().write(b, true);
    assert.equal(await closedWith(cq), H3Code.H3_FRAME_UNEXPECTED);
  }
});

test('a request stream ending inside a frame is H3_FRAME_ERROR; ending before HEADERS is H3_REQUEST_INCOMPLETE', async () => {
  {
    const { cq } = setup();
    cq.openBidi().write(encodeFrame(FrameType.HEADERS, encodeFieldSection([':method', 'POST'])).subarray(0, 3), true);
    assert.equal(await closedWith(cq), H3Code.H3_FRAME_ERROR);
  }
  {
    const { client, cq } = setup();
    const s = cq.openBidi();
    let reset = -1;
    s.onReset = (c) => {
      reset = c;
    };
    s.write(new Uint8Array(0), true);
    await tick();
    assert.equal(reset, H3Code.H3_REQUEST_INCOMPLETE);
    assert.equal((await client.request({ ...base })).status, 200, 'the connection still serves');
  }
});

test('malformed requests are stream errors H3_MESSAGE_ERROR and the connection keeps serving', async () => {
  const { client, seen } = setup();
  const cases: string[][] = [
    [':method', 'POST', ':scheme', 'https', ':authority', 'x'], // no :path
    [':method', 'POST', ':scheme', 'https', ':path', '/a', 'Upper', 'x'],
    [':method', 'POST', ':scheme', 'https', ':path', '/a', 'connection', 'close'],
    [':method', 'POST', ':scheme', 'https', ':path', '/a', ':bogus', 'x'],
    [':method', 'POST', ':scheme', 'https', ':path', '/a', 'x-a', '1', ':authority', 'late'],
    [':method', 'POST', ':scheme', 'https', ':path', '/a', 'te', 'gzip'],
  ];
  for (const fields of cases) {
    const s = client.quic.openBidi();
    const code = new Promise<number>((r) => {
      s.onReset = r;
    });
    s.write(encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)), true);
    assert.equal(await code, H3Code.H3_MESSAGE_ERROR, JSON.stringify(fields));
  }
  assert.equal(seen.requests.length, 0, 'no malformed request reached the handler');
  assert.equal((await client.request({ ...base })).status, 200);
});

test('content-length that disagrees with the body: H3_MESSAGE_ERROR', async () => {
  const { client } = setup();
  await assert.rejects(
    client.request({ ...base, headers: [...base.headers, 'content-length', '3'], body: Buffer.from('toolong') }),
    (e) => e instanceof H3Error && e.code === H3Code.H3_MESSAGE_ERROR,
  );
});

test('an over-long field section gets 431 and the connection keeps serving', async () => {
  const { client, seen } = setup({ http3MaxFieldSectionSize: 1024, http3MaxConcurrentRequests: 100 });
  const big = await client.request({ ...base, headers: [...base.headers, 'x-big', 'v'.repeat(2000)] });
  assert.equal(big.status, 431);
  // With a body: the DATA frame may come in the same chunk as the refused HEADERS, and is ignored too.
  const withBody = await client.request({ ...base, headers: [...base.headers, 'x-big', 'v'.repeat(2000)], body: Buffer.from('the body') });
  assert.equal(withBody.status, 431);
  // Under the encoded limit but over it decoded (Huffman shrinks the repeated 'a'), still refused.
  const many = Array.from({ length: 40 }, (_, i) => [`x-h${i}`, 'aaaaaaaaaaaaaaaa']).flat();
  assert.equal((await client.request({ ...base, headers: [...base.headers, ...many] })).status, 431);
  assert.equal(seen.requests.length, 0);
  assert.equal((await client.request({ ...base })).status, 200);
});

test('a stream reset mid-message aborts the call', async () => {
  const { client, seen } = setup();
  const s = client.quic.openBidi();
  s.write(Buffer.concat([encodeFrame(FrameType.HEADERS, encodeFieldSection([':method', 'POST', ':scheme', 'https', ':authority', 'x', ':path', '/hang'])), Uint8Array.of(0, 10, 1, 2)]));
  await until(() => seen.requests.length === 1);
  assert.equal(seen.requests.length, 1);
  s.reset(H3Code.H3_REQUEST_CANCELLED);
  await until(() => seen.aborts.length >= 1);
  assert.deepEqual(seen.aborts, [AbortReason.PeerReset]);
  assert.equal((await client.request({ ...base })).status, 200);
});

test('a reset after the whole request arrived, before the answer, aborts the call', async () => {
  const { client, seen } = setup();
  const ac = new AbortController();
  const p = client.request({ ...base, path: '/hang', body: Buffer.from('x'), signal: ac.signal }).catch((e: H3Error) => e.code);
  await until(() => seen.requests.length === 1);
  assert.equal(seen.requests.length, 1);
  ac.abort();
  assert.equal(await p, H3Code.H3_REQUEST_CANCELLED);
  await until(() => seen.aborts.length >= 1);
  assert.deepEqual(seen.aborts, [AbortReason.PeerReset]);
});

test('requests beyond the per-connection limit are H3_REQUEST_REJECTED', async () => {
  const { client } = setup({ http3MaxFieldSectionSize: 4096, http3MaxConcurrentRequests: 2 });
  const hang = () => client.request({ ...base, path: '/hang' }).catch((e: H3Error) => e.code);
  void hang();
  void hang();
  await tick();
  await assert.rejects(client.request({ ...base }), (e) => e instanceof H3Error && e.code === H3Code.H3_REQUEST_REJECTED);
});

test('shutdown: GOAWAY, in-flight calls finish, later streams rejected, then H3_NO_ERROR', async () => {
  const { client, server, cq } = setup();
  const inflight = client.request({ ...base, path: '/slow', body: Buffer.from('late') });
  // Wait on the state itself, not on a timer: on a loaded machine 5 ms was sometimes too
  // short for the request to reach the server, which then rightly rejected it as unprocessed.
  for (let i = 0; i < 400 && server.activeRequests === 0; i++) await tick(5);
  assert.equal(server.activeRequests, 1, 'the request reached the server before shutdown');
  const closing = server.shutdown(2000);
  for (let i = 0; i < 400 && client.goawayId === Infinity; i++) await tick(5);
  assert.equal(client.goawayId, 4, 'GOAWAY names the first unprocessed stream');
  await assert.rejects(client.request({ ...base }), (e) => e instanceof H3Error && e.code === H3Code.H3_REQUEST_REJECTED);
  const res = await inflight;
  assert.equal(Buffer.from(res.body).toString(), 'late');
  await closing;
  assert.equal(server.closed, true);
  assert.equal(client.closed?.code, H3Code.H3_NO_ERROR, 'the client closed once its last request was answered');
  void cq;
});

test('shutdown waits for the client to close, at most for the grace period', async () => {
  // A raw peer that never closes on its own.
  const { server, cq } = rawSetup();
  const t0 = Date.now();
  await server.shutdown(150);
  assert.ok(Date.now() - t0 >= 140, 'waited for the grace period');
  assert.equal(server.closed, true);
  assert.equal(await closedWith(cq), H3Code.H3_NO_ERROR);
});

test('the peer closing the connection aborts calls in flight', async () => {
  const { client, seen } = setup();
  const p = client.request({ ...base, path: '/hang' }).catch((e: H3Error) => e.code);
  await tick();
  client.close(H3Code.H3_NO_ERROR);
  assert.equal(await p, H3Code.H3_NO_ERROR);
  await until(() => seen.aborts.length >= 1);
  assert.deepEqual(seen.aborts, [AbortReason.ConnectionClosed]);
});
