// The built-in services' own message codecs and descriptors, loaded once from
// proto/grpc/ with proto-loader (the same loader the CRI server uses).
import { fileURLToPath } from 'node:url';
import protoLoader from '@grpc/proto-loader';
import { toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { compileProtoFiles } from '../../images/proto-compile.js';

// dist/src/dataplane/builtin/ → repository root.
export const PROTO_ROOT = fileURLToPath(new URL('../../../../proto/', import.meta.url));

const OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_ROOT] };

export interface Codec<T = Record<string, unknown>> {
  decode(bytes: Uint8Array): T;
  encode(value: T): Uint8Array;
}

export interface LoadedService {
  /** Fully-qualified service name. */
  readonly name: string;
  /** method name → codecs of its request and response. */
  readonly methods: ReadonlyMap<string, { request: Codec; response: Codec }>;
  /** Serialized FileDescriptorProtos of the service's file and its imports. */
  readonly files: readonly Uint8Array[];
}

export function loadService(file: string, serviceName: string): LoadedService {
  const pkg = protoLoader.loadSync(file, OPTIONS);
  const svc = pkg[serviceName] as protoLoader.ServiceDefinition | undefined;
  if (svc === undefined) throw new Error(`${file} defines no service ${serviceName}`);
  const methods = new Map<string, { request: Codec; response: Codec }>();
  for (const [name, m] of Object.entries(svc)) {
    methods.set(name, {
      request: { decode: (b) => m.requestDeserialize(Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as Record<string, unknown>, encode: (v) => m.requestSerialize(v) },
      response: { decode: (b) => m.responseDeserialize(Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as Record<string, unknown>, encode: (v) => m.responseSerialize(v) },
    });
  }
  // proto-loader's own descriptors (requestType.fileDescriptorProtos) name files after their
  // package and write relative type names and oddly named map entries, which
  // reflection clients refuse; the image compiler writes them as protoc does.
  const files = compileProtoFiles([file], { includeDirs: [PROTO_ROOT] }).file.map((fd) => toBinary(FileDescriptorProtoSchema, fd));
  return { name: serviceName, methods, files };
}
