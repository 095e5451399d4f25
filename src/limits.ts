// The one table of limits: every bound a peer, a guest or a registry can push
// against, with its default, its config file key and what it bounds. The
// config loader (config.ts) reads and validates each from its section;
// components get the resolved values as `Limits` (config.limits) and take
// them from there, never from a constant of their own. docs/limits.md is
// generated from this table (`npm run gen:limits`; a test checks it is current).
//
// Adding one: a new entry below (name, section, key, default, unit, doc),
// then read it as `limits.<name>` where it is enforced; see /work/wt/NOTES.md.
// A bound of the code's own design that an operator has no reason to change
// is marked `fixed`: it is declared and documented here like the others, the
// config file refuses its key, and the code reads it with fixedLimit().
import { invalidArgument } from './errors.js';

export type LimitUnit = 'bytes' | 'MiB' | 'ms' | 'count';

export interface LimitSpec {
  /** Config file section (TOML table), e.g. `dataplane.http2` for `[dataplane.http2]`. */
  readonly section: string;
  /** Key inside the section, snake_case. */
  readonly key: string;
  readonly default: number;
  readonly unit: LimitUnit;
  /** What it bounds and what happens past it, for the docs. */
  readonly doc: string;
  /** Smallest accepted value (default 1: limits are positive integers). */
  readonly min?: number;
  /** Largest accepted value, where the protocol or the platform caps it. */
  readonly max?: number;
  /** Not read from the config file (its doc says why); the code reads it with fixedLimit(). */
  readonly fixed?: true;
}

const KiB = 1024;
const MiB = 1024 * 1024;
/** HTTP/2 SETTINGS values and window sizes are at most 2^31-1 (RFC 9113 §6.5.2, §6.9.1). */
const H2_MAX = 2 ** 31 - 1;
/** setTimeout clamps longer delays. */
const TIMER_MAX = 2 ** 31 - 1;

