// At start, before the CRI socket opens: pod networks a crash left half set up
// (no record holds their key) are undone; every restored READY pod with a
// network of its own is CHECKed against what its ADD made (the cached result
// in its record) and served again from fresh sockets inside its namespace; a
// pod whose namespace is gone (a reboot) is handed to `lost`, which stops it.
import type { Logger } from '../observability/log.js';
import type { Sandbox } from '../pods/pod.js';
import type { PodPool } from '../pods/pod-pool.js';
import { SandboxState } from '../pods/pod-state.js';
import type { LeakReport, PodNetworking } from './pod-network.js';

export interface NetworkRestoreReport {
  readonly pods: number;
  readonly checked: number;
  /** Pods whose CHECK failed (logged with the plugin's error; the kubelet's probes and StopPodSandbox see the rest). */
  readonly failed: number;
  /** Pods whose namespace was gone: stopped (NOTREADY). */
  readonly lost: number;
  /** Half-set-up networks of pods never recorded. */
  readonly unrecorded: LeakReport;
  readonly ms: number;
}

export async function restorePodNetworks(pool: PodPool, network: PodNetworking, log: Logger, lost: (sandbox: Sandbox) => Promise<void>): Promise<NetworkRestoreReport> {
  const t0 = performance.now();
  const unrecorded = await network.collectLeaked((key) => pool.sandboxByKeyOf(key) !== undefined);
  let pods = 0;
  let checked = 0;
  let failed = 0;
  let gone = 0;
  for (const sandbox of pool.sandboxes()) {
    const net = sandbox.record.network;
    if (!net || sandbox.state !== SandboxState.Ready) continue;
    pods++;
    if (network.namespaceGone(net)) {
      gone++;
      log.warn({ pod: sandbox.id, netns: net.netns }, 'restore: the pod\'s network namespace is gone (the node rebooted?); the pod is stopped (NOTREADY) for the kubelet to run it again');
      await lost(sandbox).catch((err: unknown) => log.error({ pod: sandbox.id, err }, 'restore: could not stop a pod whose namespace is gone'));
      continue;
    }
    try {
      if (await network.check(sandbox.record.key, net)) checked++;
    } catch (err) {
      failed++;
      log.error({ pod: sandbox.id, netns: net.netns, err }, 'restore: CNI CHECK of the pod\'s network failed');
      continue;
    }
    await network.serve(sandbox).catch((err: unknown) => log.error({ pod: sandbox.id, err }, 'restore: the data plane cannot serve the pod\'s address'));
  }
  return { pods, checked, failed, lost: gone, unrecorded, ms: Math.round(performance.now() - t0) };
}
