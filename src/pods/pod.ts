// One component pod and its (at most one) container: fixed metadata given at
// RunPodSandbox / CreateContainer, a status snapshot replaced as a whole on every
// transition, and a lock that serialises the CRI verbs acting on this pod only.
import { internal } from '../errors.js';
import type { ContainerRuntime } from '../wasm/api.js';
import type { ComponentName } from './names.js';
import { PodState, canMove } from './pod-state.js';
import type { RoutableContainer } from './routing.js';

/** Nanoseconds since the Unix epoch, as the CRI's int64 timestamps. */
export type UnixNanos = bigint;

const wallAtStart = BigInt(Date.now()) * 1_000_000n;
const hrAtStart = process.hrtime.bigint();
/** Wall-clock nanoseconds with monotonic resolution (Date.now() alone has milliseconds). */
export function nowNanos(): UnixNanos {
  return wallAtStart + (process.hrtime.bigint() - hrAtStart);
}

export interface PodMetadata {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly attempt: number;
}

/** What RunPodSandbox gave; never changes. */
export interface PodSpec {
  readonly metadata: PodMetadata;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** Directory the kubelet wants container logs under ('' for none). */
  readonly logDirectory: string;
  readonly hostname: string;
  readonly runtimeHandler: string;
  readonly createdAt: UnixNanos;
}

export interface MountSpec {
  readonly containerPath: string;
  readonly hostPath: string;
  readonly readonly: boolean;
  readonly selinuxRelabel: boolean;
  readonly propagation: string;
}

/** What CreateContainer gave, resolved against the image store; fixed until RemoveContainer. */
export interface ContainerSpec {
  readonly metadata: { readonly name: string; readonly attempt: number };
  /** CreateContainer's image.image as given (the kubelet passes the image ID PullImage answered). */
  readonly imageRequested: string;
  /** CreateContainer's image.user_specified_image: the pod spec's reference ('' from clients that do not set it). */
  readonly userSpecifiedImage: string;
  /** Image ID (config digest) in the store. */
  readonly imageId: string;
  /** A repo tag of the image when it has one, else its ID (what ContainerStatus.image reports). */
  readonly imageName: string;
  /** A repo digest of the image when it has one, else its ID (ContainerStatus.image_ref). */
  readonly imageRef: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly env: Readonly<Record<string, string>>;
  readonly args: readonly string[];
  /** Absolute log file path, or undefined when the kubelet asked for no log. */
  readonly logFile?: string;
  readonly mounts: readonly MountSpec[];
  /** memory_limit_in_bytes from the CRI's LinuxContainerResources, when set (> 0). */
  readonly memoryLimitBytes?: number;
  /** The CRI resources as given, echoed back by ContainerStatus. */
  readonly resources?: unknown;
  readonly createdAt: UnixNanos;
}

/** Everything about a pod that changes; replaced as a whole, so readers never see half an update. */
export interface PodStatus {
  readonly state: PodState;
  readonly container?: ContainerSpec;
  readonly startedAt?: UnixNanos;
  readonly finishedAt?: UnixNanos;
  readonly exitCode: number;
  readonly reason: string;
  readonly message: string;
}

/** Serialises async work: each run starts after the previous one settles. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export class Pod {
  readonly lock = new Mutex();
  private current: PodStatus = { state: PodState.Ready, exitCode: 0, reason: '', message: '' };
  /** Set while RUNNING and STOPPING. */
  runtime: ContainerRuntime | undefined;
  /** The entry published in the component map while RUNNING. */
  route: RoutableContainer | undefined;

  constructor(
    readonly id: string,
    readonly component: ComponentName,
    readonly spec: PodSpec,
  ) {}

  get status(): PodStatus {
    return this.current;
  }

  get state(): PodState {
    return this.current.state;
  }

  /**
   * A status transaction: `fn` builds the next status from the current one.
   * If it throws, or proposes a move the state machine does not have, nothing changes.
   */
  update(fn: (s: PodStatus) => PodStatus): PodStatus {
    const next = fn(this.current);
    if (!canMove(this.current.state, next.state)) {
      throw internal(`pod ${this.id}: illegal state change ${this.current.state} -> ${next.state}`);
    }
    this.current = next;
    return next;
  }

  /** Shorthand for moving to a state with some fields changed. */
  moveTo(state: PodState, patch: Partial<Omit<PodStatus, 'state'>> = {}): PodStatus {
    return this.update((s) => ({ ...s, ...patch, state }));
  }
}
