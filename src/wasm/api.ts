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
}

export interface Executor {
  /** Compiles (cached per image) and validates a module; throws WorkdError (INVALID_ARGUMENT/FAILED_PRECONDITION) with a clear reason. */
  prepare(imageId: string, wasm: Uint8Array, abiVersion: number): Promise<PreparedModule>;
  /** Instantiates once to prove the module links and initialises; throws WorkdError with the reason if not. */
  start(options: StartOptions): Promise<ContainerRuntime>;
  /** Forgets a compiled module (image removed). */
  evict(imageId: string): void;
  close(): Promise<void>;
}
