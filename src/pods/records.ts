// The pod pool's durable facts as plain data: every field is a string, number,
// boolean, array or plain object, so a record round-trips through JSON (or a
// database row) unchanged. A record is never mutated: each transition replaces
// it as a whole, so a reader (List, Status, the state store) never sees half an
// update and can cache by identity. What is not here (the running guest, its
// data-plane route) is rebuilt from the records.
import type { ContainerState, SandboxState } from './pod-state.js';

/** Nanoseconds since the Unix epoch as a decimal string (the CRI's int64 as proto-loader carries it). */
export type UnixNanos = string;

export interface PodMetadata {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly attempt: number;
}

/** The CRI NamespaceMode names (POD, CONTAINER, NODE, TARGET). */
export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface NamespaceOptions {
  readonly network: NamespaceMode;
  readonly pid: NamespaceMode;
  readonly ipc: NamespaceMode;
  readonly targetId: string;
}

export interface SandboxRecord {
  /** `domain:service@version#N`. */
  readonly id: string;
  /** 64 lowercase hex characters, for places that cannot take `id` (CNI_CONTAINERID, netns names). */
  readonly key: string;
  /** `domain:service@version`. */
  readonly component: string;
  /** The N of the ID, from the component's counter. */
  readonly n: number;
  readonly state: SandboxState;
  readonly metadata: PodMetadata;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Directory the kubelet wants container logs under ('' for none). */
  readonly logDirectory: string;
  readonly hostname: string;
  readonly runtimeHandler: string;
  /** As RunPodSandbox asked (echoed by PodSandboxStatus, which the kubelet compares). */
  readonly namespaces: NamespaceOptions;
  /** linux.cgroup_parent as given (reported, never used: components have no cgroup of their own). */
  readonly cgroupParent: string;
  /** The pod-level resources (RunPodSandbox linux.resources, UpdatePodSandboxResources), as given. */
  readonly resources: unknown;
  readonly createdAt: UnixNanos;
  /** The pod's own network (CNI on, not hostNetwork), from RunPodSandbox's ADD until StopPodSandbox's DEL. */
  readonly network?: SandboxNetwork;
}

/** A pod's CNI attachment: what DEL and CHECK need again, after a restart too (src/network/pod-network.ts). */
export interface SandboxNetwork {
  /** The network namespace's path (/run/netns/workd-<key>). */
  readonly netns: string;
  readonly ifname: string;
  /** The configuration list ADD ran (its bytes): DEL and CHECK run the same one even if the file changed since. */
  readonly conflist: string;
  readonly conflistFile: string;
  /** The pod's addresses, the first one PodSandboxStatus' ip. */
  readonly ips: readonly string[];
  /** ADD's result, the prevResult of CHECK and DEL. */
  readonly result: unknown;
  /** CNI_ARGS as ADD had them. */
  readonly args: Readonly<Record<string, string>>;
  /** runtimeConfig values as ADD had them (portMappings), given to DEL again. */
  readonly capabilities: Readonly<Record<string, unknown>>;
}

export interface MountRecord {
  readonly containerPath: string;
  readonly hostPath: string;
  readonly readonly: boolean;
  readonly selinuxRelabel: boolean;
  readonly propagation: string;
}

export interface ContainerRecord {
  /** 64 lowercase hex characters, random, never reused. */
  readonly id: string;
  readonly sandboxId: string;
  readonly state: ContainerState;
  readonly metadata: { readonly name: string; readonly attempt: number };
  /** CreateContainer's image.image as given (the kubelet passes the image ID PullImage answered). */
  readonly imageRequested: string;
  /** CreateContainer's image.user_specified_image: the pod spec's reference ('' from clients that do not set it). */
  readonly userSpecifiedImage: string;
  /** Image ID (config digest) in the store. */
  readonly imageId: string;
  /** A repo tag of the image when it has one, else its ID (ContainerStatus.image). */
  readonly imageName: string;
  /** A repo digest of the image when it has one, else its ID (ContainerStatus.image_ref). */
  readonly imageRef: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
  readonly args: readonly string[];
  /** Absolute log file path, or '' when the kubelet asked for no log. */
  readonly logPath: string;
  readonly mounts: readonly MountRecord[];
  /** The CRI LinuxContainerResources as last given (CreateContainer, UpdateContainerResources). */
  readonly resources: unknown;
  /** Guest memory cap from the resources (memory_limit_in_bytes > 0), else the config's default applies. */
  readonly memoryLimitBytes?: number;
  /** Per-call CPU limit in ms from the resources (cpu_quota / cpu_period), else the config's default applies. */
  readonly cpuMsPerCall?: number;
  readonly createdAt: UnixNanos;
  /** '0' until started. */
  readonly startedAt: UnixNanos;
  /** '0' until exited. */
  readonly finishedAt: UnixNanos;
  readonly exitCode: number;
  readonly reason: string;
  readonly message: string;
}

/**
 * What one verb changed, handed to the commit hook before the verb answers.
 * `sandbox`/`container` carry the record as it is now (the last write wins);
 * `counter` is the next N of a component (never lowered, so IDs are never reused).
 */
export type Change =
  | { readonly kind: 'sandbox'; readonly record: SandboxRecord }
  | { readonly kind: 'sandbox-removed'; readonly id: string }
  | { readonly kind: 'container'; readonly record: ContainerRecord }
  | { readonly kind: 'container-removed'; readonly id: string; readonly sandboxId: string }
  | { readonly kind: 'counter'; readonly component: string; readonly next: number };

/**
 * Makes a verb's changes durable. The runner awaits it once per verb, after the
 * last transition and before the answer is sent; a rejection fails the verb.
 */
export type Commit = (changes: readonly Change[]) => Promise<void>;
