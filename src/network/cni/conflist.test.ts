import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Code } from '../../errors.js';
import { loadConfigDir, parseConfigList } from './conflist.js';
import { CniError, pluginError } from './errors.js';
import { compareVersions, resultIps, versionHas } from './spec.js';

const list = (o: Record<string, unknown>) => JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'bridge' }], ...o });

test('the first valid file in lexical order is the network; invalid ones before it are skipped and named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-cni-conf-'));
  try {
    writeFileSync(join(dir, '05-broken.conflist'), '{ not json');
    writeFileSync(join(dir, '07-noplugins.conflist'), list({ plugins: [] }));
    writeFileSync(join(dir, '10-b.conflist'), list({ name: 'second' }));
    writeFileSync(join(dir, '20-a.conflist'), list({ name: 'third' }));
    writeFileSync(join(dir, '00-ignored.txt'), list({ name: 'not-a-config-extension' }));
    mkdirSync(join(dir, '01-dir.conf'));
    const { list: l, skipped } = loadConfigDir(dir);
    assert.equal(l?.name, 'second');
    assert.equal(skipped.length, 3);
    assert.match(skipped[1]!, /05-broken\.conflist: not JSON/);
    assert.match(skipped[2]!, /07-noplugins\.conflist: "plugins" must be a non-empty list/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a .conf file is one plugin, wrapped in a list with its name and version', () => {
  const l = parseConfigList('/x/10-one.conf', JSON.stringify({ cniVersion: '0.4.0', name: 'one', type: 'ptp', ipam: { type: 'host-local' } }));
  assert.equal(l.name, 'one');
  assert.equal(l.cniVersion, '0.4.0');
  assert.deepEqual(l.plugins, [{ type: 'ptp', ipam: { type: 'host-local' } }]);
});

test('versions: the highest of cniVersions this runtime speaks; an unknown one is refused with what is spoken', () => {
  assert.equal(parseConfigList('/x/a.conflist', list({ cniVersions: ['0.4.0', '1.0.0', '9.9.9'] })).cniVersion, '1.0.0');
  assert.throws(() => parseConfigList('/x/a.conflist', list({ cniVersion: '0.2.0' })), (e: Error) => e instanceof CniError && /is one this runtime speaks \(0\.3\.0/.test(e.message));
  assert.equal(compareVersions('0.10.0', '0.4.0'), 1);
  assert.ok(versionHas('0.4.0', 'CHECK') && !versionHas('0.3.1', 'CHECK'));
  assert.ok(!versionHas('1.0.0', 'STATUS') && versionHas('1.1.0', 'GC'));
});

test('an empty or missing directory has no network, and says so', () => {
  assert.match(loadConfigDir('/nonexistent/workd-cni').skipped[0]!, /no such directory/);
});

test('result addresses: 1.0 and 0.4 formats, prefix length dropped', () => {
  assert.deepEqual(resultIps({ cniVersion: '1.0.0', ips: [{ address: '10.1.2.3/24', gateway: '10.1.2.1' }, { address: 'fd00::5/64' }] }), ['10.1.2.3', 'fd00::5']);
  assert.deepEqual(resultIps({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.9.0.2/16', interface: 1 }] }), ['10.9.0.2']);
  assert.deepEqual(resultIps({ cniVersion: '1.0.0' }), []);
});

test('a plugin error keeps its code and message and gets a fitting gRPC code', () => {
  const e = pluginError('host-local', 'ADD', 'net', { code: 11, msg: 'busy', details: 'lock held' });
  assert.equal(e.code, Code.UNAVAILABLE);
  assert.match(e.message, /CNI plugin host-local ADD \(network "net"\) failed: busy: lock held \(CNI error code 11, try again later\)/);
  assert.equal(pluginError('bridge', 'ADD', 'net', { code: 7, msg: 'bad' }).code, Code.FAILED_PRECONDITION);
  assert.equal(pluginError('bridge', 'ADD', 'net', { code: 999, msg: 'x' }).code, Code.UNKNOWN);
  assert.equal(new CniError('timeout', 't').code, Code.DEADLINE_EXCEEDED);
});
