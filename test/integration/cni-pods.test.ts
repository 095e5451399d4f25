// Pod sandboxes with networks of their own through Debian's real CNI plugins,
// over the real CRI socket: addresses, NetworkReady, teardown, failures that
// leave nothing allocated, hostNetwork, host ports, and a daemon restart.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { criClient, criError, podConfig, type CriClient, type Msg } from '../helpers/cri-client.js';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/wait.js';
import { CNI_BIN, cniUnavailable, makeBridgeNetwork, run, type TestNetwork } from '../helpers/netns.js';

const skip = cniUnavailable();
const COMPONENT = 'example.com:net.Test@1.0.0';


describe('pods with CNI networks', { skip }, () => {
  let dir: string;
  let net: TestNetwork;
  let fakeBin: string;
  let stateDir: string;
  let daemon: TestDaemon;
  let cri: CriClient;
  const toml = () => `[cni]\nenabled = true\nconf_dir = "${net.confDir}"\nbin_dir = "${CNI_BIN}"\nextra_bin_dirs = ["${fakeBin}"]\nplugin_timeout_ms = 1500\n`;
  const start = async () => {
    daemon = await startDaemon({ stateDir, configToml: toml(), logLevel: 'info' });
    cri = criClient(daemon.criSocket);
  };
  const conflistFile = () => join(net.confDir, '10-test.conflist');
  const writeConflist = (plugins: unknown[]) => writeFileSync(conflistFile(), JSON.stringify({ ...net.conflist, plugins }));
  /** Waits until the daemon has loaded a list with these plugin types (Status verbose `cniconfig`). */
  const loaded = (types: string[]) => until(`CNI list ${types.join(', ')} loaded`, async () => JSON.stringify(JSON.parse((await cri.runtime.Status!({ verbose: true })).info.cniconfig).network?.plugins) === JSON.stringify(types));
  const networkReady = async () => ((await cri.runtime.Status!({})).status.conditions as Msg[]).find((c) => c.type === 'NetworkReady');
  const status = async (pod: string) => cri.runtime.PodSandboxStatus!({ pod_sandbox_id: pod, verbose: true });
  const keyOf = async (pod: string) => JSON.parse((await status(pod)).info.info).key as string;
  const leased = () => net.leased();
  /** The namespace a failed RunPodSandbox names in its error is gone (other tests make workd-* namespaces at the same time). */
  const assertUndone = (details: string) => {
    const m = /CNI_CONTAINERID ([0-9a-f]{64}) failed: .*; undone: DEL (?:run|failed too \(.*\)), (\/run\/netns\/workd-\1) removed$/.exec(details);
    assert.ok(m, `the error says what was undone: ${details}`);
    assert.ok(!existsSync(m[2]!), `${m[2]} is gone`);
  };
  const run1 = async (name: string, extra: Msg = {}) => (await cri.runtime.RunPodSandbox!({ config: { ...podConfig(COMPONENT, { name }), ...extra } })).pod_sandbox_id as string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'workd-cnipods-'));
    stateDir = join(dir, 'state');
    fakeBin = join(dir, 'bin');
    mkdirSync(fakeBin);
    // A fault a real plugin cannot be made to produce on demand: one that never answers.
    writeFileSync(join(fakeBin, 'hang'), '#!/bin/sh\nexec sleep 600\n');
    chmodSync(join(fakeBin, 'hang'), 0o755);
    net = await makeBridgeNetwork(dir, { rangeStart: 20, rangeEnd: 21, file: 'absent.tmp' });
    await start();
  });
  after(async () => {
    cri?.close();
    await daemon?.stop();
    await net.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test('NetworkReady follows the config dir; without a usable config RunPodSandbox is refused, naming why', async () => {
    const c = await networkReady();
    assert.equal(c.status, false);
    assert.equal(c.reason, 'NetworkPluginNotReady');
    assert.match(c.message, /no \.conf, \.conflist or \.json file in /);
    const err = await criError(run1('early'));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /no usable CNI network configuration/);
    writeConflist(net.conflist.plugins as unknown[]);
    await until('NetworkReady true', async () => (await networkReady()).status === true);
  });

  test('each pod gets its own namespace and address; StopPodSandbox releases both; Stop and Remove repeat harmlessly', async () => {
    const a = await run1('a');
    const b = await run1('b');
    const [sa, sb] = [(await status(a)).status, (await status(b)).status];
    assert.notEqual(sa.network.ip, sb.network.ip);
    for (const s of [sa, sb]) assert.match(s.network.ip, new RegExp(`^${net.subnet.replace(/\./g, '\\.')}\\.(20|21)$`));
    assert.equal(sa.linux.namespaces.options.network, 'POD');
    const key = await keyOf(a);
    assert.ok(existsSync(`/run/netns/workd-${key}`));
    const { stdout } = await run('ip', ['-n', `workd-${key}`, '-4', 'addr', 'show', 'eth0']);
    assert.match(stdout, new RegExp(`inet ${sa.network.ip.replace(/\./g, '\\.')}/24`));
    assert.deepEqual(leased(), [sa.network.ip, sb.network.ip].sort());

    // The range has two addresses: a third pod fails with the plugin's own error, and leaves nothing behind.
    const err = await criError(run1('c'));
    assert.equal(err.code, grpc.status.UNKNOWN);
    assert.match(err.details, /CNI plugin bridge ADD \(network "workd-test-wdt[0-9a-f]+"\) failed: .*no IP addresses available in range set/);
    assertUndone(err.details);
    assert.deepEqual(leased(), [sa.network.ip, sb.network.ip].sort());
    assert.equal((await cri.runtime.ListPodSandbox!({})).items.length, 2, 'the failed pod is not listed');

    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: a });
    assert.ok(!existsSync(`/run/netns/workd-${key}`), 'the namespace is removed');
    assert.deepEqual(leased(), [sb.network.ip]);
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: a });
    // The address is handed out again.
    const c = await run1('c');
    assert.equal((await status(c)).status.network.ip, sa.network.ip);
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: a });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: a });
    // Remove without Stop tears the network down too.
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: b });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: c });
    assert.deepEqual(leased(), []);
  });

  test('hostNetwork pods skip CNI and report the node\'s address', async () => {
    const p = await run1('host', { linux: { security_context: { namespace_options: { network: 'NODE' } } } });
    const s = (await status(p)).status;
    assert.ok(!s.network.ip.startsWith(`${net.subnet}.`));
    assert.equal(s.linux.namespaces.options.network, 'NODE');
    assert.deepEqual(leased(), []);
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: p });
  });

  test('host ports: refused without a portMappings plugin; with portmap they reach the plugin and its rules go with DEL', async () => {
    const mapping = { port_mappings: [{ protocol: 'TCP', container_port: 443, host_port: 18443 + Math.floor(Math.random() * 1000) }] };
    const err = await criError(run1('hp', mapping));
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.match(err.details, /asks for host ports \(\d+\/tcp\) but no plugin of CNI network .* has the portMappings capability; add the portmap plugin/);
    assert.deepEqual(leased(), []);
    writeConflist([...(net.conflist.plugins as unknown[]).slice(0, 1), { type: 'portmap', capabilities: { portMappings: true }, snat: false }, { type: 'loopback' }]);
    await loaded(['bridge', 'portmap', 'loopback']);
    const p = await run1('hp', mapping);
    const key = await keyOf(p);
    const { stdout } = await run('iptables-save', ['-t', 'nat']);
    assert.match(stdout, new RegExp(`--dport ${mapping.port_mappings[0]!.host_port}`), 'portmap wrote the DNAT rule');
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: p });
    const after = await run('iptables-save', ['-t', 'nat']);
    assert.ok(!after.stdout.includes(key.slice(0, 12)) && !new RegExp(`--dport ${mapping.port_mappings[0]!.host_port}\\b`).test(after.stdout), 'DEL removed the rule');
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: p });
    writeConflist(net.conflist.plugins as unknown[]);
    await loaded(['bridge', 'loopback']);
  });

  test('a hung plugin: DEADLINE_EXCEEDED after the plugin timeout, and the address the bridge took before it is released', async () => {
    writeConflist([...(net.conflist.plugins as unknown[]), { type: 'hang' }]);
    await loaded(['bridge', 'loopback', 'hang']);
    const err = await criError(run1('hung'));
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.match(err.details, /CNI plugin hang ADD \(network ".*"\) did not finish within 1500 ms and was killed/);
    assert.deepEqual(leased(), []);
    assertUndone(err.details);
    // A plugin the config names but no directory holds: not ready, and pods are refused saying which.
    writeConflist([...(net.conflist.plugins as unknown[]), { type: 'nosuchplugin' }]);
    await until('NetworkReady false', async () => (await networkReady()).status === false);
    assert.match((await networkReady()).message, /needs plugin\(s\) nosuchplugin, not found in /);
    const missing = await criError(run1('missing'));
    assert.equal(missing.code, grpc.status.FAILED_PRECONDITION);
    assert.match(missing.details, /nosuchplugin/);
    writeConflist(net.conflist.plugins as unknown[]);
    await loaded(['bridge', 'loopback']);
    assert.equal((await networkReady()).status, true);
  });

  test('a restart keeps the pod\'s address: CHECK passes on the cached result, and DEL after it releases it', async () => {
    const p = await run1('survivor');
    const ip = (await status(p)).status.network.ip;
    const key = await keyOf(p);
    cri.close();
    daemon.process.kill('SIGKILL');
    await daemon.stop();
    await start();
    const log = await daemon.waitForLog((r) => r.msg === 'checked the networks of restored pods', 10_000);
    assert.equal(log.checked, 1);
    assert.equal(log.failed, 0);
    assert.equal((await status(p)).status.network.ip, ip);
    assert.ok(existsSync(`/run/netns/workd-${key}`));
    assert.deepEqual(leased(), [ip]);
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id: p });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: p });
    assert.deepEqual(leased(), []);
  });
});

