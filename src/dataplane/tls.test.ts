import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Code, WorkdError } from '../errors.js';
import { createLogger } from '../observability/log.js';
import { loadTlsIdentity } from './tls.js';

const log = createLogger('silent');
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tmp() {
  const d = await mkdtemp(join(tmpdir(), 'workd-tls-'));
  dirs.push(d);
  return d;
}

test('without a configured pair, one is generated once under <stateDir>/tls and reused', async () => {
  const stateDir = await tmp();
  const first = await loadTlsIdentity({ stateDir, log });
  assert.equal(first.selfSigned, true);
  assert.equal(first.certPath, join(stateDir, 'tls', 'cert.pem'));
  const cert = new X509Certificate(first.cert);
  assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
  assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(first.key)));
  const second = await loadTlsIdentity({ stateDir, log });
  assert.deepEqual(second.cert, first.cert, 'the same pair on the next start');
});

test('a configured pair is used as given', async () => {
  const stateDir = await tmp();
  const gen = await loadTlsIdentity({ stateDir, log });
  const id = await loadTlsIdentity({ tlsCert: gen.certPath, tlsKey: gen.keyPath, stateDir: await tmp(), log });
  assert.equal(id.selfSigned, false);
  assert.deepEqual(id.cert, await readFile(gen.certPath));
});

test('half a pair or an unreadable file is INVALID_ARGUMENT naming what is wrong', async () => {
  const stateDir = await tmp();
  await assert.rejects(loadTlsIdentity({ tlsCert: '/x.pem', stateDir, log }), (e: unknown) => e instanceof WorkdError && e.code === Code.INVALID_ARGUMENT && /got only the certificate/.test(e.message));
  await assert.rejects(
    loadTlsIdentity({ tlsCert: join(stateDir, 'missing.pem'), tlsKey: join(stateDir, 'missing-key.pem'), stateDir, log }),
    (e: unknown) => e instanceof WorkdError && e.code === Code.INVALID_ARGUMENT && e.message.includes('missing'),
  );
});
