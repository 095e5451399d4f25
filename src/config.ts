// Typed configuration: embedded defaults < config file (TOML, containerd style) < flags.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { invalidArgument } from './errors.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface Config {
  cri: { socket: string };
  state: { dir: string };
  log: { level: LogLevel };
  dataplane: {
    /** HOST:PORT; TCP (HTTP/2) and UDP (HTTP/3) on the same port. */
    listen: string;
    tlsCert?: string;
    tlsKey?: string;
    /** Cleartext h2c instead of TLS (local use). */
    plaintext: boolean;
    maxMessageBytes: number;
    http3: boolean;
    http3Limits: Http3LimitsConfig;
  };
  executor: {
    /** Worker threads running guests; 0 = one per core. */
    workers: number;
    /** Default cap on a guest's linear memory when the CRI gives none. */
    memoryLimitBytes: number;
    /** CPU time one call may use. */
    cpuMsPerCall: number;
    /** Calls one container admits at once. */
    maxInFlight: number;
  };
  images: {
    /** Registries reached over plain HTTP (loopback registries always may be). */
    insecureRegistries: string[];
    /** registry host → mirror endpoints tried first, in order (`[images.mirrors."registry.k8s.io"] endpoints = [...]`). */
    mirrors: Record<string, string[]>;
  };
  /** The CRI runtime (containerd) that runs the pods that are not component pods. */
  downstream: {
    /** `unix:///run/containerd/containerd.sock`; unset: such pods are refused. */
    endpoint?: string;
    /** The RuntimeClass handler name that means workd itself. */
    workdHandler: string;
  };
  /** The node-local server behind the CRI's Exec, Attach and PortForward URLs. */
  streaming: {
    /** HOST:PORT (port 0 picks a free one; the kubelet gets the full URL). */
    listen: string;
    /** How long an Exec/Attach/PortForward URL stays valid before it is used. */
    tokenTtlMs: number;
    /** A session with no traffic either way for this long is closed. */
    idleTimeoutMs: number;
    /** How long a client has to open the streams of a session. */
    streamCreationTimeoutMs: number;
  };
  /** Prometheus metrics and the run-time log levels (GET /metrics, /debug/log-levels); listen '' turns it off. */
  metrics: { listen: string };
}

export interface Http3LimitsConfig {
  /** A QUIC connection with no packets for this long is closed. */
  readonly idleTimeoutMs: number;
  /** QUIC connections open at once on this node; more are refused with CONNECTION_REFUSED. */
  readonly maxConnections: number;
  /** Requests open at once on one connection (the QUIC bidirectional stream limit). */
  readonly maxConcurrentRequests: number;
  /** Largest decoded request field section (SETTINGS_MAX_FIELD_SECTION_SIZE); above it, 431. */
  readonly maxFieldSectionSize: number;
}

export const HTTP3_LIMITS_DEFAULTS: Http3LimitsConfig = {
  idleTimeoutMs: 30_000,
  maxConnections: 10_000,
  maxConcurrentRequests: 1000,
  maxFieldSectionSize: 64 * 1024,
};

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export function defaultConfig(): Config {
  const userDir = process.env.XDG_RUNTIME_DIR ?? join(homedir(), '.local', 'run');
  const dataDir = process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share');
  return {
    cri: { socket: isRoot ? '/run/workd/workd.sock' : join(userDir, 'workd', 'workd.sock') },
    state: { dir: isRoot ? '/var/lib/workd' : join(dataDir, 'workd') },
    log: { level: 'info' },
    dataplane: {
      listen: isRoot ? '[::]:443' : '[::]:8443',
      plaintext: false,
      maxMessageBytes: 4 * 1024 * 1024,
      http3: true,
      http3Limits: HTTP3_LIMITS_DEFAULTS,
    },
    executor: { workers: 0, memoryLimitBytes: 64 * 1024 * 1024, cpuMsPerCall: 1000, maxInFlight: 1024 },
    images: { insecureRegistries: [], mirrors: {} },
    downstream: { workdHandler: 'workd' },
    // As containerd's stream server: loopback, any free port.
    streaming: { listen: '127.0.0.1:0', tokenTtlMs: 60_000, idleTimeoutMs: 4 * 60 * 60 * 1000, streamCreationTimeoutMs: 30_000 },
    metrics: { listen: '127.0.0.1:0' },
  };
}

