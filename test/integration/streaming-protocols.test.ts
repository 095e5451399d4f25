import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { spdyExec, spdyPortForward, upgrade, wsExec } from '../helpers/streaming-clients.js';
import { withLimits } from '../../src/limits.js';
import { runBuiltin, type ExecTarget } from '../../src/streaming/commands.js';
import { startStreamingServer, type StreamingServer } from '../../src/streaming/server.js';

const target: ExecTarget = {
  containerId: 'c'.repeat(64),
  notServing: () => undefined,
  methods: () => ['/demo.Echo/Say'],
  inFlight: () => 3,
  env: () => ({ B: '2', A: '1' }),
  call: async (method, json) => ({ code: 0, codeName: 'OK', message: '', json: JSON.stringify({ method, echo: JSON.parse(json) }) }),
};

describe('streaming server', () => {
  let server: StreamingServer;
  const opts = { stdin: false, stdout: true, stderr: true, tty: false };
  before(async () => {
    server = await startStreamingServer({
      listen: '127.0.0.1:0',
      limits: withLimits({ streamingTokenTtlMs: 500, streamingMaxPendingRequests: 10, streamingIdleTimeoutMs: 60_000, streamingStreamCreationTimeoutMs: 2000 }),
      log: pino({ level: 'silent' }),
      backend: {
        exec: (_id, cmd, io) => runBuiltin(target, cmd, io, 1024 * 1024),
        attach: async (_id, io) => {
          io.stdout!.write('line 1\n');
          await new Promise((done) => io.signal.addEventListener('abort', done));
          return { exitCode: 0 };
        },
        portForward: async (_pod, port, stream) => {
          for await (const chunk of stream) stream.write(`${port}:${chunk}`);
          stream.end();
        },
      },
    });
  });
  after(() => server.close());

  it('answers URLs on loopback', () => {
    const url = server.url({ kind: 'exec', containerId: 'x', cmd: ['env'], opts });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{22}$/);
  });

  it('runs exec over SPDY with the v4 protocol: output, and a JSON status with the exit code', async () => {
    const ok = await spdyExec(server.url({ kind: 'exec', containerId: 'x', cmd: ['env'], opts }));
    assert.equal(ok.protocol, 'v4.channel.k8s.io');
    assert.equal(ok.stdout, 'A=1\nB=2\n');
    assert.deepEqual(JSON.parse(ok.error), { metadata: {}, status: 'Success' });

    const bad = await spdyExec(server.url({ kind: 'exec', containerId: 'x', cmd: ['ls', '-l'], opts }));
    const status = JSON.parse(bad.error);
    assert.equal(status.status, 'Failure');
    assert.equal(status.reason, 'NonZeroExitCode');
    assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '127' }]);
    assert.match(bad.stderr, /"ls": command not found.*\n.*health/s);
  });

  it('speaks the older SPDY protocols: v2 reports failure as text, and no header at all falls back to v1', async () => {
    const v2 = await spdyExec(server.url({ kind: 'exec', containerId: 'x', cmd: ['nope'], opts }), { protocols: ['v2.channel.k8s.io'] });
    assert.equal(v2.protocol, 'v2.channel.k8s.io');
    assert.match(v2.error, /^command terminated with non-zero exit code: command 'nope' exited with 127$/);
    const v1 = await spdyExec(server.url({ kind: 'exec', containerId: 'x', cmd: ['calls'], opts }), { protocols: [] });
    assert.equal(v1.stdout, '3\n');
    assert.equal(v1.error, '');
  });

  it('reads stdin over SPDY (call with the request on stdin)', async () => {
    const r = await spdyExec(server.url({ kind: 'exec', containerId: 'x', cmd: ['call', 'Say'], opts: { ...opts, stdin: true } }), { stdin: '{"a":1}' });
    assert.deepEqual(JSON.parse(r.stdout), { method: 'Say', echo: { a: 1 } });
  });

  it('refuses a protocol it does not speak with 403 and the accepted versions, without spending the token', async () => {
    const url = server.url({ kind: 'exec', containerId: 'x', cmd: ['calls'], opts });
    await assert.rejects(upgrade(url, { 'X-Stream-Protocol-Version': 'v9.channel.k8s.io' }), /403 Forbidden.*unable to negotiate protocol/s);
    const r = await spdyExec(url);
    assert.equal(r.stdout, '3\n');
  });

  it('accepts a token once, and not after it expired', async () => {
    const url = server.url({ kind: 'exec', containerId: 'x', cmd: ['calls'], opts });
    await spdyExec(url);
    await assert.rejects(spdyExec(url), /404 Not Found.*token not found or expired/s);
    const late = server.url({ kind: 'exec', containerId: 'x', cmd: ['calls'], opts });
    await new Promise((done) => setTimeout(done, 600));
    await assert.rejects(spdyExec(late), /404/);
  });

  for (const protocol of ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io']) {
    it(`runs exec over WebSocket ${protocol}`, async () => {
      const r = await wsExec(server.url({ kind: 'exec', containerId: 'x', cmd: ['methods'], opts }), { protocol });
      assert.equal(r.protocol, protocol);
      assert.equal(r.stdout, '/demo.Echo/Say\n');
      if (protocol.startsWith('v')) assert.deepEqual(JSON.parse(r.error), { metadata: {}, status: 'Success' });
      else assert.equal(r.error, '');
      const bad = await wsExec(server.url({ kind: 'exec', containerId: 'x', cmd: ['sh'], opts }), { protocol });
      if (protocol.startsWith('v')) assert.equal(JSON.parse(bad.error).details.causes[0].message, '127');
      else assert.match(bad.error, /exited with 127/);
    });
  }

  it('reads stdin over WebSocket v5 until the client half-closes it', async () => {
    const r = await wsExec(server.url({ kind: 'exec', containerId: 'x', cmd: ['call', 'Say'], opts: { ...opts, stdin: true } }), { stdin: '{"b":2}' });
    assert.deepEqual(JSON.parse(r.stdout), { method: 'Say', echo: { b: 2 } });
  });

  it('refuses a WebSocket subprotocol it does not speak', async () => {
    const url = server.url({ kind: 'exec', containerId: 'x', cmd: ['calls'], opts });
    const ws = new WebSocket(url.replace('http', 'ws'), ['v9.channel.k8s.io']);
    const err = await new Promise<Error>((done) => ws.on('error', done));
    assert.match(err.message, /403/);
  });

  it('streams attach output to the client until it goes away (SPDY and WebSocket)', async () => {
    const viaSpdy = await spdyExec(server.url({ kind: 'attach', containerId: 'x', opts }), { closeAfterMs: 200 });
    assert.equal(viaSpdy.stdout, 'line 1\n');
    const viaWs = await wsExec(server.url({ kind: 'attach', containerId: 'x', opts }), { closeAfterMs: 200 });
    assert.equal(viaWs.stdout, 'line 1\n');
  });

  it('forwards ports over SPDY: concurrent connections each get their own stream pair', async () => {
    const pf = await spdyPortForward(server.url({ kind: 'portforward', podSandboxId: 'p', ports: [8443] }));
    const a = pf.forward(8443);
    const b = pf.forward(9000);
    const read = (s: typeof a.data) => new Promise<string>((done) => s.once('data', (c: Buffer) => done(c.toString())));
    const ra = read(a.data);
    const rb = read(b.data);
    a.data.write('hello');
    b.data.write('world');
    assert.equal(await ra, '8443:hello');
    assert.equal(await rb, '9000:world');
    a.data.end();
    b.data.end();
    assert.equal(await a.error, '');
    pf.close();
  });

  it('forwards a port over WebSocket: data and error channels open with the port, little-endian', async () => {
    const url = server.url({ kind: 'portforward', podSandboxId: 'p', ports: [8443] });
    const ws = new WebSocket(url.replace('http', 'ws'), ['v4.channel.k8s.io']);
    const msgs: Buffer[] = [];
    const got = new Promise<void>((done) =>
      ws.on('message', (m: Buffer) => {
        msgs.push(m);
        if (msgs.length === 3) done();
      }),
    );
    await new Promise((done) => ws.on('open', done));
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping')]));
    await got;
    assert.deepEqual(msgs[0], Buffer.from([0, 8443 & 0xff, 8443 >> 8]));
    assert.deepEqual(msgs[1], Buffer.from([1, 8443 & 0xff, 8443 >> 8]));
    assert.equal(msgs[2]!.subarray(1).toString(), '8443:ping');
    assert.equal(msgs[2]![0], 0);
    ws.close();
  });

  it('answers plain HTTP requests with 400', async () => {
    const res = await fetch(`${server.baseUrl}/exec/abc`);
    assert.equal(res.status, 400);
  });
});
