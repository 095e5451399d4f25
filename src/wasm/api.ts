// The executor's interface, as the control plane (CRI) and the data plane see it.
// Implementation: src/wasm/executor.ts. Nothing here knows about gRPC transports.

/** One metadata entry. Keys are lowercase; `-bin` keys carry raw bytes, others ASCII text. */
export type MetadataEntry = readonly [key: string, value: string | Uint8Array];

export interface GuestCall {
  /** The method's simple name (the last segment of the gRPC path), e.g. `AddFloats`. */
  readonly method: string;
  /** The request message, unframed and decompressed. */
  readonly request: Uint8Array;
  /** Custom request metadata (no pseudo-headers, no `grpc-*`/transport headers). */
  readonly metadata: readonly MetadataEntry[];
  /** Absolute deadline in `performance.now()` milliseconds, if the caller set one. */
  readonly deadline?: number;
  /** Aborted when the caller goes away (RST_STREAM, deadline, shutdown). */
  readonly signal?: AbortSignal;
}

export interface GuestResult {
  /** gRPC status code (0 = OK). */
  readonly status: number;
  readonly message: string;
  /** The response message (present when status is 0). */
  readonly response?: Uint8Array;
  /** Metadata the guest set for the response (sent as trailers). */
  readonly trailers: readonly MetadataEntry[];
}

/** Per-container limits, from the CRI's LinuxContainerResources and the config. */
export interface ContainerLimits {
  /** Cap on the guest's linear memory in bytes (rounded down to 64 KiB pages). */
  readonly memoryBytes?: number;
  /** CPU time one call may use before it is stopped. */
  readonly cpuMsPerCall?: number;
  /** Calls admitted at once; further calls fail with RESOURCE_EXHAUSTED. */
  readonly maxInFlight?: number;
}

/** A change of a running container's limits (CRI UpdateContainerResources); a field left out stays as it is, 0 means the node's default. */
export interface ResourceUpdate {
  /** Cap on linear memory plus tables, from the next call on. */
  readonly memoryLimitBytes?: number;
  /** CPU time one call may use, from the next call on. */
  readonly cpuMsPerCall?: number;
}

/**
 * One container's counters, owned by the executor (CRI stats and metrics read
 * them; nothing else counts them). A snapshot: reading it costs a small object.
 */
export interface ContainerUsage {
  /**
   * Guest CPU time of the container's calls, cumulative, in nanoseconds: real
   * CPU time of the worker threads (Linux schedstat), not wall time. Each
   * worker reads its thread's clock once per results message and splits that
   * CPU among the message's calls by the wall time each ran; a call stopped at
   * its limit is charged what its thread spent since its last message. It
   * includes instantiation and the per-call reset, which the container's calls
   * cause. 0 where the kernel has no schedstat.
   */
  readonly cpuNanos: number;
  /**
   * Working set: bytes of memory the container's last call held (its
   * instance's linear memory plus its tables, as counted against the memory
   * limit), measured at the end of that call, before the reset. Instances are
   * pooled per image and limit and reset after each call, so an idle
   * container holds no memory of its own; this is what one call of it needs.
   */
  readonly memoryBytes: number;
  /** The largest memoryBytes seen. */
  readonly memoryPeakBytes: number;
  /** Calls admitted and not finished (queued or running). */
  readonly inFlight: number;
  /** Calls admitted that have finished, whatever their status (calls refused at admission are not counted). */
  readonly callsCompleted: number;
  /** The limits now in force. */
  readonly memoryLimitBytes: number;
  readonly cpuMsPerCall: number;
  /** When the snapshot was taken (ms since the epoch). */
  readonly timestampMs: number;
}