/** Splits `HOST:PORT`, `[v6]:PORT` or `:PORT`. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  if (!m) throw invalidArgument(`listen address ${JSON.stringify(listen)} is not HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw invalidArgument(`listen port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '::'), port };
}

type Table = Record<string, unknown>;

/** A section's table; a key it does not know is refused, so a misspelt limit is not silently ignored. */
function section(root: Table, name: string, keys: readonly string[]): Table {
  const v = root[name];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument(`config: [${name}] must be a table`);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw invalidArgument(`config: unknown key ${name}.${k} (known: ${keys.join(', ')})`);
  return v as Table;
}

function take<T>(t: Table, sec: string, key: string, kind: 'string' | 'number' | 'boolean', fallback: T): T {
  const v = t[key];
  if (v === undefined) return fallback;
  if (typeof v !== kind) throw invalidArgument(`config: ${sec}.${key} must be a ${kind}`);
  return v as T;
}

function positiveInt(t: Table, sec: string, key: string, fallback: number): number {
  const v = take(t, sec, key, 'number', fallback);
  if (!Number.isSafeInteger(v) || v <= 0) throw invalidArgument(`config: ${sec}.${key} must be a positive integer, not ${v}`);
  return v;
}

/** `[images.mirrors."HOST"] endpoints = ["http://…", …]`, as containerd's registry mirrors. */
function parseMirrors(v: unknown): Record<string, string[]> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument('config: images.mirrors must be a table of registries');
  const out: Record<string, string[]> = {};
  for (const [host, t] of Object.entries(v as Table)) {
    const m = section(v as Table, host, ['endpoints']);
    const eps = m.endpoints;
    if (!Array.isArray(eps) || eps.length === 0 || !eps.every((e) => typeof e === 'string' && /^https?:\/\/[^/]+\/?$/.test(e))) {
      throw invalidArgument(`config: images.mirrors."${host}".endpoints must be a non-empty list of http(s)://host[:port] URLs, not ${JSON.stringify(t)}`);
    }
    out[host] = (eps as string[]).map((e) => e.replace(/\/$/, ''));
  }
  return out;
}

