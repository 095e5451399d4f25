// The gRPC layer alone (src/dataplane/grpc/): handler.open → body data → end
// → route → a JavaScript echo runtime → answer, into a response that sends
// nothing. No sockets and no node:http2, one thread: its CPU time per call
// moves little with the machine's load, unlike h2load's figures (run.ts),
// so it shows what a change to the layer costs or saves.
//
//   npx tsc -p . && node dist/bench/dataplane/layer.js [--rounds 10]
import { parseArgs } from 'node:util';
import { createGrpcHandler } from '../../src/dataplane/grpc/handler.js';
import { Router } from '../../src/dataplane/router.js';
import { CallStats } from '../../src/dataplane/call-stats.js';
import type { UniversalHeaders, UniversalResponse } from '../../src/dataplane/universal.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { createLogger } from '../../src/observability/log.js';
import { JsRuntime, StaticRouteTable } from '../../test/helpers/static-routes.js';
import { ECHO_FRAME } from './echo-message.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '10' } } });
const BATCH = 256; // calls in flight, as h2load's 16 connections x 16 streams
const BATCHES = 200;

const routes = new StaticRouteTable();
const runtime = new JsRuntime('c0', { Echo: (call) => ({ status: 0, message: '', response: call.request, trailers: [] }) });
routes.add('127.0.0.1', 'foo.Bar0', { id: 'c0', version: '1.0.0', runtime, descriptorSet: new Uint8Array(0) });
const handler = createGrpcHandler({ router: new Router(routes), limits: DEFAULT_LIMITS, log: createLogger('error'), stats: new CallStats() });

// What h2load sends, as node hands it over: the flat list and the header object (a dictionary).
const FIELDS = [':method', 'POST', ':scheme', 'http', ':authority', '127.0.0.1:40000', ':path', '/foo.Bar0/Echo', 'user-agent', 'h2load nghttp2/1.52.0', 'content-type', 'application/grpc', 'te', 'trailers', 'content-length', String(ECHO_FRAME.length)];
function headersOf(fields: readonly string[]): UniversalHeaders {
  const h: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i < fields.length; i += 2) h[fields[i]!] = fields[i + 1]!;
  return h;
}

let answered = 0;
let failed = 0;
const res: UniversalResponse = {
  onDrain: null,
  sendHeaders() {},
  sendData: () => true,
  sendTrailers(t) {
    if (t['grpc-status'] !== '0') failed++;
    answered++;
  },
  sendTrailersOnly() {
    failed++;
    answered++;
  },
  reset() {
    failed++;
  },
};
const body = Buffer.from(ECHO_FRAME);

async function batch(): Promise<void> {
  for (let i = 0; i < BATCH; i++) {
    const b = handler.open({ method: 'POST', authority: '127.0.0.1:40000', path: '/foo.Bar0/Echo', headers: headersOf(FIELDS), fields: FIELDS, protocol: 'h2c' }, res);
    b.data(body.subarray(0));
    b.end();
  }
  await new Promise((r) => setImmediate(r));
}

for (let i = 0; i < BATCHES; i++) await batch(); // warm-up (JIT)
const perCall: number[] = [];
for (let r = 0; r < Number(args.rounds); r++) {
  const t = process.cpuUsage();
  const before = answered;
  for (let i = 0; i < BATCHES; i++) await batch();
  const u = process.cpuUsage(t);
  perCall.push((u.user + u.system) / (answered - before));
}
if (failed > 0) throw new Error(`${failed} calls did not answer grpc-status 0`);
perCall.sort((a, b) => a - b);
console.log(`gRPC layer, ${BATCH * BATCHES} calls a round, ${perCall.length} rounds: least ${perCall[0]!.toFixed(2)} µs CPU per call, median ${perCall[perCall.length >> 1]!.toFixed(2)} µs`);
