// Baseline (a): a plain @grpc/grpc-js server doing the echo in JavaScript.
import * as grpc from '@grpc/grpc-js';
import { echoPackage } from '../../test/fixtures/echo/echo.js';

const server = new grpc.Server();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const svc = (grpc.loadPackageDefinition(echoPackage) as any).foo.Bar.service as grpc.ServiceDefinition;
server.addService(svc, {
  Echo: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, call.request),
  AddFloats: (call: grpc.ServerUnaryCall<{ x: number; y: number }, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { value: call.request.x + call.request.y }),
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`ready ${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
