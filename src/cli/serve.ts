// `workd serve`: the daemon. Config = embedded defaults < --config FILE < flags.
import type { Command } from 'commander';
import { LOG_LEVELS, defaultConfig, isRoot, loadConfigFile, parseListen, type Config, type LogLevel } from '../config.js';
import { startDaemon, type ReadyInfo } from '../daemon.js';
import { invalidArgument } from '../errors.js';
import { createLogger } from '../observability/log.js';

export interface ServeFlags {
  criSocket?: string;
  stateDir?: string;
  listen?: string;
  config?: string;
  logLevel?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCertDir?: string;
  plaintext?: boolean;
}

/** Applies the flags over the file over the defaults. */
export function resolveConfig(flags: ServeFlags): Config {
  let config = defaultConfig();
  if (flags.config) config = loadConfigFile(flags.config, config);
  if (flags.logLevel !== undefined && !LOG_LEVELS.includes(flags.logLevel as LogLevel)) {
    throw invalidArgument(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  if (flags.listen !== undefined) parseListen(flags.listen);
  return {
    ...config,
    cri: { ...config.cri, socket: flags.criSocket ?? config.cri.socket },
    state: { dir: flags.stateDir ?? config.state.dir },
    log: { level: (flags.logLevel as LogLevel | undefined) ?? config.log.level },
    dataplane: {
      ...config.dataplane,
      listen: flags.listen ?? config.dataplane.listen,
      tlsCert: flags.tlsCert ?? config.dataplane.tlsCert,
      tlsKey: flags.tlsKey ?? config.dataplane.tlsKey,
      tlsCertDir: flags.tlsCertDir ?? config.dataplane.tlsCertDir,
      plaintext: flags.plaintext ?? config.dataplane.plaintext,
    },
  };
}

/** The human-readable banner printed before the ready line. */
export function banner(config: Config, ready: ReadyInfo, configFile: string | undefined): string {
  const dp = ready.tcpPort ? `${config.dataplane.listen} (TCP ${ready.tcpPort} HTTP/2${ready.udpPort ? `, UDP ${ready.udpPort} HTTP/3` : ''})` : config.dataplane.listen;
  return [
    `workd ${ready.version}: Kubernetes runtime (CRI v1) for WebAssembly gRPC components`,
    `  CRI socket   ${ready.criSocket}`,
    `  state dir    ${ready.stateDir}`,
    `  data plane   ${dp}${config.dataplane.plaintext ? ' plaintext' : ''}`,
    ...(typeof ready.tlsCert === 'string' ? [`  TLS          ${ready.tlsCert}${config.dataplane.tlsCert === undefined ? ' (generated: clients trust it as the CA of localhost and every served domain, workd call --cacert)' : ''}${config.dataplane.tlsCertDir !== undefined ? `, by SNI from ${config.dataplane.tlsCertDir}` : ''}`] : []),
    `  pod network  ${podNetwork(ready.cni)}`,
    `  config       ${configFile ?? '(embedded defaults)'}${isRoot ? '' : ', running without root'}`,
    `  logs         JSON lines on stderr, level ${config.log.level}`,
  ].join('\n');
}

function podNetwork(cni: unknown): string {
  if (typeof cni !== 'object' || cni === null) return "the node's address (CNI off; [cni] enabled = true to give pods their own)";
  const c = cni as { confDir: string; ready: boolean; why?: string };
  if (c.ready) return `CNI, configuration from ${c.confDir}`;
  return `CNI, NOT READY: pods are refused until ${c.confDir} holds a usable network list (${c.why ?? 'none found'}); [cni] enabled = false gives pods the node's address`;
}

export async function serve(flags: ServeFlags): Promise<void> {
  const config = resolveConfig(flags);
  const log = createLogger(config.log.level);
  let daemon;
  try {
    daemon = await startDaemon(config, log);
  } catch (err) {
    log.fatal({ err }, 'start failed');
    log.flush();
    process.stderr.write(`workd: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(`${banner(config, daemon.ready, flags.config)}\nworkd ready ${JSON.stringify(daemon.ready)}\n`);
  log.info({ ...daemon.ready }, 'workd ready');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting at once');
      log.flush();
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    daemon.close().then(
      () => {
        log.info('stopped');
        log.flush(() => process.exit(0));
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        log.flush(() => process.exit(1));
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Node 20 exits on an unhandled rejection; one stray promise in one call's path must not take
  // down every pod on the node, so it is logged as the bug it is and the daemon keeps serving.
  process.on('unhandledRejection', (reason: unknown) => {
    log.error({ err: reason }, 'unhandled promise rejection (a workd bug; please report it)');
  });
}

export function registerServeCommand(program: Command): void {
  const d = defaultConfig();
  program
    .command('serve')
    .description('run the daemon: the CRI on a unix socket and the gRPC data plane')
    .option('--cri-socket <path>', `CRI unix socket (default: ${d.cri.socket})`)
    .option('--state-dir <dir>', `images and state (default: ${d.state.dir})`)
    .option('--listen <host:port>', `data plane address, TCP for HTTP/2 and UDP for HTTP/3 (default: ${d.dataplane.listen})`)
    .option('--config <file>', 'TOML config file (containerd style); flags override it')
    .option('--log-level <level>', `${LOG_LEVELS.join('|')} (default: ${d.log.level})`)
    .option('--tls-cert <file>', 'data plane TLS certificate (PEM)')
    .option('--tls-key <file>', 'data plane TLS private key (PEM)')
    .option('--tls-cert-dir <dir>', 'per-domain certificates picked by SNI: <dir>/<name>/tls.crt + tls.key, reloaded on change')
    .option('--plaintext', 'serve the data plane as cleartext HTTP/2 (h2c), no HTTP/3')
    .action((flags: ServeFlags) => serve(flags));
}