export const LIMITS = {
  // ── gRPC, on both transports ──
  maxMessageBytes: {
    section: 'dataplane', key: 'max_message_bytes', default: 4 * MiB, unit: 'bytes',
    doc: 'Largest request or response message, checked from the length prefix before reading and after decompression; above it the call ends with RESOURCE_EXHAUSTED.',
  },
  maxBufferedRequestBytes: {
    section: 'dataplane', key: 'max_buffered_request_bytes', default: 256 * MiB, unit: 'bytes',
    doc: 'Request bytes held by all unfinished calls together, node-wide (partial messages, requests waiting for their half-close); past it new request data fails its call with RESOURCE_EXHAUSTED.',
  },
  failedCallLogsPerSecond: {
    section: 'dataplane', key: 'failed_call_logs_per_second', default: 20, unit: 'count',
    doc: 'Failed guest calls the daemon logs (a warning with container, method and status) per second; past it one line a second counts those left out.',
  },
  builtinMaxHeldRequests: {
    section: 'dataplane', key: 'builtin_max_held_requests', default: 64, unit: 'count',
    doc: 'Requests of one built-in streaming call (reflection) held while its client does not read the answers; one more ends the call with RESOURCE_EXHAUSTED.',
  },

  tlsRefusedNames: {
    section: 'dataplane', key: 'tls_refused_names', default: 1024, unit: 'count', fixed: true,
    doc: 'Server names (SNI) clients asked for that the node does not serve, remembered for 10 s so the generated certificate is not asked to sign for them on every handshake; past it the list is cleared. Fixed: it only saves a lookup.',
  },

  fdReserve: {
    section: 'dataplane', key: 'fd_reserve', default: 1024, unit: 'count',
    doc: 'File descriptors the data plane leaves to the rest of the node (the CRI socket, image pulls, logs): its TCP connections are capped at the process\'s open-file limit (RLIMIT_NOFILE) minus this.',
  },

  // ── HTTP/2 ──
  http2MaxConnections: {
    section: 'dataplane.http2', key: 'max_connections', default: 10_000, unit: 'count',
    doc: 'TCP connections open at once on the node, over every listener (and never more than the open-file limit minus `[dataplane] fd_reserve`); more are closed as they arrive.',
  },
  http2MaxConnectionsPerPeer: {
    section: 'dataplane.http2', key: 'max_connections_per_peer', default: 512, unit: 'count',
    doc: 'TCP connections open at once from one client IP address; more are closed as they arrive.',
  },
  http2FirstRequestTimeoutMs: {
    section: 'dataplane.http2', key: 'first_request_timeout_ms', default: 10_000, unit: 'ms', max: TIMER_MAX,
    doc: 'A new connection must finish its TLS handshake, and then its first request\'s headers, within this long each (slow or missing headers); otherwise it is closed.',
  },
  http2IdleTimeoutMs: {
    section: 'dataplane.http2', key: 'idle_timeout_ms', default: 300_000, unit: 'ms', max: TIMER_MAX,
    doc: 'A connection with no call open and none started for this long is closed (GOAWAY); PINGs do not count (gRPC\'s MAX_CONNECTION_IDLE). Checked every quarter of it: the close comes up to a quarter later.',
  },
  http2MaxConcurrentStreams: {
    section: 'dataplane.http2', key: 'max_concurrent_streams', default: 1000, unit: 'count', max: H2_MAX,
    doc: 'SETTINGS_MAX_CONCURRENT_STREAMS: streams open at once on one connection; more are refused with REFUSED_STREAM.',
  },
  http2MaxHeaderListSize: {
    section: 'dataplane.http2', key: 'max_header_list_size', default: 64 * KiB, unit: 'bytes', max: H2_MAX,
    doc: 'SETTINGS_MAX_HEADER_LIST_SIZE: largest request header block (HPACK-decoded, 32 bytes overhead per field).',
  },
  http2MaxHeaderPairs: {
    section: 'dataplane.http2', key: 'max_header_pairs', default: 256, unit: 'count',
    doc: 'Header fields in one request header block.',
  },
  http2MaxSessionMemoryMiB: {
    section: 'dataplane.http2', key: 'max_session_memory_mib', default: 64, unit: 'MiB',
    doc: 'Memory node:http2 lets one connection hold (buffered frames, header tables); past it new streams are refused with ENHANCE_YOUR_CALM.',
  },
  http2MaxRejectedStreams: {
    section: 'dataplane.http2', key: 'max_rejected_streams', default: 100, unit: 'count',
    doc: 'Streams one connection may have refused before it is closed (rapid reset and stream floods).',
  },
  http2MaxInvalidFrames: {
    section: 'dataplane.http2', key: 'max_invalid_frames', default: 1000, unit: 'count',
    doc: 'Invalid frames one connection may send before it is closed (RST_STREAM, empty DATA, CONTINUATION floods).',
  },
  http2StreamWindowBytes: {
    section: 'dataplane.http2', key: 'stream_window_bytes', default: 1 * MiB, unit: 'bytes', max: H2_MAX,
    doc: 'SETTINGS_INITIAL_WINDOW_SIZE: request bytes a client may send on one stream before we read them.',
  },
  http2ConnectionWindowBytes: {
    section: 'dataplane.http2', key: 'connection_window_bytes', default: 8 * MiB, unit: 'bytes', max: H2_MAX,
    doc: 'Connection-level flow-control window: request bytes a client may have in flight on one connection.',
  },

  // ── HTTP/3 ──
  http3IdleTimeoutMs: {
    section: 'dataplane.http3', key: 'idle_timeout_ms', default: 30_000, unit: 'ms', max: TIMER_MAX,
    doc: 'A QUIC connection with no packets for this long is closed (QUIC max_idle_timeout).',
  },
  http3MaxConnections: {
    section: 'dataplane.http3', key: 'max_connections', default: 10_000, unit: 'count',
    doc: 'QUIC connections open at once on the node, handshaking ones included; new ones are refused with CONNECTION_REFUSED before any TLS work.',
  },
  http3MaxConnectionsPerPeer: {
    section: 'dataplane.http3', key: 'max_connections_per_peer', default: 512, unit: 'count',
    doc: 'QUIC connections open at once from one client IP address; more are refused with CONNECTION_REFUSED before any TLS work.',
  },
  http3RetryThreshold: {
    section: 'dataplane.http3', key: 'retry_threshold', default: 100, unit: 'count', min: 0,
    doc: 'Half-open QUIC connections (handshake not complete) on the node beyond which a new client must first prove its address: its Initial gets a stateless Retry with a token it must echo (RFC 9000 §8.1.2), so a flood of Initials from spoofed or silent addresses costs no connection state. 0 sends every new client a Retry.',
  },
  http3HalfOpenTimeoutMs: {
    section: 'dataplane.http3', key: 'half_open_timeout_ms', default: 5_000, unit: 'ms', max: TIMER_MAX,
    doc: 'A QUIC connection whose handshake is not complete this long after its first Initial is dropped without a reply (it never proved it can answer); also how long a Retry token stays valid.',
  },
  http3MaxConcurrentRequests: {
    section: 'dataplane.http3', key: 'max_concurrent_requests', default: 1000, unit: 'count',
    doc: 'Requests open at once on one connection (the QUIC bidirectional stream limit, initial_max_streams_bidi); beyond it H3_REQUEST_REJECTED.',
  },
  http3MaxPeerUniStreams: {
    section: 'dataplane.http3', key: 'max_peer_uni_streams', default: 16, unit: 'count', min: 3,
    doc: 'Unidirectional streams a client may open (initial_max_streams_uni): its control and QPACK streams, and room for grease.',
  },
  http3MaxFieldSectionSize: {
    section: 'dataplane.http3', key: 'max_field_section_size', default: 64 * KiB, unit: 'bytes',
    doc: 'SETTINGS_MAX_FIELD_SECTION_SIZE: largest decoded request field section; above it the stream gets 431.',
  },
  http3MaxControlFrameBytes: {
    section: 'dataplane.http3', key: 'max_control_frame_bytes', default: 16 * KiB, unit: 'bytes',
    doc: 'Largest frame accepted on the peer\'s control stream (SETTINGS, GOAWAY); larger closes the connection with H3_EXCESSIVE_LOAD.',
  },
  http3ResponseBufferBytes: {
    section: 'dataplane.http3', key: 'response_buffer_bytes', default: 64 * KiB, unit: 'bytes',
    doc: 'Response bytes queued on one stream that QUIC has not taken (a client not reading) before a streaming answer waits for it.',
  },

  // ── QUIC flow control (HTTP/3's transport) ──
  quicConnectionWindowBytes: {
    section: 'dataplane.quic', key: 'connection_window_bytes', default: 16 * MiB, unit: 'bytes',
    doc: 'initial_max_data: request bytes a client may have in flight on one connection at first.',
  },
  quicMaxConnectionWindowBytes: {
    section: 'dataplane.quic', key: 'max_connection_window_bytes', default: 24 * MiB, unit: 'bytes',
    doc: 'Largest connection window quiche auto-tunes up to.',
  },
  quicStreamWindowBytes: {
    section: 'dataplane.quic', key: 'stream_window_bytes', default: 2 * MiB, unit: 'bytes',
    doc: 'initial_max_stream_data_bidi_*: request bytes a client may send on one stream at first.',
  },
  quicMaxStreamWindowBytes: {
    section: 'dataplane.quic', key: 'max_stream_window_bytes', default: 16 * MiB, unit: 'bytes',
    doc: 'Largest stream window quiche auto-tunes up to.',
  },
  quicUniStreamWindowBytes: {
    section: 'dataplane.quic', key: 'uni_stream_window_bytes', default: 1 * MiB, unit: 'bytes',
    doc: 'initial_max_stream_data_uni: bytes a client may send on one unidirectional (control, QPACK) stream.',
  },

  // ── the executor ──
  executorMemoryLimitBytes: {
    section: 'executor', key: 'memory_limit_bytes', default: 64 * MiB, unit: 'bytes',
    doc: 'A guest\'s linear memory when the CRI gives no memory limit.',
  },
  executorCpuMsPerCall: {
    section: 'executor', key: 'cpu_ms_per_call', default: 1000, unit: 'ms',
    doc: 'CPU time one call may use before it is stopped with RESOURCE_EXHAUSTED.',
  },
  executorMaxInFlight: {
    section: 'executor', key: 'max_in_flight', default: 1024, unit: 'count',
    doc: 'Calls one container admits at once; more get RESOURCE_EXHAUSTED.',
  },
  executorMaxCallsPerWorker: {
    section: 'executor', key: 'max_calls_per_worker', default: 1024, unit: 'count', fixed: true,
    doc: 'Calls sent to one worker thread and not yet answered; more wait in their containers\' lanes. Fixed: it only bounds the pipeline to a worker, the per-container bound is `max_in_flight`.',
  },
  executorReservedWorkers: {
    section: 'executor', key: 'reserved_workers', default: 1, unit: 'count', fixed: true,
    doc: 'Workers (or cores, if fewer) that long-running containers\' calls may never all take, when there are more than this, so short calls always find one. Fixed: the fairness benchmark (`npm run bench:fairness`) is what tunes it.',
  },
  executorLongRunningCpuMs: {
    section: 'executor', key: 'long_running_cpu_ms', default: 2, unit: 'ms', fixed: true,
    doc: 'A container whose calls use more CPU than this on average is long-running, and its calls share the workers not reserved above. Fixed, as `reserved_workers`.',
  },
  executorLaneQuantum: {
    section: 'executor', key: 'lane_quantum', default: 64, unit: 'count', fixed: true,
    doc: 'Calls taken from one container\'s lane at a time before the next lane\'s turn. Fixed, as `reserved_workers`.',
  },
  executorLastWordsBytes: {
    section: 'executor', key: 'last_words_bytes', default: 300, unit: 'bytes', fixed: true,
    doc: 'Bytes of a failed call\'s last stderr output (an abort or panic message) added to its status message, which `status_message_bytes` bounds again. Fixed: enough for a panic line, short enough for a trailer.',
  },
  executorOutputBytesPerCall: {
    section: 'executor', key: 'output_bytes_per_call', default: 1 * MiB, unit: 'bytes', fixed: true,
    doc: 'Bytes of stdout, and of stderr, one call may write; the rest is dropped and the container log says how much. Fixed: the worker keeps them in memory until the call ends.',
  },
  executorMaxTrailers: {
    section: 'executor', key: 'max_trailers', default: 64, unit: 'count', fixed: true,
    doc: 'Trailers one call may set (`set_trailer`); one more fails the call naming the bound. Fixed, with `max_trailer_bytes`: the host\'s memory is not the guest\'s to fill.',
  },
  executorMaxTrailerBytes: {
    section: 'executor', key: 'max_trailer_bytes', default: 64 * KiB, unit: 'bytes', fixed: true,
    doc: 'Keys and values of one call\'s trailers together (they travel in one header block, bounded by the client\'s header limits).',
  },
  executorLogMaxLineBytes: {
    section: 'executor', key: 'log_max_line_bytes', default: 16 * KiB, unit: 'bytes', fixed: true,
    doc: 'A container log line longer than this is split into partial (`P`) entries, as the CRI log format allows. Fixed: what the kubelet reads back in one go.',
  },
  executorLogMaxQueuedBytes: {
    section: 'executor', key: 'log_max_queued_bytes', default: 8 * MiB, unit: 'bytes', fixed: true,
    doc: 'Log bytes of one container queued for the disk; past it output is dropped and the log says so (calls never wait for the disk).',
  },
  executorMaxInstancesPerWorker: {
    section: 'executor', key: 'max_instances_per_worker', default: 512, unit: 'count', fixed: true,
    doc: 'Live guest instances one worker thread keeps; past it the one used longest ago is dropped and made again when next called. Fixed: each reserves address space (about 13,000 Wasm memories fit in one process).',
  },
  executorKilledCallOutputBytes: {
    section: 'executor', key: 'killed_call_output_bytes', default: 32 * KiB, unit: 'bytes', fixed: true,
    doc: 'Bytes of stdout, and of stderr, of the running call copied to memory shared with the daemon as they are written, so that a call whose worker is stopped at its limit still has its output logged; past it the rest is counted as dropped. Fixed: it is the layout of that shared memory.',
  },
  executorMaxStoppedUsage: {
    section: 'executor', key: 'max_stopped_usage', default: 10_000, unit: 'count', fixed: true,
    doc: 'Stopped containers whose CPU and memory counters are kept for CRI stats until the container is removed; past it the oldest are forgotten first. Fixed: a few hundred bytes each, and the kubelet removes stopped containers.',
  },

  podsRetiredServices: {
    section: 'dataplane', key: 'retired_services', default: 1024, unit: 'count', fixed: true,
    doc: 'Services whose last pod was removed that still answer UNAVAILABLE (the service is expected back, as across a pod\'s replacement, and gRPC clients retry UNAVAILABLE) rather than the UNIMPLEMENTED of a service the node never had; past it the one retired longest ago is forgotten. Fixed: a few hundred bytes each.',
  },

  // ── workd's own gRPC clients (`workd call`, over HTTP/2 and HTTP/3) ──
  clientMaxResponseMessageBytes: {
    section: 'client', key: 'max_response_message_bytes', default: 64 * MiB, unit: 'bytes', fixed: true,
    doc: 'Largest response message workd\'s clients accept, checked from the length prefix before reading and after decompression; above it the call fails with RESOURCE_EXHAUSTED. Fixed: the clients read no config file.',
  },

  // ── the CRI socket ──
  criProbeMaxHeadBytes: {
    section: 'cri', key: 'probe_max_head_bytes', default: 8 * KiB, unit: 'bytes',
    doc: 'Largest HTTP/1 request head read from a connection that is not gRPC (an operator\'s `curl --unix-socket`); past it the 404 is sent without reading further.',
  },
  criProbeIdleMs: {
    section: 'cri', key: 'probe_idle_ms', default: 10_000, unit: 'ms', max: TIMER_MAX,
    doc: 'A connection to the CRI socket that has sent neither the HTTP/2 preface nor a whole HTTP/1 request head by then is closed.',
  },

  criMaxEventsBehind: {
    section: 'cri', key: 'max_events_behind', default: 10_000, unit: 'count',
    doc: 'Container events queued for one GetContainerEvents client that does not read them; one more ends its stream with RESOURCE_EXHAUSTED (the kubelet reconnects and relists).',
  },
  statusMessageBytes: {
    section: 'cri', key: 'status_message_bytes', default: 4 * KiB, unit: 'bytes', fixed: true,
    doc: 'An error or status message, in UTF-8 bytes, on the CRI socket and in the data plane\'s grpc-message trailer (a guest\'s own status message is cut to it as it is set): past it the middle is cut with a marker saying how much (messages echo what a client sent, and a huge trailer stalls a connection). Fixed: room for any message workd writes itself, with what it echoes cut.',
  },

  // ── what a CRI client stores with a pod or container (src/cri/metadata.ts) ──
  criMaxLabelValueBytes: {
    section: 'cri', key: 'max_label_value_bytes', default: 253, unit: 'bytes',
    doc: 'One label value of a pod or container (the Kubernetes API allows 63 on pod labels; the kubelet puts the pod name, up to 253, in io.kubernetes.pod.name); longer is INVALID_ARGUMENT.',
  },
  criMaxLabelsBytes: {
    section: 'cri', key: 'max_labels_bytes', default: 256 * KiB, unit: 'bytes',
    doc: 'All labels of one pod or container, keys and values together; more is INVALID_ARGUMENT (every List answer carries them).',
  },
  criMaxAnnotationsBytes: {
    section: 'cri', key: 'max_annotations_bytes', default: 256 * KiB, unit: 'bytes',
    doc: 'All annotations of one pod or container, keys and values together, as the Kubernetes API limits them (TotalAnnotationSizeLimitB); more is INVALID_ARGUMENT.',
  },
  criMaxMetadataNameBytes: {
    section: 'cri', key: 'max_metadata_name_bytes', default: 253, unit: 'bytes',
    doc: 'metadata.name, namespace and uid of a pod or container (a Kubernetes name is at most 253); longer is INVALID_ARGUMENT.',
  },

  // ── image pulls and imports (src/images/image-store.ts) ──
  imagesMaxLayers: {
    section: 'images', key: 'max_layers', default: 16, unit: 'count',
    doc: 'Layers in one image manifest (a component image has 2); more is refused with RESOURCE_EXHAUSTED before any layer is fetched.',
  },
  imagesMaxBlobBytes: {
    section: 'images', key: 'max_blob_bytes', default: 512 * MiB, unit: 'bytes',
    doc: 'Declared size of one layer; larger is refused before it is fetched, and a download longer than its declared size fails (DATA_LOSS).',
  },
  imagesMaxImageBytes: {
    section: 'images', key: 'max_image_bytes', default: 1024 * MiB, unit: 'bytes',
    doc: 'Declared size of config and layers of one image together; larger is refused with RESOURCE_EXHAUSTED before any layer is fetched.',
  },
  imagesMaxManifestBytes: {
    section: 'images', key: 'max_manifest_bytes', default: 4 * MiB, unit: 'bytes',
    doc: 'One manifest or index as the registry serves it; larger is INVALID_ARGUMENT.',
  },
  imagesMaxRedirects: {
    section: 'images', key: 'max_redirects', default: 5, unit: 'count', fixed: true,
    doc: 'HTTP redirects one registry request follows (a registry sends blobs to its storage or a CDN, one hop); one more fails the pull naming the URL. Fixed: Go\'s HTTP client, which containerd uses, stops at 10.',
  },
  imagesIdleTimeoutMs: {
    section: 'images', key: 'idle_timeout_ms', default: 60_000, unit: 'ms', fixed: true,
    doc: 'A registry connection with no bytes either way for this long fails its request (a stalled registry cannot hold a pull forever; a slow one that keeps sending can).',
  },
  imagesMaxConfigBytes: {
    section: 'images', key: 'max_config_bytes', default: 4 * MiB, unit: 'bytes',
    doc: 'The image config blob (read into memory); larger is INVALID_ARGUMENT.',
  },

  // ── the downstream runtime (containerd) ──
  downstreamCallTimeoutMs: {
    section: 'downstream', key: 'call_timeout_ms', default: 120_000, unit: 'ms', max: TIMER_MAX,
    doc: 'Deadline of one call handed to the downstream runtime (except PullImage); past it the call fails with DEADLINE_EXCEEDED naming the downstream.',
  },
  downstreamPullTimeoutMs: {
    section: 'downstream', key: 'pull_timeout_ms', default: 15 * 60_000, unit: 'ms', max: TIMER_MAX,
    doc: 'Deadline of a PullImage handed to the downstream runtime.',
  },
  downstreamStatusTimeoutMs: {
    section: 'downstream', key: 'status_timeout_ms', default: 5000, unit: 'ms', max: TIMER_MAX,
    doc: 'How long Status and RuntimeConfig wait for the downstream before reporting it unavailable (RuntimeReady false).',
  },
  downstreamMaxReconnectBackoffMs: {
    section: 'downstream', key: 'max_reconnect_backoff_ms', default: 1000, unit: 'ms', max: TIMER_MAX,
    doc: 'Longest pause between attempts to reconnect to a downstream that went away, so one that comes back is used again within about this long.',
  },
  downstreamReconcileRetryMs: {
    section: 'downstream', key: 'reconcile_retry_ms', default: 2000, unit: 'ms', max: TIMER_MAX,
    doc: 'How often, until the downstream first answers, the record of its IDs is checked against what it lists.',
  },

  // ── the state store (docs/state.md) ──
  stateMaxCommitBytes: {
    section: 'state', key: 'max_commit_bytes', default: 64 * MiB, unit: 'bytes', max: 1024 * MiB,
    doc: 'Largest encoded commit (one verb\'s changed records); a bigger one is refused with INVALID_ARGUMENT and changes nothing.',
  },
  stateCompactMinBytes: {
    section: 'state', key: 'compact_min_bytes', default: 64 * MiB, unit: 'bytes', min: 64 * KiB,
    doc: 'The journal is compacted into a snapshot once it is over this size and over 4 × the last snapshot.',
  },
  stateRestoreConcurrency: {
    section: 'state', key: 'restore_concurrency', default: 64, unit: 'count',
    doc: 'Recorded RUNNING containers whose guests a restarted daemon starts at once.',
  },

  // ── streaming (Exec, Attach, PortForward URLs) ──
  streamingTokenTtlMs: {
    section: 'streaming', key: 'token_ttl_ms', default: 60_000, unit: 'ms', max: TIMER_MAX,
    doc: 'How long an Exec, Attach or PortForward URL stays valid before its connection arrives; later it answers 404 and the client must ask again.',
  },
  streamingIdleTimeoutMs: {
    section: 'streaming', key: 'idle_timeout_ms', default: 4 * 60 * 60 * 1000, unit: 'ms', max: TIMER_MAX,
    doc: 'A streaming session (SPDY) with no frame either way for this long is closed (the kubelet\'s default, 4 h).',
  },
  streamingStreamCreationTimeoutMs: {
    section: 'streaming', key: 'stream_creation_timeout_ms', default: 30_000, unit: 'ms', max: TIMER_MAX,
    doc: 'How long a client has to open the streams of an exec/attach session, or both streams of a port-forward request; then the session is closed or the request answered with an error.',
  },
  streamingMaxPendingRequests: {
    section: 'streaming', key: 'max_pending_requests', default: 1000, unit: 'count',
    doc: 'Exec/Attach/PortForward URLs handed out and not yet used or expired; one more is refused with RESOURCE_EXHAUSTED.',
  },
  streamingSpdyMaxFrameBytes: {
    section: 'streaming', key: 'spdy_max_frame_bytes', default: 1 * MiB, unit: 'bytes', max: 2 ** 24 - 1,
    doc: 'Largest SPDY frame a client may send; a larger one ends its connection with GOAWAY.',
  },
  streamingExecStdinMaxBytes: {
    section: 'streaming', key: 'exec_stdin_max_bytes', default: 4 * MiB, unit: 'bytes',
    doc: 'Stdin a built-in exec command reads (the JSON request of `call`); more fails the command with a message.',
  },
  streamingExecSyncMaxOutputBytes: {
    section: 'streaming', key: 'exec_sync_max_output_bytes', default: 16 * MiB, unit: 'bytes',
    doc: 'Stdout and stderr (each) an ExecSync answer carries; the rest is dropped.',
  },

  // ── CNI (pod networking) ──
  cniPluginTimeoutMs: {
    section: 'cni', key: 'plugin_timeout_ms', default: 60_000, unit: 'ms', max: TIMER_MAX,
    doc: 'One CNI plugin run (ADD, DEL, CHECK, VERSION, STATUS, GC); a plugin still running after it is killed and the CRI call fails with DEADLINE_EXCEEDED (RunPodSandbox then undoes what was set up).',
  },

  // ── metrics ──
  metricsMaxSeriesPerMetric: {
    section: 'metrics', key: 'max_series_per_metric', default: 5000, unit: 'count',
    doc: 'Label sets one metric exposes per scrape; beyond it series are added up under the label value `other` (sources are bounded already; this is the last guard).',
  },
} as const satisfies Record<string, LimitSpec>;

