// Durable state across daemon restarts, over the real CRI socket (docs/state.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { criClient } from '../helpers/cri-client.js';
import { WORKD_BIN, startDaemon } from '../helpers/daemon.js';

test('a second daemon on the same state dir is refused with a clear error, the first undisturbed', async () => {
  const first = await startDaemon();
  try {
    const r = spawnSync(process.execPath, [WORKD_BIN, 'serve', '--cri-socket', join(first.dir, 'other.sock'), '--state-dir', first.stateDir, '--listen', '127.0.0.1:0'], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`state dir ${first.stateDir}/state is in use by workd pid ${first.ready.pid}`));
    const cri = criClient(first.criSocket);
    assert.equal((await cri.runtime.Version!({})).runtime_name, 'workd');
    cri.close();
  } finally {
    await first.stop();
  }
});
