// A server on a UDP socket it did not bind (a pod's socket, opened inside the
// pod's network namespace and handed to the data plane).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { makeTestCert } from '../../../test/helpers/tls.js';
import { startServer, connect, echo, readAll, within } from '../../../test/helpers/quic.js';

test('listenQuic serves an already-bound socket it is given, and closes it with the server', async () => {
  const cert = await makeTestCert();
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const port = socket.address().port;
  const server = await startServer(cert, { host: '127.0.0.1', socket });
  assert.equal(server.port, port);
  server.onConnection = echo;
  const c = await within(connect(server), 5000, 'connect');
  const s = c.openBidi();
  const back = readAll(s);
  s.write(Buffer.from('through the given socket'), true);
  assert.equal((await within(back, 5000, 'echo')).toString(), 'through the given socket');
  c.close(0, '');
  await within(server.close(), 10_000, 'server close');
  // Closed with the server.
  assert.throws(() => socket.address(), /Not running|ERR_SOCKET_DGRAM_NOT_RUNNING/);
  await cert.cleanup();
});
