// Interop with gRPC's C core (Debian's python3-grpcio, its own HTTP/2 stack):
// TLS with the node's generated certificate, routing and version pins,
// gzip, text and binary metadata, statuses, deadlines, reflection and health.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { criClient, type CriClient } from '../helpers/cri-client.js';
import { startComponent } from './dataplane-fixture.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const haveGrpcio = spawnSync(PYTHON, ['-c', 'import grpc'], { stdio: 'ignore' }).status === 0;

const CLIENT = String.raw`
import grpc, json, sys
addr, cert = sys.argv[1], sys.argv[2]
def msg(t):
    b = t.encode()
    n, pre = len(b), b''
    while n > 0x7f:
        pre += bytes([(n & 0x7f) | 0x80]); n >>= 7
    return b'\x0a' + pre + bytes([n]) + b
def text(m):
    i, n, s = 1, 0, 0
    while True:
        c = m[i]; i += 1; n |= (c & 0x7f) << s; s += 7
        if c < 0x80: break
    return m[i:i + n].decode()
opts = [('grpc.default_authority', 'example.com'), ('grpc.ssl_target_name_override', 'localhost')]
ch = grpc.secure_channel(addr, grpc.ssl_channel_credentials(open(cert, 'rb').read()), options=opts)
out = {}
which = ch.unary_unary('/foo.Bar/Which')
out['which'] = text(which(msg(''), timeout=10))
out['pinned'] = text(which(msg(''), metadata=[('workd-version', '~1.2')], timeout=10))
big = 'y' * 20000
out['gzip'] = text(ch.unary_unary('/foo.Bar/Echo')(msg(big), timeout=10, compression=grpc.Compression.Gzip)) == big
r, call = ch.unary_unary('/foo.Bar/Meta').with_call(msg(''), metadata=[('x-user', 'bob'), ('x-trace-bin', b'\x00\x01\xff')], timeout=10)
out['trailers'] = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in call.trailing_metadata() if k.startswith('x-')}
def code(method, timeout=10):
    try:
        ch.unary_unary(method)(msg(''), timeout=timeout)
        return ['OK', '']
    except grpc.RpcError as e:
        return [e.code().name, e.details()]
out['fail'] = code('/foo.Bar/Fail')
out['spin'] = code('/foo.Bar/Spin', 0.3)[0]
out['missing'] = code('/foo.Bar/Missing')[0]
out['unknown'] = code('/foo.Nope/Which')[0]
refl = ch.stream_stream('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo')
resps = list(refl(iter([b'\x3a\x00']), timeout=10))
out['reflection'] = [s for s in ['foo.Bar', 'grpc.health.v1.Health'] if s.encode() in resps[0]]
out['health'] = ch.unary_unary('/grpc.health.v1.Health/Check')(b'\x0a\x07foo.Bar', timeout=10).hex()
print(json.dumps(out))
`;

let d: TestDaemon;
let cri: CriClient;

before(async () => {
  if (!haveGrpcio) return;
  d = await startDaemon({ logLevel: 'info' });
  cri = criClient(d.criSocket);
  await startComponent(cri, 'example.com:foo.Bar@1.2.3');
  await startComponent(cri, 'example.com:foo.Bar@1.3.0');
});

after(async () => {
  cri?.close();
  await d?.stop();
});

test('a gRPC C-core client (python3-grpcio) sees the same behaviour', { skip: !haveGrpcio && 'python3-grpcio (Debian) is not installed' }, async () => {
  const { stdout } = await run(PYTHON, ['-c', CLIENT, `127.0.0.1:${d.ready.tcpPort}`, join(d.stateDir, 'tls', 'cert.pem')], { timeout: 60_000 });
  const out = JSON.parse(stdout);
  assert.equal(out.which, 'example.com:foo.Bar@1.3.0');
  assert.equal(out.pinned, 'example.com:foo.Bar@1.2.3');
  assert.equal(out.gzip, true);
  assert.deepEqual(out.trailers, { 'x-user-echo': 'bob', 'x-trace-bin': '0001ff' });
  assert.deepEqual(out.fail, ['FAILED_PRECONDITION', 'nope: ü']);
  assert.equal(out.spin, 'DEADLINE_EXCEEDED');
  assert.equal(out.missing, 'UNIMPLEMENTED');
  assert.equal(out.unknown, 'UNIMPLEMENTED');
  assert.deepEqual(out.reflection, ['foo.Bar', 'grpc.health.v1.Health']);
  assert.equal(out.health, '0801', 'HealthCheckResponse { status: SERVING }');
});
