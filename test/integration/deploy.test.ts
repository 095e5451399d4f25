// deploy/ as an operator uses it: the manifests parse, a component pod's labels
// and RuntimeClass handler are accepted by RunPodSandbox as they stand, the
// config file loads, and the systemd unit passes `systemd-analyze verify`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfigFile } from '../../src/config.js';
import { BUILTIN_COMMANDS } from '../../src/streaming/commands.js';
import { criClient, type CriClient } from '../helpers/cri-client.js';
import { WORKD_BIN, startDaemon, type TestDaemon } from '../helpers/daemon.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

function manifests(): Map<string, Doc[]> {
  const out = new Map<string, Doc[]>();
  for (const f of readdirSync(DEPLOY).filter((n) => n.endsWith('.yaml'))) {
    const docs = parseAllDocuments(readFileSync(join(DEPLOY, f), 'utf8'));
    for (const d of docs) assert.deepEqual(d.errors, [], `${f} parses`);
    out.set(f, docs.map((d) => d.toJS()));
  }
  return out;
}

const find = (kind: string): Doc => [...manifests().values()].flat().find((d: Doc) => d.kind === kind);

describe('deploy/', () => {
  let d: TestDaemon;
  let cri: CriClient;
  before(async () => {
    d = await startDaemon();
    cri = criClient(d.criSocket);
  });
  after(async () => {
    cri.close();
    await d.stop();
  });

  it('has manifests that parse, each with apiVersion and kind', () => {
    const all = manifests();
    assert.ok(all.size >= 4);
    for (const [file, docs] of all) for (const doc of docs) assert.ok(doc.apiVersion && doc.kind, `${file}: ${JSON.stringify(doc).slice(0, 80)}`);
    assert.equal(find('RuntimeClass').handler, 'workd');
    assert.equal(find('KubeletConfiguration').containerRuntimeEndpoint, 'unix:///run/workd/workd.sock');
  });

  it("runs the Deployment's pod template through RunPodSandbox as it stands, with the RuntimeClass handler", async () => {
    const dep = find('Deployment');
    const rc = find('RuntimeClass');
    assert.equal(dep.spec.template.spec.runtimeClassName, rc.metadata.name);
    const labels = dep.spec.template.metadata.labels as Record<string, string>;
    // What the kubelet adds to a pod's labels before RunPodSandbox.
    const config = {
      metadata: { name: 'greeter-7c9d-abcde', uid: 'b1946ac9-2d7e-4a3c-9d1e-0f5c3a2b1c00', namespace: dep.metadata.namespace, attempt: 0 },
      labels: { ...labels, 'io.kubernetes.pod.name': 'greeter-7c9d-abcde', 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': 'b1946ac9' },
      annotations: {},
      log_directory: '',
    };
    const { pod_sandbox_id } = await cri.runtime.RunPodSandbox!({ config, runtime_handler: rc.handler });
    const st = await cri.runtime.PodSandboxStatus!({ pod_sandbox_id });
    assert.equal(st.status.state, 'SANDBOX_READY');
    assert.equal(st.status.labels['workd.dev/service'], 'demo.Greeter');
    await cri.runtime.StopPodSandbox!({ pod_sandbox_id });
    await cri.runtime.RemovePodSandbox!({ pod_sandbox_id });
  });

  it("probes with commands workd's exec answers", () => {
    const known = BUILTIN_COMMANDS.map((c) => c.usage.split(' ')[0]);
    const container = find('Deployment').spec.template.spec.containers[0];
    for (const probe of [container.readinessProbe, container.livenessProbe]) assert.ok(known.includes(probe.exec.command[0]));
  });

  it('has a config.toml that workd loads (unknown keys would be refused)', () => {
    const c = loadConfigFile(join(DEPLOY, 'config.toml'));
    assert.equal(c.cri.socket, '/run/workd/workd.sock');
    assert.equal(c.dataplane.listen, '[::]:443');
    assert.equal(c.metrics.listen, '127.0.0.1:9464');
  });

  it('has a systemd unit that passes systemd-analyze verify, warning-free', () => {
    // A root of its own: the unit's ExecStart and config paths exist there, and nothing is installed on this machine.
    const root = mkdtempSync(join(tmpdir(), 'workd-unit-'));
    try {
      mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
      mkdirSync(join(root, 'etc/workd'), { recursive: true });
      mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
      mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
      copyFileSync(WORKD_BIN, join(root, 'usr/local/bin/workd'));
      chmodSync(join(root, 'usr/local/bin/workd'), 0o755);
      copyFileSync(join(DEPLOY, 'config.toml'), join(root, 'etc/workd/config.toml'));
      copyFileSync(join(DEPLOY, 'workd.service'), join(root, 'etc/systemd/system/workd.service'));
      cpSync('/usr/lib/systemd/system', join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '--man=no', 'workd.service'], { encoding: 'utf8' });
      assert.equal(r.error, undefined, 'systemd-analyze runs (Debian package systemd)');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim(), '', 'no warnings');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
