// Our QUIC client against our QUIC server over loopback: handshake, streams,
// flow control, FIN, resets, limits, idle timeout, closing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { makeTestCert, type TestCert } from '../../../test/helpers/tls.js';
import { Code, WorkdError } from '../../errors.js';
import { STOP_SENDING_CODE_UNKNOWN, type QuicConnection, type QuicServer, type QuicStream } from './transport.js';
import { startServer, connect, echo, readAll, closed, within } from '../../../test/helpers/quic.js';
import type { Connection } from './quic-connection.js';

let cert: TestCert;
before(async () => {
  cert = await makeTestCert();
});
after(async () => {
  await cert.cleanup();
});

async function withPair(
  fn: (client: QuicConnection, server: QuicServer, serverConn: Promise<QuicConnection>) => Promise<void>,
  onConnection: (c: QuicConnection) => void = echo,
): Promise<void> {
  const server = await startServer(cert);
  let accepted!: (c: QuicConnection) => void;
  const serverConn = new Promise<QuicConnection>((r) => (accepted = r));
  server.onConnection = (c) => {
    onConnection(c);
    accepted(c);
  };
  const client = await within(connect(server), 5000, 'connect');
  try {
    await fn(client, server, serverConn);
  } finally {
    client.close(0, 'done');
    const sc = await serverConn;
    sc.close(0, 'done');
    await within(server.close(), 5000, 'server close');
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

test('handshake negotiates ALPN h3 and reports the peer address (IPv4 client on a dual-stack :: server)', async () => {
  await withPair(async (client, _server, serverConn) => {
    assert.equal(client.alpn, 'h3');
    assert.equal(client.remoteAddress, '127.0.0.1');
    const sc = await serverConn;
    assert.equal(sc.alpn, 'h3');
    assert.equal(sc.remoteAddress, '127.0.0.1');
    assert.ok(sc.remotePort > 0);
  });
});

test('an IPv6 client reaches the dual-stack server too', async () => {
  const server = await startServer(cert);
  server.onConnection = echo;
  const c = await within(connect(server, { host: '::1' }), 5000, 'connect ::1');
  assert.equal(c.remoteAddress, '::1');
  const s = c.openBidi();
  const got = readAll(s);
  s.write(Buffer.from('v6'), true);
  assert.equal((await within(got, 5000, 'echo')).toString(), 'v6');
  c.close(0, '');
  await within(server.close(), 5000, 'server close');
});

test('no common ALPN: the client is refused with a clear error, the server keeps serving', async () => {
  const server = await startServer(cert);
  server.onConnection = echo;
  await assert.rejects(connect(server, { alpn: ['not-h3'] }), (err: unknown) => {
    assert.ok(err instanceof WorkdError);
    assert.equal(err.code, Code.UNAVAILABLE);
    // TLS alert no_application_protocol (120) as QUIC crypto error 0x100 + 120.
    assert.match(err.message, /transport error 0x178/);
    return true;
  });
  const ok = await within(connect(server), 5000, 'connect after refusal');
  assert.equal(ok.alpn, 'h3');
  ok.close(0, '');
  await within(server.close(), 5000, 'server close');
});

test('bidirectional echo of a small message and of 10 MiB', async () => {
  await withPair(async (client) => {
    const small = client.openBidi();
    assert.equal(small.bidirectional, true);
    assert.equal(small.peerInitiated, false);
    const smallBack = readAll(small);
    small.write(Buffer.from('hello quic'), true);
    assert.equal((await within(smallBack, 5000, 'small echo')).toString(), 'hello quic');

    const big = randomBytes(10 * 1024 * 1024);
    const s = client.openBidi();
    const back = readAll(s);
    // Several writes, the last with FIN, far beyond the flow-control windows.
    for (let off = 0; off < big.length; off += 1024 * 1024) s.write(big.subarray(off, off + 1024 * 1024), off + 1024 * 1024 >= big.length);
    const got = await within(back, 30_000, '10 MiB echo');
    assert.equal(got.length, big.length);
    assert.equal(sha(got), sha(big));
  });
});

/** A loopback UDP relay between one client and the server that counts datagrams each way. */
interface Relay {
  port: number;
  toClient: () => number;
  toServer: () => number;
  largestToClient: () => number;
  /** Holds the next client datagram back until the one after it has been passed on (reordering). */
  swapNextTwo: () => void;
  close: () => void;
}

async function relay(serverPort: number): Promise<Relay> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  let client: dgram.RemoteInfo | null = null;
  let toClient = 0;
  let toServer = 0;
  let largest = 0;
  let swap = false;
  let held: Buffer | null = null;
  let lateTimer: NodeJS.Timeout | undefined;
  sock.on('message', (msg, from) => {
    if (from.port === serverPort) {
      toClient++;
      largest = Math.max(largest, msg.length);
      if (client !== null) sock.send(msg, client.port, client.address);
    } else {
      client = from;
      toServer++;
      if (swap) {
        swap = false;
        held = msg;
        return;
      }
      sock.send(msg, serverPort, '127.0.0.1');
      if (held !== null) {
        // Late enough that the server has handled the overtaking datagram alone.
        const late = held;
        held = null;
        lateTimer = setTimeout(() => sock.send(late, serverPort, '127.0.0.1'), 20);
      }
    }
  });
  return {
    port: sock.address().port,
    toClient: () => toClient,
    toServer: () => toServer,
    largestToClient: () => largest,
    swapNextTwo: () => (swap = true),
    close: () => {
      clearTimeout(lateTimer);
      sock.close();
    },
  };
}

/** A server, a relay in front of it and a client connected through the relay; all closed afterwards. */
async function viaRelay(onConnection: (c: QuicConnection) => void, fn: (client: QuicConnection, r: Relay) => Promise<void>): Promise<void> {
  const server = await startServer(cert);
  server.onConnection = onConnection;
  const r = await relay(server.port);
  try {
    const client = await within(connect(server, { port: r.port }), 5000, 'connect via relay');
    try {
      await fn(client, r);
    } finally {
      client.close(0, '');
    }
  } finally {
    await within(server.close(), 5000, 'server close');
    r.close();
  }
}

/** Opens a stream, sends `text` with FIN and checks that it comes back. */
async function echoed(client: QuicConnection, text: string): Promise<QuicStream> {
  const s = client.openBidi();
  const back = readAll(s);
  s.write(Buffer.from(text), true);
  assert.equal((await within(back, 5000, `echo of ${JSON.stringify(text)}`)).toString(), text);
  return s;
}

/** One echo, then a pause: the handshake's own trailing packets (HANDSHAKE_DONE, its ACK) are out of the way. */
async function settle(client: QuicConnection): Promise<void> {
  await echoed(client, 'warm');
  await new Promise((res) => setTimeout(res, 50));
}

test('an answer written a few promise turns after its request leaves in the packet that ACKs the request', async () => {
  // Like the gRPC layer: the answer is written from a promise continuation, not from onData itself.
  const answerLater = (conn: QuicConnection) => {
    conn.onStream = (s) => {
      s.onData = async (chunk, fin) => {
        await null;
        await null;
        s.write(chunk, fin);
      };
    };
  };
  await viaRelay(answerLater, async (client, r) => {
    await settle(client);
    const before = r.toClient();
    const N = 40;
    for (let i = 0; i < N; i++) await echoed(client, `call ${i}`);
    const sent = r.toClient() - before;
    // One datagram per answer (ACK and answer together); a separate ACK first would make it 2N.
    assert.ok(sent <= N + 4, `the server sent ${sent} datagrams for ${N} sequential echoes`);
  });
});

test('an answer written a macrotask later (as from the executor) still carries the ACK; an answer held longer does not hold the ACK', async () => {
  let hold = 0;
  let heldRequestAcked: boolean | null = null;
  let relayed: Relay | null = null;
  const answerAfter = (conn: QuicConnection) => {
    conn.onStream = (s) => {
      s.onData = (chunk, fin) => {
        if (hold === 0) {
          setImmediate(() => s.write(chunk, fin));
          return;
        }
        const atRequest = relayed!.toClient();
        setTimeout(() => {
          heldRequestAcked = relayed!.toClient() > atRequest;
          s.write(chunk, fin);
        }, hold);
      };
    };
  };
  await viaRelay(answerAfter, async (client, r) => {
    relayed = r;
    await settle(client);
    const before = r.toClient();
    const N = 40;
    for (let i = 0; i < N; i++) await echoed(client, `call ${i}`);
    const sent = r.toClient() - before;
    assert.ok(sent <= N + 4, `the server sent ${sent} datagrams for ${N} sequential echoes answered a macrotask later`);
    // A slow answer: the request is acknowledged long before it.
    hold = 200;
    await echoed(client, 'slow');
    assert.equal(heldRequestAcked, true, 'the ACK of a request whose answer takes 200 ms went out before the answer');
  });
});

test('a loopback peer gets datagrams up to 16 KiB (loopback MTU), so 1 MiB needs about a tenth of the datagrams', async () => {
  await viaRelay(echo, async (client, r) => {
    const big = randomBytes(1024 * 1024);
    const s = client.openBidi();
    const back = readAll(s);
    const before = r.toClient();
    s.write(big, true);
    const got = await within(back, 10_000, '1 MiB echo');
    assert.equal(sha(got), sha(big));
    assert.ok(r.largestToClient() > 1350 && r.largestToClient() <= 16383, `largest datagram ${r.largestToClient()}`);
    // 1 MiB in 1350-byte datagrams would be at least 777 of them.
    assert.ok(r.toClient() - before < 400, `${r.toClient() - before} datagrams for 1 MiB`);
  });
});

test('streams that arrive out of order, or after an id the peer never used, are all served', async () => {
  await viaRelay(echo, async (client, r) => {
    await settle(client);
    r.swapNextTwo();
    const first = client.openBidi();
    const firstBack = readAll(first);
    first.write(Buffer.from('first'), true);
    // Let the first stream's datagram leave (and be held) before the second's.
    await new Promise((res) => setTimeout(res, 20));
    const second = await echoed(client, 'second');
    assert.equal((await within(firstBack, 5000, 'first echo')).toString(), 'first');
    // A peer may skip stream ids (RFC 9000 §3.2: a higher id opens the lower ones implicitly).
    (client as unknown as { nextBidi: number }).nextBidi += 4;
    const skipped = await echoed(client, 'after a gap');
    assert.equal(skipped.id, second.id + 8);
  });
});

test('many streams: 300 echoes, 50 at a time, beyond the per-connection stream limit', async () => {
  await withPair(async (client) => {
    for (let wave = 0; wave < 6; wave++) {
      const waits: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) {
        const s = client.openBidi();
        const msg = `wave ${wave} stream ${i}`;
        waits.push(readAll(s).then((b) => assert.equal(b.toString(), msg)));
        s.write(Buffer.from(msg), true);
      }
      await within(Promise.all(waits), 10_000, `wave ${wave}`);
    }
  });
});

