// Pod records (src/pods) → CRI messages (src/gen/cri). One direction only: the
// domain never sees generated types, the verbs never build messages by hand.
import type { Pod, UnixNanos } from '../pods/pod.js';
import { containerStateOf, hasContainer, sandboxStateOf } from '../pods/pod-state.js';
import type { Container } from '../gen/cri/runtime/v1/Container.js';
import type { ContainerStatus } from '../gen/cri/runtime/v1/ContainerStatus.js';
import type { PodSandbox } from '../gen/cri/runtime/v1/PodSandbox.js';
import type { PodSandboxStatus } from '../gen/cri/runtime/v1/PodSandboxStatus.js';

/** int64 nanoseconds as proto-loader carries them (decimal strings). */
export function nanos(t: UnixNanos | undefined): string {
  return t === undefined ? '0' : t.toString();
}

/** Every selector entry is present with the same value (the CRI's label_selector). */
export function matchesLabels(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>> | null | undefined): boolean {
  if (!selector) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

export function toPodSandbox(pod: Pod): PodSandbox {
  return {
    id: pod.id,
    metadata: pod.spec.metadata,
    state: sandboxStateOf(pod.state),
    created_at: nanos(pod.spec.createdAt),
    labels: pod.spec.labels,
    annotations: pod.spec.annotations,
    runtime_handler: pod.spec.runtimeHandler,
  };
}

export function toPodSandboxStatus(pod: Pod, nodeAddress: string): PodSandboxStatus {
  return {
    id: pod.id,
    metadata: pod.spec.metadata,
    state: sandboxStateOf(pod.state),
    created_at: nanos(pod.spec.createdAt),
    // Component pods share the node's network: their address is the node's.
    network: { ip: nodeAddress, additional_ips: [] },
    linux: { namespaces: { options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    labels: pod.spec.labels,
    annotations: pod.spec.annotations,
    runtime_handler: pod.spec.runtimeHandler,
  };
}

/** The container of a pod that has one (hasContainer(pod.state)). */
export function toContainer(pod: Pod): Container {
  const status = pod.status;
  const c = status.container!;
  return {
    id: pod.id,
    pod_sandbox_id: pod.id,
    metadata: c.metadata,
    // As containerd: the image spec as CreateContainer gave it, and image_ref the image ID,
    // which the kubelet's image garbage collector matches against ListImages' IDs.
    image: { image: c.imageRequested, user_specified_image: c.userSpecifiedImage },
    image_ref: c.imageId,
    state: containerStateOf(status.state),
    created_at: nanos(c.createdAt),
    labels: c.labels,
    annotations: c.annotations,
    image_id: c.imageId,
  };
}

export function toContainerStatus(pod: Pod): ContainerStatus | undefined {
  const status = pod.status;
  const c = status.container;
  if (!c || !hasContainer(status.state)) return undefined;
  return {
    id: pod.id,
    metadata: c.metadata,
    state: containerStateOf(status.state),
    created_at: nanos(c.createdAt),
    started_at: nanos(status.startedAt),
    finished_at: nanos(status.finishedAt),
    exit_code: status.exitCode,
    image: { image: c.imageName, user_specified_image: c.userSpecifiedImage || c.imageRequested },
    image_ref: c.imageRef,
    reason: status.reason,
    message: status.message,
    labels: c.labels,
    annotations: c.annotations,
    mounts: c.mounts.map((m) => ({
      container_path: m.containerPath,
      host_path: m.hostPath,
      readonly: m.readonly,
      selinux_relabel: m.selinuxRelabel,
      propagation: m.propagation as 'PROPAGATION_PRIVATE',
    })),
    log_path: c.logFile ?? '',
    resources: c.resources ? { linux: c.resources } : null,
    image_id: c.imageId,
  };
}
