// A gRPC client run inside another network namespace (`ip netns exec NS node
// dist/test/helpers/netns-grpc-client.js '<json>'`): each call on a connection
// of its own (as a Service's clients open them), plaintext HTTP/2, answers as
// one JSON line per call: {"ok": "<response as text>"} or {"code": N, "details": "..."}.
//
//   { "calls": [{ "target": "10.1.2.3:8443", "authority": "example.com", "path": "/pkg.Svc/Method", "data": "text" }] }
import * as grpc from '@grpc/grpc-js';

interface CallSpec {
  readonly target: string;
  readonly authority: string;
  readonly path: string;
  readonly data: string;
}

async function call(c: CallSpec): Promise<Record<string, unknown>> {
  const client = new grpc.Client(c.target, grpc.credentials.createInsecure(), { 'grpc.default_authority': c.authority });
  try {
    return await new Promise((resolve) =>
      client.makeUnaryRequest(c.path, (x: Buffer) => x, (x: Buffer) => x, Buffer.from(c.data), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, res) =>
        resolve(err ? { code: err.code, details: err.details } : { ok: res!.toString('latin1') }),
      ),
    );
  } finally {
    client.close();
  }
}

const { calls } = JSON.parse(process.argv[2] ?? '{"calls":[]}') as { calls: CallSpec[] };
for (const c of calls) process.stdout.write(`${JSON.stringify(await call(c))}\n`);
