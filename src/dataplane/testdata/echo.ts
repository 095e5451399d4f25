// The `foo.Bar` test service in JavaScript (testdata/echo.proto): codecs, a
// FileDescriptorSet as an image would carry, and a JsRuntime implementing it.
// Echo understands a few commands in `text` so tests can ask for behaviours:
//   sleep:MS   answer after MS milliseconds (or CANCELLED when the call is aborted)
//   status:N   answer with gRPC status N and message "asked for N"
//   big:N      answer with an N-byte blob
import { fileURLToPath } from 'node:url';
import protoLoader from '@grpc/proto-loader';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { GuestCall, GuestResult, MetadataEntry } from '../../wasm/api.js';
import { JsRuntime } from '../static-routes.js';

export const ECHO_PROTO = fileURLToPath(new URL('../../../../src/dataplane/testdata/echo.proto', import.meta.url));
export const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true } as const;

export const echoPackage = protoLoader.loadSync(ECHO_PROTO, LOADER_OPTIONS);
const bar = echoPackage['foo.Bar'] as protoLoader.ServiceDefinition;
export const addFloats = bar.AddFloats!;
export const echo = bar.Echo!;

/**
 * A binary FileDescriptorSet holding echo.proto and its import, shaped like
 * `protoc --include_imports` output: real file paths and dependency lists
 * (protobufjs, behind proto-loader, names files after packages and drops imports).
 */
export function echoDescriptorSet(): Uint8Array {
  const parts: Buffer[] = [];
  for (const bytes of addFloats.requestType.fileDescriptorProtos) {
    const fd = fromBinary(FileDescriptorProtoSchema, bytes);
    if (fd.package === 'foo') {
      fd.name = 'foo/echo.proto';
      fd.dependency = ['google/protobuf/timestamp.proto'];
    } else if (fd.package === 'google.protobuf') {
      fd.name = 'google/protobuf/timestamp.proto';
    }
    const f = toBinary(FileDescriptorProtoSchema, fd);
    parts.push(Buffer.from([0x0a]), varint(f.length), Buffer.from(f));
  }
  return Buffer.concat(parts);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

interface EchoMsg {
  text: string;
  blob: Buffer;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    // Like the executor, remove the listener when done: the data plane reuses signals that never fired.
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface EchoRuntimeHooks {
  /** Called with every aborted sleep (to observe that cancellation reached the guest). */
  onCancelled?: () => void;
}

export function echoRuntime(id: string, tag = '', hooks: EchoRuntimeHooks = {}): JsRuntime {
  return new JsRuntime(id, {
    AddFloats: (call: GuestCall): GuestResult => {
      const p = addFloats.requestDeserialize(Buffer.from(call.request)) as { x: number; y: number };
      return { status: 0, message: '', response: addFloats.responseSerialize({ value: p.x + p.y }), trailers: [['served-by', id]] };
    },
    Echo: async (call: GuestCall): Promise<GuestResult> => {
      const m = echo.requestDeserialize(Buffer.from(call.request)) as EchoMsg;
      const trailers: MetadataEntry[] = [['served-by', id], ...call.metadata.filter(([k]) => k.startsWith('x-'))];
      const [cmd, arg] = m.text.split(':');
      if (cmd === 'sleep') {
        if (!(await sleep(Number(arg), call.signal))) {
          hooks.onCancelled?.();
          return { status: 1, message: 'cancelled', trailers: [] };
        }
      } else if (cmd === 'status') {
        return { status: Number(arg), message: `asked for ${arg}`, trailers };
      } else if (cmd === 'big') {
        return { status: 0, message: '', response: echo.responseSerialize({ text: '', blob: Buffer.alloc(Number(arg), 7) }), trailers };
      }
      return { status: 0, message: '', response: echo.responseSerialize({ ...m, text: tag + m.text }), trailers };
    },
  });
}
