// After a restart: every restored READY pod with a network of its own is
// CHECKed against what its ADD made (the cached result in its record), and the
// data plane serves it again from fresh sockets inside its namespace.
import type { Logger } from '../observability/log.js';
import type { PodPool } from '../pods/pod-pool.js';
import { SandboxState } from '../pods/pod-state.js';
import type { PodNetworking } from './pod-network.js';

export interface NetworkRestoreReport {
  readonly pods: number;
  readonly checked: number;
  /** Pods whose CHECK failed (logged with the plugin's error; the kubelet's probes and StopPodSandbox see the rest). */
  readonly failed: number;
  readonly ms: number;
}

export async function restorePodNetworks(pool: PodPool, network: PodNetworking, log: Logger): Promise<NetworkRestoreReport> {
  const t0 = performance.now();
  let pods = 0;
  let checked = 0;
  let failed = 0;
  for (const sandbox of pool.sandboxes()) {
    const net = sandbox.record.network;
    if (!net || sandbox.state !== SandboxState.Ready) continue;
    pods++;
    try {
      if (await network.check(sandbox.record.key, net)) checked++;
    } catch (err) {
      failed++;
      log.error({ pod: sandbox.id, netns: net.netns, err }, 'restore: CNI CHECK of the pod\'s network failed');
      continue;
    }
    await network.serve(sandbox).catch((err: unknown) => log.error({ pod: sandbox.id, err }, 'restore: the data plane cannot serve the pod\'s address'));
  }
  return { pods, checked, failed, ms: Math.round(performance.now() - t0) };
}
