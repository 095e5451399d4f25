// `[dataplane] cleartext` and `[dataplane.tls]`: known values or a clear refusal naming the key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from './config.js';
import { loadConfigText as load } from '../test/helpers/config-file.js';

test('dataplane.cleartext: "pods" by default, "all" and "off" taken, anything else refused', () => {
  assert.equal(defaultConfig().dataplane.cleartext, 'pods');
  assert.equal(load('[dataplane]\nlisten = "[::]:8443"\n').dataplane.cleartext, 'pods');
  assert.equal(load('[dataplane]\ncleartext = "all"\n').dataplane.cleartext, 'all');
  assert.equal(load('[dataplane]\ncleartext = "off"\n').dataplane.cleartext, 'off');
  assert.throws(() => load('[dataplane]\ncleartext = "yes"\n'), /dataplane\.cleartext must be one of "pods", "all", "off", not "yes"/);
  assert.throws(() => load('[dataplane]\ncleartext = true\n'), /dataplane\.cleartext must be a string/);
});

test('[dataplane.tls]: cert_dir and client_ca read; unknown keys, bad host patterns and non-path values refused', () => {
  const c = load('[dataplane.tls]\ncert_dir = "/etc/workd/certs"\n[dataplane.tls.client_ca]\n"Payments.Example.com" = "/ca/p.pem"\n"*.corp.example" = "/ca/corp.pem"\n');
  assert.equal(c.dataplane.tlsCertDir, '/etc/workd/certs');
  assert.deepEqual(c.dataplane.tlsClientCa, { 'payments.example.com': '/ca/p.pem', '*.corp.example': '/ca/corp.pem' });
  assert.equal(defaultConfig().dataplane.tlsCertDir, undefined);
  assert.throws(() => load('[dataplane.tls]\ncertdir = "/x"\n'), /unknown key dataplane\.tls\.certdir \(known: cert_dir, client_ca\)/);
  assert.throws(() => load('[dataplane.tls]\ncert_dir = 5\n'), /dataplane\.tls\.cert_dir must be a string/);
  assert.throws(() => load('[dataplane.tls.client_ca]\n"a.*.example" = "/ca.pem"\n'), /"a\.\*\.example" is not a host name or a \*\. wildcard/);
  assert.throws(() => load('[dataplane.tls.client_ca]\n"a.example" = 3\n'), /client_ca\."a\.example" must be the path of a PEM CA bundle/);
  assert.throws(() => load('[dataplane.tls]\nclient_ca = "/ca.pem"\n'), /client_ca must be a table of host = "CA bundle path"/);
});

test('[dataplane.tls] at start: a missing cert_dir or an unreadable client CA stops the data plane naming the file', async () => {
  const { startDataPlane } = await import('./dataplane/server.js');
  const { createLogger } = await import('./observability/log.js');
  const { DEFAULT_LIMITS } = await import('./limits.js');
  const dir = mkdtempSync(join(tmpdir(), 'workd-config-tls-'));
  try {
    const base = { ...defaultConfig().dataplane, listen: '127.0.0.1:0', http3: false };
    const start = (over: object) => startDataPlane({ config: { ...base, ...over }, routes: { lookup: () => undefined, runningServices: () => [] }, log: createLogger('silent'), stateDir: dir, limits: DEFAULT_LIMITS });
    await assert.rejects(start({ tlsCertDir: join(dir, 'nope') }), new RegExp(`TLS: ${join(dir, 'nope')}: is not a directory`));
    writeFileSync(join(dir, 'ca.pem'), 'garbage');
    await assert.rejects(start({ tlsClientCa: { 'a.example': join(dir, 'ca.pem') } }), new RegExp(`TLS: ${join(dir, 'ca.pem')}: holds no PEM certificate`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
