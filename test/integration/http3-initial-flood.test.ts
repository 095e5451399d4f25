// An Initial flood at the real daemon's UDP port (issue 12 item 4): raw UDP
// senders replay quiche-made client Initials and never answer. With the
// `[dataplane.http3]` limits from the config file, the flood holds at most
// retry_threshold half-open connections; our HTTP/3 client's gRPC call and
// ngtcp2's gtlsclient are sent a Retry and answered meanwhile. Without Retry
// the same flood held every connection slot until the idle timeout. (The
// half-open timeout stays at its default: under a flood on 2 loaded cores a
// handshake can take seconds, and a client whose connection was dropped
// comes back with a stale token and gets INVALID_TOKEN.)
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { clientInitials, startFlood } from '../helpers/quic.js';
import { Http3Client } from '../../src/dataplane/http3/client.js';
import { Code } from '../../src/errors.js';

let d: TestDaemon;

before(async () => {
  d = await startDaemon({
    logLevel: 'info',
    configToml: '[dataplane.http3]\nmax_connections = 200\nmax_connections_per_peer = 200\nretry_threshold = 10\nhalf_open_timeout_ms = 5000\n',
  });
});

after(async () => {
  await d?.stop();
});

function gtlsclient(port: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('gtlsclient', ['--exit-on-all-streams-close', '--timeout=15s', '127.0.0.1', String(port), `https://localhost:${port}/grpc.health.v1.Health/Check`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', () => {
      clearTimeout(kill);
      resolve(out);
    });
  });
}

test('during an Initial flood, a gRPC call over HTTP/3 and gtlsclient get a Retry and are answered', { timeout: 90_000 }, async () => {
  const port = d.ready.udpPort;
  // More distinct Initials than the daemon may hold connections (200), at the rate of the flood
  // that once locked HTTP/3 clients out (11,000 Initials in 1.7 s).
  const flood = await startFlood(port, clientInitials(port, 1000), 8, 6500);
  try {
    // Let the flood fill the half-open places first.
    await new Promise((r) => setTimeout(r, 1000));
    const h3 = await Http3Client.connect({ host: '127.0.0.1', port, servername: 'localhost' });
    try {
      const r = await h3.unary({ authority: 'localhost', path: '/grpc.health.v1.Health/Check', message: Buffer.alloc(0) });
      assert.equal(r.code, Code.OK, r.message);
    } finally {
      h3.close();
    }
    const out = await gtlsclient(port);
    assert.match(out, /type=Retry/, out.slice(-3000));
    // Its GET is answered (405: gRPC takes POST only), not left unanswered or refused.
    assert.match(out, /\[:status: \d{3}\]/, out.slice(-3000));
    assert.doesNotMatch(out, /CONNECTION_REFUSED/);
    assert.ok(flood.sent() > 1000, `Initials sent: ${flood.sent()}`);
  } finally {
    await flood.stop();
  }
  assert.equal(d.process.exitCode, null);
});
