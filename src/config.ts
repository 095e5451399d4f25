// Typed configuration: embedded defaults < config file (TOML, containerd style) < flags.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { invalidArgument } from './errors.js';
import { isNamePattern, normalizeName } from './dataplane/certs/names.js';
import { checkLimit, DEFAULT_LIMITS, LIMIT_SECTIONS, limitsIn, type LimitName, type Limits } from './limits.js';

/** `[dataplane] cleartext`: pod listeners only, every listener, or none (see docs/networking.md, "Probes"). */
export type Cleartext = 'pods' | 'all' | 'off';
export const CLEARTEXT_MODES: readonly Cleartext[] = ['pods', 'all', 'off'];

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface Config {
  /** socketGroup: `[cri] socket_group`, the group (name or gid) the 0660 CRI socket is given to. */
  cri: { socket: string; socketGroup?: string };
  state: { dir: string };
  log: { level: LogLevel };
  dataplane: {
    /** HOST:PORT; TCP (HTTP/2) and UDP (HTTP/3) on the same port. */
    listen: string;
    tlsCert?: string;
    tlsKey?: string;
    /** `[dataplane.tls] cert_dir`: per-domain certificates picked by SNI (src/dataplane/certs/). */
    tlsCertDir?: string;
    /** `[dataplane.tls.client_ca]`: host pattern → CA bundle; calls to those hosts need a client certificate it signed. */
    tlsClientCa?: Record<string, string>;
    /** Cleartext h2c instead of TLS (local use). */
    plaintext: boolean;
    /** Where cleartext (HTTP/2 prior knowledge, HTTP/1.1) is taken beside TLS on the same port, for the kubelet's probes. */
    cleartext: Cleartext;
    http3: boolean;
  };
  executor: {
    /** Worker threads running guests; 0 = one per core. */
    workers: number;
    // The executor's limits, as its code reads them; declared, defaulted and
    // validated in src/limits.ts (`[executor]` there) and copied from config.limits.
    /** limits.executorMemoryLimitBytes */
    memoryLimitBytes: number;
    /** limits.executorCpuMsPerCall */
    cpuMsPerCall: number;
    /** limits.executorMaxInFlight */
    maxInFlight: number;
  };
  /** Every limit, from the one table (src/limits.ts), read from its own section. */
  limits: Limits;
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
    /** The node's cgroup driver as the kubelet is configured; must be the downstream's. */
    cgroupDriver?: 'systemd' | 'cgroupfs';
  };
  /** The node-local server behind the CRI's Exec, Attach and PortForward URLs. */
  streaming: {
    /** HOST:PORT (port 0 picks a free one; the kubelet gets the full URL). Its bounds are limits (streaming*). */
    listen: string;
  };
  /** Prometheus metrics and the run-time log levels (GET /metrics, /debug/log-levels); listen '' turns it off. */
  metrics: { listen: string };
  /** Pod networking through CNI plugins (docs/networking.md); off: pods report the node's address. */
  cni: {
    enabled: boolean;
    /** Where the network configuration lists are (the first valid one is used), as containerd's conf_dir. */
    confDir: string;
    /** Plugin directories searched in order: bin_dir, then extra_bin_dirs (Debian installs the plugins in /usr/lib/cni). */
    binDirs: string[];
    /** CNI_IFNAME of the pod's interface. */
    ifname: string;
  };
}

/** The environment variable naming the CRI socket, for `workd serve` and the CLI alike. */
export const CRI_SOCKET_ENV = 'WORKD_CRI_SOCKET';
export const ROOT_CRI_SOCKET = '/run/workd/workd.sock';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

