// Pod records (src/pods/records.ts) → CRI messages (src/gen/cri). One direction
// only: the domain never sees generated types, the verbs never build messages
// by hand. Every function takes records, which never change once made, so an
// answer built from one is a consistent snapshot.
import { criContainerState, criSandboxState } from '../pods/pod-state.js';
import type { ContainerRecord, SandboxRecord } from '../pods/records.js';
import type { Container } from '../gen/cri/runtime/v1/Container.js';
import type { ContainerStatus } from '../gen/cri/runtime/v1/ContainerStatus.js';
import type { PodSandbox } from '../gen/cri/runtime/v1/PodSandbox.js';
import type { PodSandboxStatus } from '../gen/cri/runtime/v1/PodSandboxStatus.js';

/** Every selector entry is present with the same value (the CRI's label_selector). */
export function matchesLabels(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>> | null | undefined): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

export function toPodSandbox(s: SandboxRecord): PodSandbox {
  return {
    id: s.id,
    metadata: s.metadata,
    state: criSandboxState(s.state),
    created_at: s.createdAt,
    labels: s.labels,
    annotations: s.annotations,
    runtime_handler: s.runtimeHandler,
  };
}

/**
 * What the kubelet compares in PodSandboxChanged: state READY, the network
 * namespace mode it asked for, and (for a pod not on the host network) an IP.
 * A pod with a network of its own (CNI, src/network) reports its addresses;
 * the others share the node's data plane and report `nodeIp`. The namespace
 * options are echoed as RunPodSandbox gave them.
 */
export function toPodSandboxStatus(s: SandboxRecord, nodeIp: string): PodSandboxStatus {
  const [ip = nodeIp, ...more] = s.network?.ips ?? [];
  return {
    id: s.id,
    metadata: s.metadata,
    state: criSandboxState(s.state),
    created_at: s.createdAt,
    network: { ip, additional_ips: more.map((a) => ({ ip: a })) },
    linux: { namespaces: { options: { network: s.namespaces.network, pid: s.namespaces.pid, ipc: s.namespaces.ipc, target_id: s.namespaces.targetId } } },
    labels: s.labels,
    annotations: s.annotations,
    runtime_handler: s.runtimeHandler,
  };
}

export function toContainer(c: ContainerRecord): Container {
  return {
    id: c.id,
    pod_sandbox_id: c.sandboxId,
    metadata: c.metadata,
    // As containerd: the image spec as CreateContainer gave it, and image_ref the image ID,
    // which the kubelet's image garbage collector matches against ListImages' IDs.
    image: { image: c.imageRequested, user_specified_image: c.userSpecifiedImage },
    image_ref: c.imageId,
    state: criContainerState(c.state),
    created_at: c.createdAt,
    labels: c.labels,
    annotations: c.annotations,
    image_id: c.imageId,
  };
}

export function toContainerStatus(c: ContainerRecord): ContainerStatus {
  return {
    id: c.id,
    metadata: c.metadata,
    state: criContainerState(c.state),
    created_at: c.createdAt,
    started_at: c.startedAt,
    finished_at: c.finishedAt,
    exit_code: c.exitCode,
    image: { image: c.imageName, user_specified_image: c.userSpecifiedImage || c.imageRequested },
    image_ref: c.imageRef,
    reason: c.reason,
    message: c.message,
    labels: c.labels,
    annotations: c.annotations,
    mounts: c.mounts.map((m) => ({
      container_path: m.containerPath,
      host_path: m.hostPath,
      readonly: m.readonly,
      selinux_relabel: m.selinuxRelabel,
      propagation: m.propagation as 'PROPAGATION_PRIVATE',
    })),
    log_path: c.logPath,
    resources: c.resources ? { linux: c.resources } : null,
    image_id: c.imageId,
  };
}
