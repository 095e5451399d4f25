// The node's own HTTP listener for operators (loopback by default): Prometheus
// scrapes GET /metrics; GET /debug/log-levels shows each subsystem's log level
// and PUT /debug/log-levels?subsystem=cri&level=debug changes one at run time
// (subsystem=* for all). It is apart from the data plane so that a scrape never
// competes with calls for a port, TLS or limits.
import { createServer, type Server } from 'node:http';
import { listenHttp } from '../util/listen-http.js';
import { WorkdError } from '../errors.js';
import type { LogLevels, Logger } from './log.js';
import type { Metrics } from './metrics.js';

export interface MetricsServer {
  /** e.g. http://127.0.0.1:9464 */
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(o: { listen: string; metrics: Metrics; levels: LogLevels; log: Logger }): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type });
      res.end(body);
    };
    if (url.pathname === '/metrics' && req.method === 'GET') {
      o.metrics.text().then(
        (text) => send(200, text, o.metrics.registry.contentType),
        (err: Error) => send(500, `collecting metrics failed: ${err.message}\n`),
      );
      return;
    }
    if (url.pathname === '/debug/log-levels') {
      if (req.method === 'PUT' || req.method === 'POST') {
        const subsystem = url.searchParams.get('subsystem') ?? '';
        const level = url.searchParams.get('level') ?? '';
        try {
          o.levels.set(subsystem, level);
        } catch (err) {
          return send(400, `${(err as WorkdError).message}\n`);
        }
        o.log.info({ subsystem, level }, 'log level changed');
      } else if (req.method !== 'GET') {
        return send(405, 'use GET, or PUT ?subsystem=NAME&level=LEVEL\n');
      }
      return send(200, JSON.stringify(o.levels.levels(), null, 2) + '\n', 'application/json');
    }
    send(404, 'not found: GET /metrics, GET|PUT /debug/log-levels\n');
  });
  const url = await listenHttp(server, o.listen);
  o.log.info({ url: `${url}/metrics` }, 'metrics listening');
  return {
    url,
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}
