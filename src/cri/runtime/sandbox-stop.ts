// StopPodSandbox: stops every running container of the sandbox, tears its network
// down (CNI DEL, the namespace), then marks it NOTREADY. The daemon does the same
// at start to a pod whose namespace is gone (stopLostSandbox).
import type { UnaryHandler } from '../handler.js';
import type { StopPodSandboxRequest__Output } from '../../gen/cri/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from '../../gen/cri/runtime/v1/StopPodSandboxResponse.js';
import type { Sandbox } from '../../pods/pod.js';
import type { SandboxPatch, Transaction } from '../../pods/runner.js';
import { stopContainerIn } from './container-stop.js';
import { onSandbox, requireId, type RuntimeDeps } from './deps.js';
import { tearDownNetwork } from './sandbox-network.js';

async function stopContainers(d: RuntimeDeps, tx: Transaction, sandbox: Sandbox): Promise<void> {
  // The kubelet has already given each container its grace period with StopContainer.
  for (const c of [...sandbox.containers]) await stopContainerIn(d, tx, c, 0);
}

export function stopPodSandbox(d: RuntimeDeps): UnaryHandler<StopPodSandboxRequest__Output, StopPodSandboxResponse> {
  return async (req) => {
    const id = requireId(req.pod_sandbox_id, 'StopPodSandbox: pod_sandbox_id');
    await onSandbox(d, 'StopPodSandbox', id, (tx, sandbox) =>
      d.lifecycle.sandboxVerb(tx, 'StopPodSandbox', sandbox, async () => {
        await stopContainers(d, tx, sandbox);
        // A failed DEL fails the verb with the sandbox still READY and its network recorded: the kubelet's retry runs it again.
        return tearDownNetwork(d, sandbox);
      }),
    );
    return {};
  };
}

/**
 * A restored READY pod whose network namespace is gone (the node rebooted, /run/netns was
 * emptied) has no network: it is stopped as StopPodSandbox would (containers exited, DEL with
 * no namespace, NOTREADY), as containerd's pods are NOTREADY after a reboot, so the kubelet
 * runs the pod again in a new sandbox. A DEL that fails here keeps the network in the record,
 * for RemovePodSandbox to run it again; the pod is NOTREADY either way.
 */
export async function stopLostSandbox(d: RuntimeDeps, sandbox: Sandbox): Promise<void> {
  await d.lifecycle.locked(sandbox, (tx) =>
    d.lifecycle.sandboxVerb(tx, 'StopPodSandbox', sandbox, async (): Promise<SandboxPatch> => {
      await stopContainers(d, tx, sandbox);
      return tearDownNetwork(d, sandbox).catch((err: unknown) => {
        d.log.error({ pod: sandbox.id, err }, 'CNI DEL of a pod whose namespace is gone failed; RemovePodSandbox runs it again');
        return {};
      });
    }),
  );
}