/** Reads a TOML config file over the defaults. Unknown sections and keys are refused so typos are seen. */
export function loadConfigFile(path: string, base: Config = defaultConfig()): Config {
  let root: Table;
  try {
    root = parseToml(readFileSync(path, 'utf8')) as Table;
  } catch (err) {
    throw invalidArgument(`config file ${path}: ${(err as Error).message}`);
  }
  const known = new Set(['version', 'cri', 'state', 'log', 'dataplane', 'executor', 'images', 'streaming', 'metrics', 'downstream']);
  for (const k of Object.keys(root)) if (!known.has(k)) throw invalidArgument(`config file ${path}: unknown section [${k}]`);
  const cri = section(root, 'cri', ['socket']);
  const state = section(root, 'state', ['dir']);
  const log = section(root, 'log', ['level']);
  const dp = section(root, 'dataplane', [
    'listen',
    'tls_cert',
    'tls_key',
    'plaintext',
    'max_message_bytes',
    'http3',
    'http3_idle_timeout_ms',
    'http3_max_connections',
    'http3_max_concurrent_requests',
    'http3_max_field_section_size',
  ]);
  const ex = section(root, 'executor', ['workers', 'memory_limit_bytes', 'cpu_ms_per_call', 'max_in_flight']);
  const im = section(root, 'images', ['insecure_registries', 'mirrors']);
  const ds = section(root, 'downstream', ['endpoint', 'workd_handler']);
  const st = section(root, 'streaming', ['listen', 'token_ttl_ms', 'idle_timeout_ms', 'stream_creation_timeout_ms']);
  const me = section(root, 'metrics', ['listen']);
  const level = take(log, 'log', 'level', 'string', base.log.level);
  if (!LOG_LEVELS.includes(level)) throw invalidArgument(`config: log.level must be one of ${LOG_LEVELS.join(', ')}`);
  const insecure = im.insecure_registries ?? base.images.insecureRegistries;
  if (!Array.isArray(insecure) || !insecure.every((x) => typeof x === 'string')) {
    throw invalidArgument('config: images.insecure_registries must be a list of strings');
  }
  return {
    cri: { socket: take(cri, 'cri', 'socket', 'string', base.cri.socket) },
    state: { dir: take(state, 'state', 'dir', 'string', base.state.dir) },
    log: { level },
    dataplane: {
      listen: take(dp, 'dataplane', 'listen', 'string', base.dataplane.listen),
      tlsCert: take(dp, 'dataplane', 'tls_cert', 'string', base.dataplane.tlsCert),
      tlsKey: take(dp, 'dataplane', 'tls_key', 'string', base.dataplane.tlsKey),
      plaintext: take(dp, 'dataplane', 'plaintext', 'boolean', base.dataplane.plaintext),
      maxMessageBytes: take(dp, 'dataplane', 'max_message_bytes', 'number', base.dataplane.maxMessageBytes),
      http3: take(dp, 'dataplane', 'http3', 'boolean', base.dataplane.http3),
      http3Limits: {
        idleTimeoutMs: positiveInt(dp, 'dataplane', 'http3_idle_timeout_ms', base.dataplane.http3Limits.idleTimeoutMs),
        maxConnections: positiveInt(dp, 'dataplane', 'http3_max_connections', base.dataplane.http3Limits.maxConnections),
        maxConcurrentRequests: positiveInt(dp, 'dataplane', 'http3_max_concurrent_requests', base.dataplane.http3Limits.maxConcurrentRequests),
        maxFieldSectionSize: positiveInt(dp, 'dataplane', 'http3_max_field_section_size', base.dataplane.http3Limits.maxFieldSectionSize),
      },
    },
    executor: {
      workers: take(ex, 'executor', 'workers', 'number', base.executor.workers),
      memoryLimitBytes: take(ex, 'executor', 'memory_limit_bytes', 'number', base.executor.memoryLimitBytes),
      cpuMsPerCall: take(ex, 'executor', 'cpu_ms_per_call', 'number', base.executor.cpuMsPerCall),
      maxInFlight: take(ex, 'executor', 'max_in_flight', 'number', base.executor.maxInFlight),
    },
    images: { insecureRegistries: insecure as string[], mirrors: im.mirrors === undefined ? base.images.mirrors : parseMirrors(im.mirrors) },
    downstream: {
      endpoint: take(ds, 'downstream', 'endpoint', 'string', base.downstream.endpoint),
      workdHandler: take(ds, 'downstream', 'workd_handler', 'string', base.downstream.workdHandler),
    },
    streaming: {
      listen: take(st, 'streaming', 'listen', 'string', base.streaming.listen),
      tokenTtlMs: positiveInt(st, 'streaming', 'token_ttl_ms', base.streaming.tokenTtlMs),
      idleTimeoutMs: positiveInt(st, 'streaming', 'idle_timeout_ms', base.streaming.idleTimeoutMs),
      streamCreationTimeoutMs: positiveInt(st, 'streaming', 'stream_creation_timeout_ms', base.streaming.streamCreationTimeoutMs),
    },
    metrics: { listen: take(me, 'metrics', 'listen', 'string', base.metrics.listen) },
  };
}
