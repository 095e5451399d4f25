// The built-in services' own message codecs and descriptors, loaded once from
// proto/grpc/ with proto-loader (the same loader the CRI server uses).
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import protoLoader from '@grpc/proto-loader';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, type DescriptorProto, type FieldDescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';

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
  let files: readonly Uint8Array[] = [];
  for (const [name, m] of Object.entries(svc)) {
    methods.set(name, {
      request: { decode: (b) => m.requestDeserialize(Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as Record<string, unknown>, encode: (v) => m.requestSerialize(v) },
      response: { decode: (b) => m.responseDeserialize(Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as Record<string, unknown>, encode: (v) => m.responseSerialize(v) },
    });
    files = m.requestType.fileDescriptorProtos;
  }
  // protobufjs names files after their package (`grpc_health_v1.proto`); reflection
  // clients show these names, so give the service's file its real path.
  const pkgName = serviceName.slice(0, serviceName.lastIndexOf('.'));
  const path = relative(PROTO_ROOT, file).split('\\').join('/');
  const fds = files.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
  for (const fd of fds) nameMapEntries(fd.messageType);
  qualifyTypeNames(fds);
  files = fds.map((fd) => {
    if (fd.package === pkgName) fd.name = path;
    return toBinary(FileDescriptorProtoSchema, fd);
  });
  return { name: serviceName, methods, files };
}

/**
 * protobufjs names a map field's entry type after the field (`Statuses`);
 * protoc names it `StatusesEntry`, and protobuf's own descriptor pools (Python,
 * C++, Go) refuse any other name ("map_entry should not be set explicitly").
 * Runs before qualifyTypeNames, while the fields' type names are still relative.
 */
function nameMapEntries(messages: readonly DescriptorProto[]): void {
  for (const m of messages) {
    for (const f of m.field) {
      const entry = m.nestedType.find((n) => n.name === f.typeName && n.options?.mapEntry === true);
      if (entry === undefined) continue;
      const name = `${f.name.split('_').map((p) => p.charAt(0).toUpperCase() + p.slice(1)).join('')}Entry`;
      entry.name = name;
      f.typeName = name;
    }
    nameMapEntries(m.nestedType);
  }
}

/**
 * protobufjs writes a field's type name relative to its scope (`ServingStatus`
 * inside HealthCheckResponse); protoc, and every client that builds types from
 * reflection (grpcurl, `workd call`), expects it fully qualified
 * (`.grpc.health.v1.HealthCheckResponse.ServingStatus`). Resolved the way
 * protoc resolves them: innermost scope first, then outwards.
 */
export function qualifyTypeNames(fds: readonly FileDescriptorProto[]): void {
  const known = new Set<string>();
  const collect = (scope: string, messages: readonly DescriptorProto[], enums: readonly { name: string }[]) => {
    for (const e of enums) known.add(`${scope}.${e.name}`);
    for (const m of messages) {
      const name = `${scope}.${m.name}`;
      known.add(name);
      collect(name, m.nestedType, m.enumType);
    }
  };
  const scopeOf = (fd: FileDescriptorProto) => (fd.package === '' ? '' : `.${fd.package}`);
  for (const fd of fds) collect(scopeOf(fd), fd.messageType, fd.enumType);
  const resolve = (scope: string, name: string): string => {
    for (let s = scope; ; s = s.slice(0, s.lastIndexOf('.'))) {
      if (known.has(`${s}.${name}`)) return `${s}.${name}`;
      if (s === '') return name;
    }
  };
  // Only relative names are rewritten: descriptor.proto is proto2, so even
  // assigning an empty string would mark an unset field as present.
  const relative = (name: string) => name !== '' && !name.startsWith('.');
  const fields = (scope: string, list: readonly FieldDescriptorProto[]) => {
    for (const f of list) {
      if (relative(f.typeName)) f.typeName = resolve(scope, f.typeName);
      if (relative(f.extendee)) f.extendee = resolve(scope, f.extendee);
    }
  };
  const messages = (scope: string, list: readonly DescriptorProto[]) => {
    for (const m of list) {
      const name = `${scope}.${m.name}`;
      fields(name, m.field);
      fields(name, m.extension);
      messages(name, m.nestedType);
    }
  };
  for (const fd of fds) {
    const scope = scopeOf(fd);
    messages(scope, fd.messageType);
    fields(scope, fd.extension);
    for (const svc of fd.service) {
      for (const m of svc.method) {
        if (relative(m.inputType)) m.inputType = resolve(scope, m.inputType);
        if (relative(m.outputType)) m.outputType = resolve(scope, m.outputType);
      }
    }
  }
}
