// The operator's probe: `curl --unix-socket <workd socket> localhost` gets an
// HTTP/1.1 answer naming workd, while gRPC clients on the same socket are
// served as before (CRI-O answers curl the same way; containerd sends HTTP/2
// frames that curl cannot read).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { criClient } from '../helpers/cri-client.js';
import { startDaemon } from '../helpers/daemon.js';

const run = promisify(execFile);

test('curl --unix-socket gets an HTTP/1.1 404 naming workd; gRPC on the same socket still works', async () => {
  const d = await startDaemon();
  const cri = criClient(d.criSocket);
  try {
    // Before, between and after curl probes, gRPC keeps working on fresh and reused connections.
    assert.equal((await cri.runtime.Version!({})).runtime_name, 'workd');
    const r = await run('curl', ['-sS', '-i', '--unix-socket', d.criSocket, 'http://localhost/']);
    const [head, body] = r.stdout.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.match(head!, /\r\nContent-Type: text\/plain/i);
    assert.match(body!, /404 page not found/);
    assert.match(body!, /workd/);
    // curl's exit status with --fail: 22 (HTTP error), not 56/8 (unreadable answer).
    const failing = await run('curl', ['-sS', '--fail', '--unix-socket', d.criSocket, 'localhost/healthz']).then(() => 0, (e: { code: number }) => e.code);
    assert.equal(failing, 22);
    // Many probes at once do not disturb the gRPC connection.
    await Promise.all(Array.from({ length: 8 }, () => run('curl', ['-s', '--unix-socket', d.criSocket, 'localhost'])));
    assert.equal((await cri.runtime.Version!({})).runtime_name, 'workd');
    const fresh = criClient(d.criSocket);
    assert.equal((await fresh.runtime.Status!({})).status.conditions.length >= 2, true);
    fresh.close();
  } finally {
    cri.close();
    await d.stop();
  }
});

test('bytes that are neither HTTP/2 nor HTTP/1 get a 400 and a closed connection', async () => {
  const d = await startDaemon();
  try {
    const answer = await new Promise<string>((done, fail) => {
      const s = connect(d.criSocket);
      let got = '';
      s.on('data', (b) => (got += b.toString('latin1')));
      s.on('end', () => done(got));
      s.on('error', fail);
      s.write('\x16\x03\x01\x00\xa5 hello\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const cri = criClient(d.criSocket);
    assert.equal((await cri.runtime.Version!({})).runtime_name, 'workd');
    cri.close();
  } finally {
    await d.stop();
  }
});