test('opening more streams than the peer allows fails with RESOURCE_EXHAUSTED', async () => {
  const server = await startServer(cert, { maxStreamsBidi: 4 });
  server.onConnection = () => {};
  const c = await connect(server);
  for (let i = 0; i < 4; i++) c.openBidi();
  assert.throws(() => c.openBidi(), (err: unknown) => err instanceof WorkdError && err.code === Code.RESOURCE_EXHAUSTED);
  c.close(0, '');
  await within(server.close(), 5000, 'server close');
});

test('unidirectional streams both ways, with FIN', async () => {
  let serverSide!: QuicConnection;
  const fromClient = new Promise<{ stream: QuicStream; data: Buffer }>((resolve, reject) => {
    void withPair(
      async (client, _server, sc) => {
        serverSide = await sc;
        const fromServer = new Promise<{ stream: QuicStream; data: Buffer }>((res) => {
          client.onStream = (s) => void readAll(s).then((data) => res({ stream: s, data }));
        });
        const up = client.openUni();
        assert.equal(up.bidirectional, false);
        up.write(Buffer.from('client to server'));
        up.write(Buffer.from(' uni'), true);
        assert.throws(() => up.write(Buffer.from('late')), (err: unknown) => err instanceof WorkdError && err.code === Code.FAILED_PRECONDITION);
        const down = serverSide.openUni();
        down.write(Buffer.from('server to client uni'), true);
        const got = await within(fromServer, 5000, 'server uni');
        assert.equal(got.data.toString(), 'server to client uni');
        assert.equal(got.stream.bidirectional, false);
        assert.equal(got.stream.peerInitiated, true);
        assert.equal(got.stream.id & 3, 3, 'server-initiated unidirectional id');
        // The peer's unidirectional stream cannot be written.
        assert.throws(() => got.stream.write(Buffer.from('x')), (err: unknown) => err instanceof WorkdError && err.code === Code.FAILED_PRECONDITION);
        await within(serverUni, 5000, 'client uni').then(resolve, reject);
      },
      (c) => {
        c.onStream = (s) => {
          if (!s.bidirectional) void readAll(s).then((data) => resolveServerUni({ stream: s, data }));
        };
      },
    ).catch(reject);
  });
  let resolveServerUni!: (v: { stream: QuicStream; data: Buffer }) => void;
  const serverUni = new Promise<{ stream: QuicStream; data: Buffer }>((r) => (resolveServerUni = r));
  const got = await fromClient;
  assert.equal(got.data.toString(), 'client to server uni');
  assert.equal(got.stream.peerInitiated, true);
  assert.equal(got.stream.id & 3, 2, 'client-initiated unidirectional id');
});

