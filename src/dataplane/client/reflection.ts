// Descriptors from a server's reflection service (v1, falling back to v1alpha),
// so calls can be made from JSON without .proto files.
import { create, createFileRegistry, fromBinary, type DescMethod, type DescService, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type DescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { Code, WorkdError } from '../../errors.js';
import { reflectionProto } from '../builtin/reflection.js';
import type { ClientCallOptions, GrpcTransport } from './transport.js';

interface ReflectionResponse {
  message_response?: string;
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  list_services_response?: { service: Array<{ name: string }> };
  error_response?: { error_code: number; error_message: string };
}

async function ask(transport: GrpcTransport, request: Record<string, unknown>, opts: ClientCallOptions): Promise<ReflectionResponse> {
  let last: WorkdError | undefined;
  for (const version of ['v1', 'v1alpha'] as const) {
    const proto = reflectionProto(version);
    const codec = proto.methods.get('ServerReflectionInfo')!;
    const r = await transport.call(`/${proto.name}/ServerReflectionInfo`, [codec.request.encode(request)], opts);
    if (r.status === Code.UNIMPLEMENTED) {
      last = new WorkdError(Code.UNIMPLEMENTED, `the server has no reflection service (${r.message})`);
      continue;
    }
    if (r.status !== 0) throw new WorkdError(r.status as Code, `reflection failed: ${r.message}`);
    if (r.messages.length === 0) throw new WorkdError(Code.INTERNAL, 'reflection answered no message');
    const res = codec.response.decode(r.messages[0]!) as ReflectionResponse;
    if (res.error_response) throw new WorkdError(res.error_response.error_code as Code, `reflection: ${res.error_response.error_message}`);
    return res;
  }
  throw last!;
}

export async function listServices(transport: GrpcTransport, opts: ClientCallOptions = {}): Promise<string[]> {
  const res = await ask(transport, { host: '', list_services: '' }, opts);
  return (res.list_services_response?.service ?? []).map((s) => s.name);
}

/** A registry holding the file that defines `symbol` and everything it imports. */
export async function registryFor(transport: GrpcTransport, symbol: string, opts: ClientCallOptions = {}): Promise<FileRegistry> {
  const files = new Map<string, FileDescriptorProto>();
  const res = await ask(transport, { host: '', file_containing_symbol: symbol }, opts);
  const queue = res.file_descriptor_response?.file_descriptor_proto ?? [];
  for (const b of queue) {
    const fd = fromBinary(FileDescriptorProtoSchema, b);
    files.set(fd.name, fd);
  }
  const fill = (m: DescriptorProto): void => {
    for (const f of m.field) if (!f.jsonName) f.jsonName = jsonNameOf(f.name);
    m.nestedType.forEach(fill);
  };
  // Servers may send only the file itself; fetch imports that are still missing.
  for (let changed = true; changed; ) {
    changed = false;
    for (const fd of [...files.values()]) {
      for (const dep of fd.dependency) {
        if (files.has(dep)) continue;
        const r = await ask(transport, { host: '', file_by_filename: dep }, opts);
        for (const b of r.file_descriptor_response?.file_descriptor_proto ?? []) {
          const d = fromBinary(FileDescriptorProtoSchema, b);
          files.set(d.name, d);
        }
        if (!files.has(dep)) throw new WorkdError(Code.NOT_FOUND, `reflection has no file ${dep} (imported by ${fd.name})`);
        changed = true;
      }
    }
  }
  // Descriptor sets made without json_name (protoc's --descriptor_set_out, protobufjs) get protoc's default.
  for (const fd of files.values()) fd.messageType.forEach(fill);
  try {
    return createFileRegistry(create(FileDescriptorSetSchema, { file: [...files.values()] }));
  } catch (err) {
    throw new WorkdError(Code.INTERNAL, `the server's descriptors do not form a valid set: ${(err as Error).message}`);
  }
}

/** Resolves `package.Service/Method` (or `package.Service.Method`) to its descriptors. */
export function parseMethodName(text: string): { service: string; method: string } {
  const slash = text.lastIndexOf('/');
  const cut = slash >= 0 ? slash : text.lastIndexOf('.');
  const service = text.slice(text.startsWith('/') ? 1 : 0, cut);
  const method = text.slice(cut + 1);
  if (cut <= 0 || service === '' || method === '') {
    throw new WorkdError(Code.INVALID_ARGUMENT, `method ${JSON.stringify(text)} is not of the form package.Service/Method`);
  }
  return { service, method };
}

export function findMethod(registry: FileRegistry, service: string, method: string): { service: DescService; method: DescMethod } {
  const svc = registry.getService(service);
  if (svc === undefined) throw new WorkdError(Code.NOT_FOUND, `service ${service} is not described by the server's reflection`);
  const m = svc.methods.find((x) => x.name === method);
  if (m === undefined) {
    throw new WorkdError(Code.NOT_FOUND, `service ${service} has no method ${method} (it has: ${svc.methods.map((x) => x.name).join(', ')})`);
  }
  return { service: svc, method: m };
}

/** protoc's default JSON name: underscores dropped, the letter after each upper-cased. */
export function jsonNameOf(name: string): string {
  let out = '';
  let upper = false;
  for (const ch of name) {
    if (ch === '_') upper = true;
    else {
      out += upper ? ch.toUpperCase() : ch;
      upper = false;
    }
  }
  return out;
}
