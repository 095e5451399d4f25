// A data plane serving the JavaScript `foo.Bar` echo service (the data plane's
// own test service, test/fixtures/echo/echo.ts) over HTTP/2 and HTTP/3 at once:
// the real shared gRPC layer, the real QUIC transport, a self-signed
// certificate generated the way the daemon does. For the HTTP/3 integration
// tests and the benchmark; the daemon-level tests use real guests instead.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { defaultConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/observability/log.js';
import { startDataPlane, type DataPlane } from '../../src/dataplane/server.js';
import { StaticRouteTable } from './static-routes.js';
import { echoDescriptorSet, echoRuntime } from '../fixtures/echo/echo.js';
import { withLimits, type LimitName } from '../../src/limits.js';

export interface EchoPlane {
  readonly dp: DataPlane;
  /** TCP and UDP port (the same number). */
  readonly port: number;
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  readonly certPath: string;
  /** Calls whose sleep was cancelled (deadline or reset reached the service). */
  readonly cancelled: () => number;
  close(): Promise<void>;
}

/** Domains served: example.com and localhost (what clients without an authority option send). */
export async function startEchoPlane(opts: { limits?: Partial<Record<LimitName, number>>; log?: Logger; maxMessageBytes?: number } = {}): Promise<EchoPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'workd-h3-'));
  const routes = new StaticRouteTable();
  let cancelled = 0;
  const set = echoDescriptorSet();
  for (const domain of ['example.com', 'localhost']) {
    const id = `${domain}:foo.Bar@1.0.0#0`;
    routes.add(domain, 'foo.Bar', { id, version: '1.0.0', runtime: echoRuntime(id, '', { onCancelled: () => cancelled++ }), descriptorSet: set });
  }
  const log = opts.log ?? createLogger('silent');
  const config = { ...defaultConfig().dataplane, listen: '[::]:0', plaintext: false, http3: true };
  const limits = withLimits({ maxMessageBytes: opts.maxMessageBytes ?? 16 * 1024 * 1024, ...opts.limits });
  const dp = await startDataPlane({ config, routes, log, stateDir: dir, limits });
  const certPath = dp.tls!.certPath;
  const certPem = await readFile(certPath);
  const keyPem = await readFile(join(dirname(certPath), 'key.pem'));
  return {
    dp,
    port: dp.udpPort!,
    certPem,
    keyPem,
    certPath,
    cancelled: () => cancelled,
    async close() {
      await dp.close(200);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