/** Executor-wide counters. */
export interface ExecutorUsage {
  /** Worker threads running guests. */
  readonly workers: number;
  /** Workers running a call at this moment. */
  readonly busyWorkers: number;
  /** Calls admitted and waiting for a worker (queue depth, all containers). */
  readonly queued: number;
  /**
   * CPU time of all worker threads, cumulative, in nanoseconds (the sum over
   * containers' cpuNanos, including containers since stopped). Utilisation over
   * an interval = Δ workerCpuNanos / (Δ time × workers).
   */
  readonly workerCpuNanos: number;
  /** Workers terminated and replaced (a call stopped at a limit, or a crash). */
  readonly workersReplaced: number;
  readonly containers: number;
  readonly timestampMs: number;
}

/**
 * What running a WebAssembly component needs besides its bytes: the service's
 * descriptor set (the codec's) and the service's name. Given for images of kind
 * component; the bytes are then transpiled by jco (src/components/runtime).
 */
export interface ComponentSource {
  readonly descriptorSet: Uint8Array;
  readonly service: string;
}

/** A module compiled once per image and validated against the guest ABI. */
export interface PreparedModule {
  readonly imageId: string;
  readonly abiVersion: number;
  /** Method names the module exports (the service's methods it implements). */
  readonly methods: ReadonlySet<string>;
}

export interface StartOptions {
  readonly containerId: string;
  readonly module: PreparedModule;
  readonly env: Readonly<Record<string, string>>;
  readonly args?: readonly string[];
  readonly limits: ContainerLimits;
  /** Absolute path of the CRI log file, or undefined for no log. */
  readonly logPath?: string;
  /** The pod's log directory: the log file must stay inside it (log-path.ts). Default: the file's own directory. */
  readonly logDirectory?: string;
  /**
   * A container of an image and start options (env, args, limits) that already passed the start probe
   * (src/cri/runtime/container-start.ts), so the probe's instantiation is skipped: it would prove nothing new,
   * and 10,000 of them after a daemon restart would take seconds.
   */
  readonly restored?: boolean;
}

/** The running side of one container. */
export interface ContainerRuntime {
  readonly containerId: string;
  readonly methods: ReadonlySet<string>;
  /** Calls admitted and not yet finished (the data plane balances on it). */
  readonly inFlight: number;
  /** Runs one call in a fresh, pristine guest state. Never rejects: failures are a GuestResult. */
  call(call: GuestCall): Promise<GuestResult>;
  /** Refuses new calls and waits up to timeoutMs for in-flight ones; then fails the rest. */
  stop(timeoutMs: number): Promise<void>;
  /** Re-opens the log file (after rotation). */
  reopenLog(): Promise<void>;
  /** Calls `fn` with the container's stdout/stderr as its calls write it (CRI Attach), until the returned function is called. */
  subscribeOutput?(fn: (stream: 'stdout' | 'stderr', data: Uint8Array) => void): () => void;
}

export interface Executor {
  /** Compiles (cached per image) and validates a module; throws WorkdError (INVALID_ARGUMENT/FAILED_PRECONDITION) with a clear reason. */
  prepare(imageId: string, wasm: Uint8Array, abiVersion: number, component?: ComponentSource): Promise<PreparedModule>;
  /** Instantiates once to prove the module links and initialises; throws WorkdError with the reason if not. */
  start(options: StartOptions): Promise<ContainerRuntime>;
  /**
   * Changes a running container's limits from its next call on (calls already
   * running keep theirs). Throws WorkdError NOT_FOUND for an ID that is not
   * running here, FAILED_PRECONDITION if the module cannot run within the new
   * memory limit (nothing is changed then).
   */
  update(containerId: string, u: ResourceUpdate): void;
  /**
   * Counters of one container started here, or undefined for an unknown ID. A
   * stopped container's last counters stay readable until forget(containerId)
   * (CRI stats of exited containers); a restarted container ID starts from 0.
   */
  containerUsage(containerId: string): ContainerUsage | undefined;
  /** Drops a stopped container's counters (RemoveContainer). */
  forget(containerId: string): void;
  /** Executor-wide counters. */
  usage(): ExecutorUsage;
  /** Forgets a compiled module (image removed). */
  evict(imageId: string): void;
  close(): Promise<void>;
}