export function defaultConfig(): Config {
  const userDir = process.env.XDG_RUNTIME_DIR ?? join(homedir(), '.local', 'run');
  const dataDir = process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share');
  return {
    // $WORKD_CRI_SOCKET, so the daemon and the workd CLI agree without flags (as crictl reads CONTAINER_RUNTIME_ENDPOINT).
    cri: { socket: process.env[CRI_SOCKET_ENV] || (isRoot ? ROOT_CRI_SOCKET : join(userDir, 'workd', 'workd.sock')) },
    state: { dir: isRoot ? '/var/lib/workd' : join(dataDir, 'workd') },
    log: { level: 'info' },
    dataplane: {
      listen: isRoot ? '[::]:443' : '[::]:8443',
      plaintext: false,
      cleartext: 'pods',
      http3: true,
    },
    executor: executorConfig(0, DEFAULT_LIMITS),
    limits: DEFAULT_LIMITS,
    images: { insecureRegistries: [], mirrors: {} },
    downstream: { workdHandler: 'workd' },
    // As containerd's stream server: loopback, any free port.
    streaming: { listen: '127.0.0.1:0' },
    metrics: { listen: '127.0.0.1:0' },
    // As containerd: on when root (NetworkReady false until a usable list is in conf_dir); a daemon run
    // by a user cannot make network namespaces, so its pods keep the node's address.
    cni: { enabled: isRoot, confDir: '/etc/cni/net.d', binDirs: ['/opt/cni/bin', '/usr/lib/cni'], ifname: 'eth0' },
  };
}

