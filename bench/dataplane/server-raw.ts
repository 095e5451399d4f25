// Baseline (b): the smallest gRPC-shaped echo node:http2 can do — collect the
// body, send it back with grpc-status in trailers. The floor for Node.
import http2 from 'node:http2';

const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
server.on('stream', (stream) => {
  const chunks: Buffer[] = [];
  stream.on('error', () => {});
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`ready ${typeof a === 'object' && a ? a.port : 0}\n`);
});
process.on('SIGTERM', () => process.exit(0));