export type LimitName = keyof typeof LIMITS;
/** The limits the code reads with fixedLimit(), not from config.limits. */
export type FixedLimitName = { [K in LimitName]: (typeof LIMITS)[K] extends { readonly fixed: true } ? K : never }[LimitName];
/** The limits the config file sets. */
export type ConfigLimitName = Exclude<LimitName, FixedLimitName>;
/** Resolved values, one per configurable limit. */
export type Limits = { readonly [K in ConfigLimitName]: number };

/** Every limit, fixed ones too. */
export const LIMIT_NAMES = Object.keys(LIMITS) as LimitName[];
const isFixed = (n: LimitName): boolean => (LIMITS[n] as LimitSpec).fixed === true;
/** The limits the config file sets, in table order. */
export const CONFIG_LIMIT_NAMES = LIMIT_NAMES.filter((n) => !isFixed(n)) as ConfigLimitName[];

export const DEFAULT_LIMITS: Limits = Object.freeze(Object.fromEntries(CONFIG_LIMIT_NAMES.map((n) => [n, LIMITS[n].default])) as Limits);

/** The value of a fixed limit (its default: the config file cannot change it). */
export function fixedLimit(name: FixedLimitName): number {
  return LIMITS[name].default;
}

/** `[section] key`, as the docs and error messages name a limit. */
export function limitKey(name: LimitName): string {
  const s: LimitSpec = LIMITS[name];
  return `[${s.section}] ${s.key}`;
}