function executorConfig(workers: number, limits: Limits): Config['executor'] {
  return { workers, memoryLimitBytes: limits.executorMemoryLimitBytes, cpuMsPerCall: limits.executorCpuMsPerCall, maxInFlight: limits.executorMaxInFlight };
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

/** The table at a dotted section path (`dataplane.http2`), or {} when absent. */
function tableAt(root: Table, name: string): Table {
  // A key that itself holds dots (a registry host) is one table, not a path.
  let t: unknown = root;
  for (const part of name in root ? [name] : name.split('.')) {
    t = (t as Table)[part];
    if (t === undefined) return {};
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw invalidArgument(`config: [${name}] must be a table`);
  }
  return t as Table;
}

/**
 * A section's table; a key it does not know is refused, so a misspelt limit
 * is not silently ignored. Its limits (src/limits.ts) and sub-sections are known keys too.
 */
function section(root: Table, name: string, keys: readonly string[]): Table {
  const t = tableAt(root, name);
  const known = [...keys, ...limitsIn(name).keys(), ...LIMIT_SECTIONS.filter((s) => s.startsWith(`${name}.`) && !s.slice(name.length + 1).includes('.')).map((s) => s.slice(name.length + 1))];
  for (const k of Object.keys(t)) {
    if (known.includes(k)) continue;
    const moved = MOVED_KEYS[`${name}.${k}`];
    if (moved !== undefined) throw invalidArgument(`config: ${name}.${k} is now ${moved}`);
    throw invalidArgument(`config: unknown key ${name}.${k} (known: ${known.join(', ')})`);
  }
  return t;
}

/** Keys of earlier versions, refused with their new place rather than read under two names. */
const MOVED_KEYS: Readonly<Record<string, string>> = {
  'dataplane.http3_idle_timeout_ms': '[dataplane.http3] idle_timeout_ms',
  'dataplane.http3_max_connections': '[dataplane.http3] max_connections',
  'dataplane.http3_max_concurrent_requests': '[dataplane.http3] max_concurrent_requests',
  'dataplane.http3_max_field_section_size': '[dataplane.http3] max_field_section_size',
};

/** Every limit from its section of the file, checked, over `base`. */
function readLimits(root: Table, base: Limits): Limits {
  const out: Record<string, number> = { ...base };
  for (const sec of LIMIT_SECTIONS) {
    const t = tableAt(root, sec);
    for (const [key, name] of limitsIn(sec)) {
      const v = t[key];
      if (v !== undefined) out[name satisfies LimitName] = checkLimit(name, v);
    }
  }
  return out as Limits;
}

function take<T>(t: Table, sec: string, key: string, kind: 'string' | 'number' | 'boolean', fallback: T): T {
  const v = t[key];
  if (v === undefined) return fallback;
  if (typeof v !== kind) throw invalidArgument(`config: ${sec}.${key} must be a ${kind}`);
  return v as T;
}

/** `[executor] workers`: a whole number, 0 meaning one per core. */
function workerCount(t: Table, fallback: number): number {
  const v = take(t, 'executor', 'workers', 'number', fallback);
  if (!Number.isSafeInteger(v) || v < 0) throw invalidArgument(`config: executor.workers must be a whole number (0 = one per core), not ${v}`);
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

/** `[dataplane.tls.client_ca] "example.com" = "/path/ca.pem"`: host names or `*.` wildcards to CA bundle paths. */
function parseClientCa(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidArgument('config: dataplane.tls.client_ca must be a table of host = "CA bundle path"');
  const out: Record<string, string> = {};
  for (const [host, path] of Object.entries(v as Table)) {
    if (!isNamePattern(normalizeName(host))) throw invalidArgument(`config: dataplane.tls.client_ca: ${JSON.stringify(host)} is not a host name or a *. wildcard`);
    if (typeof path !== 'string' || path === '') throw invalidArgument(`config: dataplane.tls.client_ca."${host}" must be the path of a PEM CA bundle`);
    out[normalizeName(host)] = path;
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
  const known = new Set(['version', 'cri', 'state', 'log', 'dataplane', 'executor', 'images', 'streaming', 'metrics', 'downstream', 'cni']);
  for (const k of Object.keys(root)) if (!known.has(k)) throw invalidArgument(`config file ${path}: unknown section [${k}]`);
  const cri = section(root, 'cri', ['socket', 'socket_group']);
  const state = section(root, 'state', ['dir']);
  const log = section(root, 'log', ['level']);
  // `[dataplane] http3 = <bool>` is accepted as `[dataplane.http3] enabled = <bool>`.
  const rawDp = root.dataplane as Table | undefined;
  if (typeof rawDp?.http3 === 'boolean') root = { ...root, dataplane: { ...rawDp, http3: { enabled: rawDp.http3 } } };
  const dp = section(root, 'dataplane', ['listen', 'tls_cert', 'tls_key', 'plaintext', 'cleartext', 'tls']);
  const dtls = section(root, 'dataplane.tls', ['cert_dir', 'client_ca']);
  const h3 = section(root, 'dataplane.http3', ['enabled']);
  for (const sub of LIMIT_SECTIONS) if (sub.startsWith('dataplane.') && sub !== 'dataplane.http3') section(root, sub, []);
  const ex = section(root, 'executor', ['workers']);
  const im = section(root, 'images', ['insecure_registries', 'mirrors']);
  const ds = section(root, 'downstream', ['endpoint', 'workd_handler', 'cgroup_driver']);
  const cgroupDriver = take(ds, 'downstream', 'cgroup_driver', 'string', base.downstream.cgroupDriver as string | undefined);
  if (cgroupDriver !== undefined && cgroupDriver !== 'systemd' && cgroupDriver !== 'cgroupfs') {
    throw invalidArgument(`config: downstream.cgroup_driver must be "systemd" or "cgroupfs", not ${JSON.stringify(cgroupDriver)}`);
  }
  const cleartext = take(dp, 'dataplane', 'cleartext', 'string', base.dataplane.cleartext);
  if (!CLEARTEXT_MODES.includes(cleartext as Cleartext)) {
    throw invalidArgument(`config: dataplane.cleartext must be one of ${CLEARTEXT_MODES.map((m) => JSON.stringify(m)).join(', ')}, not ${JSON.stringify(cleartext)}`);
  }
  const st = section(root, 'streaming', ['listen']);
  const me = section(root, 'metrics', ['listen']);
  const cn = section(root, 'cni', ['enabled', 'conf_dir', 'bin_dir', 'extra_bin_dirs', 'ifname']);
  const level = take(log, 'log', 'level', 'string', base.log.level);
  if (!LOG_LEVELS.includes(level)) throw invalidArgument(`config: log.level must be one of ${LOG_LEVELS.join(', ')}`);
  const insecure = im.insecure_registries ?? base.images.insecureRegistries;
  if (!Array.isArray(insecure) || !insecure.every((x) => typeof x === 'string')) {
    throw invalidArgument('config: images.insecure_registries must be a list of strings');
  }
  const limits = readLimits(root, base.limits);
  return {
    cri: { socket: take(cri, 'cri', 'socket', 'string', base.cri.socket), socketGroup: take(cri, 'cri', 'socket_group', 'string', base.cri.socketGroup) },
    state: { dir: take(state, 'state', 'dir', 'string', base.state.dir) },
    log: { level },
    dataplane: {
      listen: take(dp, 'dataplane', 'listen', 'string', base.dataplane.listen),
      tlsCert: take(dp, 'dataplane', 'tls_cert', 'string', base.dataplane.tlsCert),
      tlsKey: take(dp, 'dataplane', 'tls_key', 'string', base.dataplane.tlsKey),
      tlsCertDir: take(dtls, 'dataplane.tls', 'cert_dir', 'string', base.dataplane.tlsCertDir),
      tlsClientCa: dtls.client_ca === undefined ? base.dataplane.tlsClientCa : parseClientCa(dtls.client_ca),
      plaintext: take(dp, 'dataplane', 'plaintext', 'boolean', base.dataplane.plaintext),
      cleartext: cleartext as Cleartext,
      http3: take(h3, 'dataplane.http3', 'enabled', 'boolean', base.dataplane.http3),
    },
    executor: executorConfig(workerCount(ex, base.executor.workers), limits),
    limits,
    images: { insecureRegistries: insecure as string[], mirrors: im.mirrors === undefined ? base.images.mirrors : parseMirrors(im.mirrors) },
    downstream: {
      endpoint: take(ds, 'downstream', 'endpoint', 'string', base.downstream.endpoint),
      workdHandler: take(ds, 'downstream', 'workd_handler', 'string', base.downstream.workdHandler),
      cgroupDriver,
    },
    streaming: { listen: take(st, 'streaming', 'listen', 'string', base.streaming.listen) },
    metrics: { listen: take(me, 'metrics', 'listen', 'string', base.metrics.listen) },
    cni: cniConfig(cn, base.cni),
  };
}

/** `[cni]`: bin_dir (one) and extra_bin_dirs (a list) make the plugin search path, as containerd's bin_dir plus Debian's. */
function cniConfig(t: Table, base: Config['cni']): Config['cni'] {
  const extra = t.extra_bin_dirs ?? base.binDirs.slice(1);
  if (!Array.isArray(extra) || !extra.every((x) => typeof x === 'string' && x.startsWith('/'))) throw invalidArgument('config: cni.extra_bin_dirs must be a list of absolute paths');
  const binDir = take(t, 'cni', 'bin_dir', 'string', base.binDirs[0] ?? '/opt/cni/bin');
  const confDir = take(t, 'cni', 'conf_dir', 'string', base.confDir);
  for (const [k, v] of [['bin_dir', binDir], ['conf_dir', confDir]] as const) if (!v.startsWith('/')) throw invalidArgument(`config: cni.${k} must be an absolute path, not ${JSON.stringify(v)}`);
  const ifname = take(t, 'cni', 'ifname', 'string', base.ifname);
  // Linux interface names: at most 15 bytes, no '/' or whitespace.
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(ifname)) throw invalidArgument(`config: cni.ifname ${JSON.stringify(ifname)} is not an interface name`);
  return { enabled: take(t, 'cni', 'enabled', 'boolean', base.enabled), confDir, binDirs: [binDir, ...(extra as string[])], ifname };
}
