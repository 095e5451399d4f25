// The CRI socket itself: permissions, one daemon per socket, stale sockets, shutdown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { criClient } from '../helpers/cri-client.js';
import { WORKD_BIN, startDaemon } from '../helpers/daemon.js';

test('the socket is created with mode 0660 in a created directory, and removed on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-sock-'));
  const socket = join(dir, 'nested', 'run', 'workd.sock');
  const d = await startDaemon({ criSocket: socket });
  try {
    const st = statSync(socket);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    const cri = criClient(socket);
    const v = await cri.runtime.Version!({ version: 'v1' });
    assert.equal(v.runtime_name, 'workd');
    cri.close();
  } finally {
    const exit = await d.stop('SIGTERM');
    assert.equal(exit.code, 0, `graceful shutdown exits 0; logs:\n${d.logs()}`);
    assert.equal(existsSync(socket), false, `socket removed on shutdown; logs:\n${d.logs()}`);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a second daemon on a live socket refuses to start with a clear error', async () => {
  const first = await startDaemon();
  try {
    // Same socket and same data plane port: the socket is what the error names.
    const listen = `127.0.0.1:${first.ready.tcpPort}`;
    const r = spawnSync(process.execPath, [WORKD_BIN, 'serve', '--cri-socket', first.criSocket, '--state-dir', join(first.dir, 'state2'), '--listen', listen], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /another process is already serving the CRI socket .*cri\.sock/);
    // The first daemon is undisturbed.
    const cri = criClient(first.criSocket);
    assert.equal((await cri.runtime.Version!({})).runtime_name, 'workd');
    cri.close();
  } finally {
    await first.stop();
  }
});

test('a stale socket left by a killed daemon is replaced', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-stale-'));
  const socket = join(dir, 'cri.sock');
  try {
    const crashed = await startDaemon({ criSocket: socket });
    await crashed.stop('SIGKILL');
    assert.ok(statSync(socket).isSocket(), 'SIGKILL leaves the socket file behind');
    const d = await startDaemon({ criSocket: socket });
    try {
      await d.waitForLog((l) => l.msg === 'replacing stale CRI socket left by an earlier run');
      const cri = criClient(socket);
      assert.equal((await cri.runtime.Status!({})).status.conditions.length, 2);
      cri.close();
    } finally {
      await d.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a regular file at the socket path is never deleted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-file-'));
  const path = join(dir, 'cri.sock');
  writeFileSync(path, 'precious');
  try {
    const r = spawnSync(process.execPath, [WORKD_BIN, 'serve', '--cri-socket', path, '--state-dir', join(dir, 'state'), '--listen', '127.0.0.1:0'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /exists and is not a socket/);
    assert.ok(statSync(path).isFile());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