test('an empty write with FIN ends the stream: the peer sees FIN exactly once with no data', async () => {
  await withPair(async (client) => {
    const s = client.openBidi();
    const back = readAll(s);
    s.write(new Uint8Array(0), true);
    assert.equal((await within(back, 5000, 'empty echo')).length, 0);
  });
});

test('RESET_STREAM and STOP_SENDING reach onReset with their codes', async () => {
  const serverStreams: QuicStream[] = [];
  const serverResets: number[] = [];
  let gotStream!: () => void;
  const twoStreams = new Promise<void>((r) => (gotStream = r));
  await withPair(
    async (client) => {
      // Client resets its sending side mid-message: the server is told.
      const a = client.openBidi();
      a.write(Buffer.from('partial'));
      const b = client.openBidi();
      b.write(Buffer.from('please stop'));
      await within(twoStreams, 5000, 'server saw both streams');
      const serverReset = new Promise<void>((r) => {
        const check = setInterval(() => {
          if (serverResets.length > 0) {
            clearInterval(check);
            r();
          }
        }, 5);
      });
      a.reset(0x10c);
      await within(serverReset, 5000, 'server onReset');
      assert.deepEqual(serverResets, [0x10c]);
      // Server asks the client to stop sending on b: the client's onReset fires.
      const clientStopped = new Promise<number>((r) => (b.onReset = r));
      // Peer streams are announced in quiche's readable order, not by id.
      const serverB = serverStreams.find((x) => x.id === b.id);
      assert.ok(serverB !== undefined);
      serverB.stopSending(0x10b);
      assert.equal(await within(clientStopped, 5000, 'client onReset (STOP_SENDING)'), 0x10b);
      // Writes after STOP_SENDING are dropped without throwing.
      b.write(Buffer.from('ignored'));
      // Server resets its side of b: the client's reader is told.
      const clientReset = new Promise<number>((r) => (b.onReset = r));
      b.onData = () => {};
      serverB.reset(0x10d);
      assert.equal(await within(clientReset, 5000, 'client onReset (RESET_STREAM)'), 0x10d);
    },
    (c) => {
      c.onStream = (s) => {
        serverStreams.push(s);
        s.onData = () => {};
        s.onReset = (code) => serverResets.push(code);
        if (serverStreams.length === 2) gotStream();
      };
    },
  );
});

