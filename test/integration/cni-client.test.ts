// The CNI client against Debian's real plugins (bridge, host-local, loopback,
// ptp) in network namespaces and on a bridge of the test's own.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Code } from '../../src/errors.js';
import { CniClient, type Attachment } from '../../src/network/cni/client.js';
import type { PluginRunner } from '../../src/network/cni/exec.js';
import { SocketHelper } from '../../src/network/socket-helper.js';
import { createLogger } from '../../src/observability/log.js';
import { loadConfigDir, parseConfigList } from '../../src/network/cni/conflist.js';
import { CniError } from '../../src/network/cni/errors.js';
import { resultIps } from '../../src/network/cni/spec.js';
import { CniConfigWatcher } from '../../src/network/cni/watch.js';
import { CNI_BIN, cniUnavailable, makeBridgeNetwork, makeNetns, randomSubnet, run, uniqueName, type TestNetns, type TestNetwork } from '../helpers/netns.js';
import { randomHexId } from '../../src/pods/ids.js';

const skip = cniUnavailable();
const EXEC = { binDirs: ['/opt/cni/bin', CNI_BIN], timeoutMs: 20_000 };

describe('CNI client with real plugins', { skip }, () => {
  let dir: string;
  let net: TestNetwork;
  const cleanups: (() => Promise<void>)[] = [];
  // The daemon runs plugins from its socket helper; this process's own spawn is the default.
  const helper = new SocketHelper(createLogger('silent'), 30_000);
  const RUNNERS: ReadonlyArray<readonly [string, PluginRunner | undefined]> = [['spawned here', undefined], ['run by the socket helper', helper.runPlugin]];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'workd-cni-'));
    net = await makeBridgeNetwork(dir, { rangeStart: 10, rangeEnd: 11 });
  });
  after(async () => {
    helper.close();
    for (const c of cleanups.reverse()) await c();
    await net.remove();
    rmSync(dir, { recursive: true, force: true });
  });
  const netns = async (): Promise<TestNetns> => {
    const ns = await makeNetns();
    cleanups.push(ns.remove);
    return ns;
  };
  const client = () => new CniClient(loadConfigDir(net.confDir).list!, EXEC);
  const attach = (ns: TestNetns): Attachment => ({ containerId: randomHexId(), netns: ns.path, ifname: 'eth0', args: { IgnoreUnknown: '1', K8S_POD_NAME: 'p', K8S_POD_NAMESPACE: 'default' } });

  for (const [how, runner] of RUNNERS) test(`ADD gives the namespace an address of the range; CHECK passes; DEL releases it and is idempotent (plugins ${how})`, async () => {
    const c = new CniClient(loadConfigDir(net.confDir).list!, { ...EXEC, run: runner });
    const ns = await netns();
    const a = attach(ns);
    const result = await c.add(a);
    const [ip] = resultIps(result);
    assert.ok(ip === `${net.subnet}.10` || ip === `${net.subnet}.11`, `address ${ip} in the range`);
    assert.equal(result.cniVersion, '1.0.0');
    const { stdout } = await run('ip', ['-n', ns.name, '-4', 'addr', 'show', 'eth0']);
    assert.match(stdout, new RegExp(`inet ${ip!.replace(/\./g, '\\.')}/24`));
    assert.equal(await c.check(a, result), true);
    assert.ok(readdirSync(join(net.ipamDir, c.list.name)).includes(ip!), 'host-local holds the address');
    await c.del(a, result);
    assert.ok(!readdirSync(join(net.ipamDir, c.list.name)).includes(ip!), 'host-local released the address');
    await c.del(a, result);
    await c.del(a);
  });

  test('an exhausted range is the plugin\'s error, code and message, and the address of a DEL is reused', async () => {
    const c = client();
    const [n1, n2, n3] = [await netns(), await netns(), await netns()];
    const a1 = attach(n1);
    const a2 = attach(n2);
    const r1 = await c.add(a1);
    const r2 = await c.add(a2);
    const a3 = attach(n3);
    await assert.rejects(c.add(a3), (e: Error) => {
      assert.ok(e instanceof CniError && e.failure === 'plugin-error', e.message);
      assert.equal(e.plugin, 'bridge');
      assert.match(e.message, /CNI plugin bridge ADD \(network "workd-test-wdt[0-9a-f]+"\) failed: .*no IP addresses available in range set/);
      assert.match(e.message, /CNI error code \d+/);
      return true;
    });
    // The failed ADD's leftovers (the veth) go with DEL, as a runtime cleans up a failed ADD.
    await c.del(a3);
    await c.del(a1, r1);
    const r3 = await c.add(a3);
    assert.deepEqual(resultIps(r3), resultIps(r1), 'the released address is handed out again');
    await c.del(a2, r2);
    await c.del(a3, r3);
  });

  test('a 0.4.0 list (ptp + host-local) gives the 0.4 result format, which the client reads', async () => {
    const subnet = randomSubnet();
    const list = parseConfigList(join(dir, 'ptp.conflist'), JSON.stringify({
      cniVersion: '0.4.0',
      name: uniqueName('workd-ptp-'),
      plugins: [{ type: 'ptp', ipMasq: false, ipam: { type: 'host-local', subnet: `${subnet}.0/24`, dataDir: join(dir, 'ipam-ptp') } }, { type: 'loopback' }],
    }));
    const c = new CniClient(list, EXEC);
    const ns = await netns();
    const a = attach(ns);
    const result = await c.add(a);
    assert.equal(result.cniVersion, '0.4.0');
    assert.equal((result.ips as { version: string }[])[0]!.version, '4');
    assert.match(resultIps(result)[0]!, new RegExp(`^${subnet.replace(/\./g, '\\.')}\\.\\d+$`));
    assert.equal(await c.check(a, result), true);
    await c.del(a, result);
  });

  test('STATUS and GC go only to plugins whose VERSION lists 1.1.0: Debian\'s speak up to 1.0.0', async () => {
    const c = client();
    assert.ok((await c.pluginVersions('bridge')).includes('1.0.0'));
    assert.equal(await c.status(), 0);
    assert.equal(await c.gc([]), 0);
    // A 1.1.0 list: the same plugins still do not list 1.1.0, so nothing is sent that they would answer "unknown CNI_COMMAND".
    const l11 = parseConfigList(join(dir, 'x.conflist'), JSON.stringify({ ...net.conflist, cniVersions: ['1.0.0', '1.1.0'] }));
    assert.equal(l11.cniVersion, '1.1.0');
    assert.equal(await new CniClient(l11, EXEC).status(), 0);
  });

  for (const [how, runner] of RUNNERS) test(`a missing plugin, a hung plugin, one that cannot start and a crashing plugin each give a clear error with a fitting code (plugins ${how})`, async () => {
    const ns = await netns();
    const fake = mkdtempSync(join(dir, 'bin-'));
    // Faults a real plugin cannot be made to produce: one that never answers, one that dies without an error object.
    writeFileSync(join(fake, 'hang'), '#!/bin/sh\nexec sleep 600\n');
    writeFileSync(join(fake, 'crash'), '#!/bin/sh\necho "segfault-ish" >&2\nexit 2\n');
    writeFileSync(join(fake, 'badinterp'), '#!/nonexistent/interpreter\n');
    for (const f of ['hang', 'crash', 'badinterp']) chmodSync(join(fake, f), 0o755);
    const mk = (type: string, timeoutMs = 20_000) => new CniClient(parseConfigList(join(dir, `${type}.conflist`), JSON.stringify({ cniVersion: '1.0.0', name: `n-${type}`, plugins: [{ type }] })), { binDirs: [fake, CNI_BIN], timeoutMs, run: runner });
    await assert.rejects(mk('nosuchplugin').add(attach(ns)), (e: CniError) => e.code === Code.FAILED_PRECONDITION && /CNI plugin "nosuchplugin" of network "n-nosuchplugin" not found in .*bin-.*, \/usr\/lib\/cni/.test(e.message));
    const t0 = Date.now();
    await assert.rejects(mk('hang', 300).add(attach(ns)), (e: CniError) => e.code === Code.DEADLINE_EXCEEDED && /did not finish within 300 ms and was killed/.test(e.message));
    assert.ok(Date.now() - t0 < 5000, 'the hung plugin was killed at its timeout');
    await assert.rejects(mk('crash').add(attach(ns)), (e: CniError) => e.code === Code.UNKNOWN && /exited with status 2: segfault-ish/.test(e.message));
    await assert.rejects(mk('badinterp').add(attach(ns)), (e: CniError) => e.code === Code.FAILED_PRECONDITION && /CNI plugin badinterp ADD \(network "n-badinterp"\) could not be started: .*(ENOENT|No such file)/.test(e.message));
    await assert.rejects(mk('../bridge').add(attach(ns)), (e: CniError) => e.failure === 'missing-plugin');
  });

  test('the watcher: NetworkReady follows a usable config appearing, going bad and being removed', async () => {
    const confDir = join(dir, `watched-${uniqueName('')}`);
    const seen: boolean[] = [];
    const w = new CniConfigWatcher(confDir, EXEC, (c) => seen.push(c.ready));
    try {
      assert.equal(w.condition().ready, false);
      assert.match(w.condition().message, /no such directory/);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(confDir);
      const file = join(confDir, '10-x.conflist');
      writeFileSync(file, JSON.stringify(net.conflist));
      await until(() => w.condition().ready);
      writeFileSync(file, JSON.stringify({ ...net.conflist, plugins: [{ type: 'notinstalled' }] }));
      await until(() => !w.condition().ready);
      assert.match(w.condition().message, /needs plugin\(s\) notinstalled, not found/);
      writeFileSync(file, JSON.stringify(net.conflist));
      await until(() => w.condition().ready);
      rmSync(file);
      await until(() => !w.condition().ready);
      assert.equal(w.condition().reason, 'NetworkPluginNotReady');
      assert.ok(seen.includes(true) && seen.at(-1) === false);
    } finally {
      w.close();
    }
  });
});

async function until(f: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}