/** The value if it is acceptable for `name`; otherwise an INVALID_ARGUMENT naming the key. */
export function checkLimit(name: LimitName, value: unknown): number {
  const s: LimitSpec = LIMITS[name];
  const min = s.min ?? 1;
  const what = `config: ${limitKey(name)}`;
  if (typeof value !== 'number') throw invalidArgument(`${what} must be a number (${s.unit}), not ${JSON.stringify(value)}`);
  if (!Number.isSafeInteger(value)) throw invalidArgument(`${what} must be a whole number (${s.unit}), not ${value}`);
  if (value < min) throw invalidArgument(`${what} must be ${min === 1 ? 'a positive integer' : `at least ${min}`}, not ${value}`);
  if (s.max !== undefined && value > s.max) throw invalidArgument(`${what} must be at most ${s.max}, not ${value}`);
  return value;
}

/** The limit names the config file reads from one section, by key (fixed ones are not among them). */
export function limitsIn(section: string): Map<string, ConfigLimitName> {
  const m = new Map<string, ConfigLimitName>();
  for (const n of CONFIG_LIMIT_NAMES) if (LIMITS[n].section === section) m.set(LIMITS[n].key, n);
  return m;
}

/** Every section that holds configurable limits, in table order. */
export const LIMIT_SECTIONS: readonly string[] = [...new Set(CONFIG_LIMIT_NAMES.map((n) => LIMITS[n].section))];