test('idle timeout closes both ends with reason "idle timeout"', async () => {
  const server = await startServer(cert, { idleTimeoutMs: 300 });
  let sc!: Promise<{ code: number; reason: string }>;
  server.onConnection = (c) => {
    sc = closed(c);
  };
  const c = await connect(server, { idleTimeoutMs: 300 });
  const cc = closed(c);
  const [a, b] = await within(Promise.all([cc, new Promise<void>((r) => setTimeout(r, 20)).then(() => sc)]), 5000, 'idle close');
  assert.equal(a.reason, 'idle timeout');
  assert.equal(b.reason, 'idle timeout');
  await within(server.close(), 5000, 'server close');
});

test('connections beyond maxConnections are refused with CONNECTION_REFUSED; a slot freed is reused', async () => {
  const server = await startServer(cert, { maxConnections: 2 });
  const serverConns: QuicConnection[] = [];
  server.onConnection = (c) => {
    serverConns.push(c);
    echo(c);
  };
  const a = await connect(server);
  const b = await connect(server);
  await assert.rejects(connect(server), (err: unknown) => {
    assert.ok(err instanceof WorkdError);
    assert.equal(err.code, Code.UNAVAILABLE);
    assert.match(err.message, /peer transport error 0x2 \(too many connections\)/);
    return true;
  });
  // The two admitted connections still work.
  const s = b.openBidi();
  const back = readAll(s);
  s.write(Buffer.from('still here'), true);
  assert.equal((await within(back, 5000, 'echo on admitted connection')).toString(), 'still here');
  const aClosed = closed(serverConns[0]);
  a.close(0, 'leaving');
  await within(aClosed, 5000, 'server sees close');
  // Draining ends after a few PTOs; then the slot is free.
  let third: QuicConnection | null = null;
  for (let i = 0; i < 50 && third === null; i++) {
    try {
      third = await connect(server);
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.ok(third !== null, 'a connection is admitted once one has closed');
  third.close(0, '');
  b.close(0, '');
  await within(server.close(), 5000, 'server close');
});

test('application close codes and reasons reach the peer', async () => {
  const server = await startServer(cert);
  let sc!: Promise<{ code: number; reason: string }>;
  server.onConnection = (c) => {
    sc = closed(c);
  };
  const c = await connect(server);
  const s = c.openBidi();
  const cc = closed(c);
  await new Promise((r) => setTimeout(r, 20));
  c.close(0x100, 'bye now');
  assert.deepEqual(await within(sc, 5000, 'server onClose'), { code: 0x100, reason: 'bye now' });
  assert.deepEqual(await within(cc, 5000, 'client onClose'), { code: 0x100, reason: 'bye now' });
  // After onClose: stream operations are no-ops, new streams are refused.
  s.write(Buffer.from('too late'), true);
  s.reset(1);
  s.stopSending(1);
  assert.throws(() => c.openBidi(), (err: unknown) => err instanceof WorkdError && err.code === Code.UNAVAILABLE);
  await within(server.close(), 5000, 'server close');
});

test('a throwing stream handler ends only its connection; the server keeps serving', async () => {
  const server = await startServer(cert);
  server.onConnection = (c) => {
    c.onStream = (s) => {
      s.onData = (chunk, fin) => {
        if (Buffer.from(chunk).toString() === 'boom') throw new Error('handler bug');
        s.write(chunk, fin);
      };
    };
  };
  const bad = await connect(server);
  const badClosed = closed(bad);
  const s = bad.openBidi();
  s.write(Buffer.from('boom'), true);
  const why = await within(badClosed, 5000, 'bad connection closed');
  assert.equal(why.code, 0x1, 'transport INTERNAL_ERROR');
  const good = await connect(server);
  const g = good.openBidi();
  const back = readAll(g);
  g.write(Buffer.from('fine'), true);
  assert.equal((await within(back, 5000, 'echo after failure')).toString(), 'fine');
  good.close(0, '');
  await within(server.close(), 5000, 'server close');
});

test('server close waits for open connections, then frees the port', async () => {
  const server = await startServer(cert);
  let sconn!: QuicConnection;
  server.onConnection = (c) => {
    sconn = c;
    echo(c);
  };
  const c = await connect(server);
  const cc = closed(c);
  let done = false;
  const closing = server.close().then(() => (done = true));
  // A closing server accepts no new connections.
  await assert.rejects(connect(server), (err: unknown) => err instanceof WorkdError && /peer transport error 0x2 \(server closing\)/.test(err.message));
  assert.equal(done, false, 'close() waits while a connection is open');
  // The existing connection still works.
  const s = c.openBidi();
  const back = readAll(s);
  s.write(Buffer.from('during close'), true);
  assert.equal((await within(back, 5000, 'echo during close')).toString(), 'during close');
  sconn.close(0x100, 'shutting down');
  assert.deepEqual(await within(cc, 5000, 'client sees close'), { code: 0x100, reason: 'shutting down' });
  await within(closing, 5000, 'server close');
  assert.equal(done, true);
});

/** Connects expecting a TLS failure: never a connection, and a crypto error (0x100 + TLS alert). */
async function expectTlsFailure(attempt: () => Promise<QuicConnection>): Promise<void> {
  const err = await attempt().then(
    (conn) => {
      conn.close(0, '');
      assert.fail('a peer that fails verification must not connect');
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof WorkdError, String(err));
  assert.equal(err.code, Code.UNAVAILABLE);
  assert.match(err.message, /local transport error 0x1[0-9a-f]{2}/);
}

test('verifyPeer: the right CA and name connect; another CA or a wrong name is a TLS failure', async () => {
  const server = await startServer(cert);
  const other = await makeTestCert();
  try {
    server.onConnection = echo;
    const ok = await within(connect(server, { verifyPeer: true, caPem: cert.certPem }), 5000, 'verified connect');
    assert.equal(ok.alpn, 'h3');
    ok.close(0, '');
    const fast = { verifyPeer: true, idleTimeoutMs: 3000 };
    await expectTlsFailure(() => connect(server, { ...fast, caPem: other.certPem }));
    await expectTlsFailure(() => connect(server, { ...fast, caPem: cert.certPem, servername: 'not-localhost.example' }));
  } finally {
    await other.cleanup();
    await within(server.close(), 5000, 'server close');
  }
});

test('300 connections opened and abandoned: the server keeps serving and forgets them at their idle timeout', async () => {
  const server = await startServer(cert, { idleTimeoutMs: 1000, maxConnections: 400 });
  let accepted = 0;
  server.onConnection = (c) => {
    accepted++;
    echo(c);
  };
  try {
    const N = 300;
    for (let i = 0; i < N; i += 30) {
      const batch = await within(Promise.all(Array.from({ length: 30 }, () => connect(server))), 10_000, `connections ${i}..${i + 29}`);
      // The client vanishes: no CONNECTION_CLOSE, its socket closed.
      for (const c of batch) (c as Connection).abandon();
    }
    // The server completes a handshake when the client's Finished arrives, a moment after the client.
    for (let i = 0; i < 100 && accepted < N; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(accepted, N);
    assert.ok(server.connectionCount > 0);
    const live = await connect(server);
    const s = live.openBidi();
    const back = readAll(s);
    s.write(Buffer.from('served'), true);
    assert.equal((await within(back, 5000, 'echo beside abandoned connections')).toString(), 'served');
    live.close(0, '');
    // Every abandoned connection times out (1 s idle; quiche uses at least 3 PTOs).
    for (let i = 0; i < 100 && server.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(server.connectionCount, 0);
  } finally {
    await within(server.close(), 5000, 'server close');
  }
});

test('STOP_SENDING arriving with the ACK of our last bytes is still reported (quiche forgets such streams at once)', async () => {
  const stopCodes = (code: number) => code === 0x103 || code === STOP_SENDING_CODE_UNKNOWN;
  let serverBidi!: (s: QuicStream) => void;
  const serverStream = new Promise<QuicStream>((r) => (serverBidi = r));
  await withPair(
    async (client) => {
      // Our own unidirectional stream: the peer reads its bytes and stops it.
      const u = client.openUni();
      const uStopped = new Promise<number>((r) => (u.onReset = r));
      u.write(Uint8Array.of(0x40, 0x21, 9, 9, 9));
      const code = await within(uStopped, 5000, 'client onReset on its uni stream');
      assert.ok(stopCodes(code), `code ${code}`);
      u.write(Uint8Array.of(1)); // dropped, not queued forever
      assert.equal((u as unknown as { hasPending: boolean }).hasPending, false);

      // A response being streamed: the client has read it all, then cancels.
      const b = client.openBidi();
      b.write(Buffer.from('request'), true);
      const part = new Promise<void>((r) => (b.onData = () => r()));
      const ss = await within(serverStream, 5000, 'server stream');
      const serverStopped = new Promise<number>((r) => (ss.onReset = r));
      ss.write(Buffer.from('first message'));
      await within(part, 5000, 'first message');
      await new Promise((r) => setTimeout(r, 50)); // the ACK of it is out
      b.stopSending(0x103);
      const c2 = await within(serverStopped, 5000, 'server onReset on the response stream');
      assert.ok(stopCodes(c2), `code ${c2}`);
    },
    (c) => {
      c.onStream = (s) => {
        if (s.bidirectional) serverBidi(s);
        s.onData = () => {};
        if (!s.bidirectional) s.onData = () => s.stopSending(0x103);
      };
    },
  );
});

test('a client Initial replayed after the handshake does not start a second connection', async () => {
  const server = await startServer(cert);
  let accepted = 0;
  let serverClosed!: Promise<{ code: number; reason: string }>;
  server.onConnection = (c) => {
    accepted++;
    echo(c);
    serverClosed = closed(c);
  };
  // A loopback relay between client and server that keeps the client's first datagram.
  const relay = dgram.createSocket('udp4');
  const upstream = dgram.createSocket('udp4');
  let first: Buffer | null = null;
  let clientAddr: { address: string; port: number } | null = null;
  relay.on('message', (msg, rinfo) => {
    if (first === null) first = Buffer.from(msg);
    clientAddr = { address: rinfo.address, port: rinfo.port };
    upstream.send(msg, server.port, '127.0.0.1');
  });
  upstream.on('message', (msg) => {
    if (clientAddr !== null) relay.send(msg, clientAddr.port, clientAddr.address);
  });
  await new Promise<void>((r) => relay.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => upstream.bind(0, '127.0.0.1', () => r()));
  try {
    const c = await within(connect(server, { port: relay.address().port }), 5000, 'connect through the relay');
    for (let i = 0; i < 100 && accepted < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(accepted, 1);
    assert.ok(first !== null && (first[0] & 0xf0) === 0xc0, 'the first datagram is a long-header Initial');
    upstream.send(first, server.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(server.connectionCount, 1, 'no phantom connection from the replayed Initial');
    const s = c.openBidi();
    const back = readAll(s);
    s.write(Buffer.from('still one'), true);
    assert.equal((await within(back, 5000, 'echo')).toString(), 'still one');
    c.close(0, 'done');
    // Through the relay, before it goes away.
    assert.equal((await within(serverClosed, 5000, 'server sees the close')).reason, 'done');
  } finally {
    relay.close();
    upstream.close();
    await within(server.close(), 5000, 'server close');
  }
});

test('bad certificates and a busy port are clear errors', async () => {
  await assert.rejects(startServer({ ...cert, certPem: 'not a certificate' }), (err: unknown) => {
    assert.ok(err instanceof WorkdError);
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.match(err.message, /TLS certificate rejected/);
    return true;
  });
  await assert.rejects(startServer({ ...cert, keyPem: 'nope' }), /TLS key rejected/);
  const other = await makeTestCert();
  try {
    await assert.rejects(startServer({ ...cert, keyPem: other.keyPem }), (err: unknown) => err instanceof WorkdError && err.code === Code.INVALID_ARGUMENT && /does not match/.test(err.message));
  } finally {
    await other.cleanup();
  }
  const first = await startServer(cert);
  await assert.rejects(startServer(cert, { port: first.port }), (err: unknown) => {
    assert.ok(err instanceof WorkdError);
    assert.equal(err.code, Code.UNAVAILABLE);
    assert.match(err.message, new RegExp(`cannot listen on UDP :: port ${first.port}: .*EADDRINUSE`));
    return true;
  });
  await within(first.close(), 5000, 'server close');
});
