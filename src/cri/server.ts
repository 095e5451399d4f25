// The CRI endpoint: a grpc-js server on a unix socket serving runtime.v1's
// RuntimeService and ImageService (plus any extra local services, e.g. the
// images engineer's admin import). Handlers come as plain maps of async
// functions (src/cri/handler.ts); every rpc missing from a map answers
// UNIMPLEMENTED with a message saying why.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { mkdirSync, chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkdError, Code } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { CRI_LOADER_OPTIONS, type ServiceHandlers, type StreamHandlers } from './handler.js';
import { unimplementedHandler, wrapServerStream, wrapUnary, type CallObserver } from './interceptor.js';
import { listenSniffing, type ProbeLimits } from './socket-probe.js';
import { applySocketGroup } from './socket-group.js';

/** proto/cri.proto, relative to this file compiled at dist/src/cri/server.js. */
export const CRI_PROTO_PATH = fileURLToPath(new URL('../../../proto/cri.proto', import.meta.url));

export const RUNTIME_SERVICE = 'runtime.v1.RuntimeService';
export const IMAGE_SERVICE = 'runtime.v1.ImageService';

/** One gRPC service to serve on the CRI socket. */
export interface CriService {
  /** Fully-qualified name, e.g. `runtime.v1.RuntimeService` (used in UNIMPLEMENTED messages). */
  readonly name: string;
  readonly definition: grpc.ServiceDefinition;
  readonly handlers: ServiceHandlers;
  /** Server-streaming rpcs served (e.g. GetContainerEvents). */
  readonly streams?: StreamHandlers;
  /** Why specific rpcs are not served, e.g. `{ Exec: 'component containers have no processes' }`. */
  readonly unimplemented?: Readonly<Record<string, string>>;
}

export interface CriServerOptions {
  /** Absolute path of the unix socket. Its directory is created. */
  readonly socket: string;
  readonly log: Logger;
  readonly services: readonly CriService[];
  /** Told about every call as it ends (metrics). */
  readonly observe?: CallObserver;
  /** What a connection that is not gRPC may send (src/cri/socket-probe.ts). */
  readonly probe: ProbeLimits;
  /** The group the 0660 socket is given to (`[cri] socket_group`, name or gid); default the daemon's. */
  readonly socketGroup?: string;
}

export interface CriServer {
  readonly socket: string;
  /** Stops accepting, lets running calls finish (up to graceMs), removes the socket file. */
  close(graceMs?: number): Promise<void>;
}

let cached: grpc.GrpcObject | undefined;

/** The runtime.v1 package loaded from proto/cri.proto with the CRI loader options. */
export function loadCriPackage(): grpc.GrpcObject {
  cached ??= grpc.loadPackageDefinition(protoLoader.loadSync(CRI_PROTO_PATH, CRI_LOADER_OPTIONS));
  return cached;
}

/** The service definition of `runtime.v1.<name>`. */
export function criServiceDefinition(name: 'RuntimeService' | 'ImageService'): grpc.ServiceDefinition {
  const v1 = (loadCriPackage().runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return (v1[name] as grpc.ServiceClientConstructor).service;
}

function implementation(svc: CriService, log: Logger, observe?: CallObserver): grpc.UntypedServiceImplementation {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [method, def] of Object.entries(svc.definition)) {
    const handler = svc.handlers[method];
    const path = `${svc.name}/${method}`;
    const stream = svc.streams?.[method];
    if (handler && !def.requestStream && !def.responseStream) {
      impl[method] = wrapUnary(path, handler, log, observe);
    } else if (stream && def.responseStream && !def.requestStream) {
      impl[method] = wrapServerStream(path, stream, log, observe);
    } else {
      const why = svc.unimplemented?.[method];
      impl[method] = unimplementedHandler(def, `workd does not implement ${path}${why ? ` (${why})` : ''}`, log, observe);
    }
  }
  return impl;
}

/**
 * The service definition with one addition: a handler may answer with the
 * response already encoded (a Buffer), which is sent as is. List verbs use it
 * to send cached per-item encodings instead of re-encoding 10,000 items.
 */
function acceptingEncoded(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [method, def] of Object.entries(definition)) {
    const encode = def.responseSerialize;
    out[method] = { ...def, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : encode(value)) };
  }
  return out as grpc.ServiceDefinition;
}

/** Resolves when something accepts connections on the socket path, false when nobody does. */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((done) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); done(true); });
    s.once('error', () => done(false));
  });
}

/**
 * Makes the socket path free: a stale socket (nobody listening) is removed; a
 * live one, or a file that is not a socket, refuses. The daemon calls it before
 * starting anything else, so a second daemon fails on this clear error first.
 */
export async function claimSocketPath(path: string, log: Logger): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new WorkdError(Code.FAILED_PRECONDITION, `CRI socket path ${path} exists and is not a socket; refusing to replace it`);
  }
  if (await socketIsLive(path)) {
    throw new WorkdError(Code.FAILED_PRECONDITION, `another process is already serving the CRI socket ${path} (is another workd running?)`);
  }
  log.warn({ socket: path }, 'replacing stale CRI socket left by an earlier run');
  unlinkSync(path);
}

export async function startCriServer(opts: CriServerOptions): Promise<CriServer> {
  const socket = resolve(opts.socket);
  // sockaddr_un holds 108 bytes including the terminating NUL.
  if (Buffer.byteLength(socket) > 107) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `CRI socket path ${socket} is ${Buffer.byteLength(socket)} bytes; unix sockets allow at most 107`);
  }
  mkdirSync(dirname(socket), { recursive: true, mode: 0o750 });
  await claimSocketPath(socket, opts.log);

  // channelz bookkeeping costs every call and nothing here reads it.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.enable_channelz': 0 });
  for (const svc of opts.services) server.addService(acceptingEncoded(svc.definition), implementation(svc, opts.log, opts.observe));
  // Our own listener in front of grpc-js, so HTTP/1 probes get an HTTP answer (src/cri/socket-probe.ts).
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = await listenSniffing(socket, (conn) => injector.injectConnection(conn), opts.probe).catch((err: Error) => {
    throw new WorkdError(Code.UNAVAILABLE, `cannot listen on the CRI socket ${socket}: ${err.message}`);
  });
  chmodSync(socket, 0o660);
  applySocketGroup(socket, opts.socketGroup);
  opts.log.info({ socket, services: opts.services.map((s) => s.name) }, 'CRI server listening');

  let closed: Promise<void> | undefined;
  return {
    socket,
    close(graceMs = 5000) {
      closed ??= new Promise<void>((done) => {
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        listener.close();
        server.tryShutdown(() => {
          clearTimeout(timer);
          try { unlinkSync(socket); } catch { /* already gone */ }
          done();
        });
      });
      return closed;
    },
  };
}