/** `base` with some limits replaced, each checked (tests and embedders). */
export function withLimits(overrides: Partial<Record<ConfigLimitName, number>>, base: Limits = DEFAULT_LIMITS): Limits {
  const out: Record<string, number> = { ...base };
  for (const [n, v] of Object.entries(overrides) as [ConfigLimitName, number][]) out[n] = checkLimit(n, v);
  return out as Limits;
}

function formatDefault(s: LimitSpec): string {
  const v = s.default;
  if (s.unit === 'bytes') {
    if (v >= MiB && v % MiB === 0) return `${v / MiB} MiB`;
    if (v >= KiB && v % KiB === 0) return `${v / KiB} KiB`;
    return `${v} bytes`;
  }
  if (s.unit === 'ms') return v >= 1000 && v % 1000 === 0 ? `${v / 1000} s` : `${v} ms`;
  if (s.unit === 'MiB') return `${v} MiB`;
  return v.toLocaleString('en-US');
}

/** The table as Markdown, by section, then the fixed bounds (docs/limits.md). */
export function limitsMarkdown(): string {
  const out: string[] = [];
  for (const section of LIMIT_SECTIONS) {
    out.push(`### \`[${section}]\``, '', '| key | default | what it bounds |', '|---|---|---|');
    for (const n of CONFIG_LIMIT_NAMES) {
      const s: LimitSpec = LIMITS[n];
      if (s.section !== section) continue;
      out.push(`| \`${s.key}\` | ${formatDefault(s)} | ${s.doc} |`);
    }
    out.push('');
  }
  out.push('### Fixed bounds (not config keys)', '', 'Declared in the same table; the config file refuses these names.', '', '| part | name | default | what it bounds |', '|---|---|---|---|');
  for (const n of LIMIT_NAMES) {
    const s: LimitSpec = LIMITS[n];
    if (s.fixed) out.push(`| ${s.section} | ${s.key} | ${formatDefault(s)} | ${s.doc} |`);
  }
  out.push('');
  return out.join('\n');
}