describe('CNI by default as root', { skip }, () => {
  test('with no `enabled` in [cni]: on, NetworkReady false (NetworkPluginNotReady) and pods refused until a usable list appears, then pods get addresses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'workd-cnidefault-'));
    // Only the directory is the test's own (not /etc/cni/net.d); `enabled` and the plugin dirs are the embedded defaults.
    const confDir = join(dir, 'net.d');
    mkdirSync(confDir);
    const daemon = await startDaemon({ configToml: `[cni]\nconf_dir = "${confDir}"\n`, logLevel: 'info' });
    const cri = criClient(daemon.criSocket);
    let net: TestNetwork | undefined;
    try {
      const ready = async () => ((await cri.runtime.Status!({})).status.conditions as Msg[]).find((c) => c.type === 'NetworkReady');
      // The banner says so before any call: a root user without CNI configuration learns why pods will be refused.
      assert.ok(daemon.stdout().includes(`pod network  CNI, NOT READY: pods are refused until ${confDir} holds a usable network list`), daemon.stdout());
      const c = await ready();
      assert.equal(c.status, false);
      assert.equal(c.reason, 'NetworkPluginNotReady');
      const err = await criError(cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT, { name: 'default-off' }) }));
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      assert.match(err.details, /no usable CNI network configuration/);
      net = await makeBridgeNetwork(dir);
      await until('NetworkReady true', async () => (await ready()).status === true);
      const pod = (await cri.runtime.RunPodSandbox!({ config: podConfig(COMPONENT, { name: 'default-on' }) })).pod_sandbox_id as string;
      assert.match((await cri.runtime.PodSandboxStatus!({ pod_sandbox_id: pod })).status.network.ip, new RegExp(`^${net.subnet.replace(/\./g, '\\.')}\\.`));
      await cri.runtime.RemovePodSandbox!({ pod_sandbox_id: pod });
      assert.deepEqual(net.leased(), []);
    } finally {
      cri.close();
      await daemon.stop();
      await net?.remove();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
