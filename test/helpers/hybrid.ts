// A hybrid node for the downstream tests: a loopback registry with busybox,
// pause and a component image (under registry.k8s.io names, reachable only
// through the mirror), a containerd of its own, and workd in front of it.
//
//   describe('…', { skip: containerdUnavailable() }, () => {
//     const h = useHybridNode();          // registers before/after hooks
//     test('…', async () => { await h.cri.runtime.RunPodSandbox!({ config: linuxPod(h.work) }); });
//   });
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pushLayout } from '../../src/images/push.js';
import { BUSYBOX_IMAGE, startContainerd, startImageRegistry, type ImageRegistry, type TestContainerd } from './containerd.js';
import { criClient, type CriClient, type Msg } from './cri-client.js';
import { startDaemon, type TestDaemon } from './daemon.js';
import { guest } from './guests.js';
import { buildTestImage, type TestImage } from './images.js';

export const COMPONENT = 'example.com:kitchen.Sink@1.0.0';
/** A component image under a registry.k8s.io name: reachable only through the mirror. */
export const COMPONENT_IMAGE = 'registry.k8s.io/workd-test/kitchen-sink:1.0.0';

let seq = 0;
/** An ordinary pod as the kubelet sends it for a DaemonSet: no workd labels, the default handler. */
export function linuxPod(logDir: string, labels: Record<string, string> = {}): Msg {
  const name = `bb-${process.pid}-${seq++}`;
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'kube-system', attempt: 0 },
    labels: { app: 'busybox', ...labels },
    annotations: {},
    log_directory: logDir,
    linux: { security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  };
}

/** A busybox container running `script` under sh. */
export function busybox(script: string, logPath: string): Msg {
  return { metadata: { name: 'sh', attempt: 0 }, image: { image: BUSYBOX_IMAGE }, command: ['sh', '-c', script], log_path: logPath, labels: { tier: 'linux' }, linux: {} };
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface HybridNode {
  reg: ImageRegistry;
  ctrd: TestContainerd;
  /** workd, with `[downstream]` pointing at ctrd (replace it with restartWorkd()). */
  d: TestDaemon;
  cri: CriClient;
  image: TestImage;
  /** A temp dir for logs and the like (removed after). */
  work: string;
  /** workd's state dir, kept across restartWorkd(). */
  stateDir: string;
  /** workd's config: the downstream and the registry.k8s.io mirror. */
  config(): string;
  /** Kills workd with `signal` and starts it again on the same state dir. */
  restartWorkd(signal: NodeJS.Signals): Promise<void>;
}

export function useHybridNode(): HybridNode {
  const h = {} as HybridNode;
  h.config = () => `[downstream]\nendpoint = "${h.ctrd.endpoint}"\n[images.mirrors."registry.k8s.io"]\nendpoints = ["${h.reg.endpoint}"]\n`;
  h.restartWorkd = async (signal) => {
    h.cri.close();
    await h.d.stop(signal);
    h.d = await startDaemon({ configToml: h.config(), stateDir: h.stateDir });
    h.cri = criClient(h.d.criSocket);
  };
  before(async () => {
    h.work = mkdtempSync(join(tmpdir(), 'workd-hybrid-'));
    h.stateDir = join(h.work, 'state');
    h.reg = await startImageRegistry();
    h.image = await buildTestImage({ component: COMPONENT, wasm: await guest('kitchen') });
    await pushLayout({ dir: h.image.dir, reference: `${h.reg.registry.host}/workd-test/kitchen-sink:1.0.0` });
    h.ctrd = await startContainerd({ registry: h.reg });
    h.d = await startDaemon({ configToml: h.config(), stateDir: h.stateDir });
    h.cri = criClient(h.d.criSocket);
  });
  after(async () => {
    h.cri?.close();
    await h.d?.stop();
    const c = h.ctrd && criClient(h.ctrd.socket);
    await h.ctrd?.stop(async () => {
      for (const p of (await c.runtime.ListPodSandbox!({})).items) {
        await c.runtime.StopPodSandbox!({ pod_sandbox_id: p.id });
        await c.runtime.RemovePodSandbox!({ pod_sandbox_id: p.id });
      }
    });
    c?.close();
    await h.reg?.stop();
    await h.image?.cleanup();
    if (h.work) rmSync(h.work, { recursive: true, force: true });
  });
  return h;
}
