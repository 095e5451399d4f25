// The client side of the downstream CRI runtime (containerd): one grpc-js
// channel to its socket, every unary rpc of runtime.v1's RuntimeService and
// ImageService as a promise. Its errors keep the downstream's code and message
// and name the downstream, so the kubelet and the operator see who answered.
import * as grpc from '@grpc/grpc-js';
import { Code, WorkdError } from '../../errors.js';
import type { UnaryHandler } from '../handler.js';
import { loadCriPackage } from '../server.js';

/** From src/limits.ts: limits.downstreamCallTimeoutMs and limits.downstreamMaxReconnectBackoffMs. */
export interface DownstreamClientLimits {
  readonly callTimeoutMs: number;
  readonly maxReconnectBackoffMs: number;
}

export type DownstreamService = 'runtime' | 'image';

export interface DownstreamClient {
  /** The endpoint as configured, e.g. `unix:///run/containerd/containerd.sock`; every error names it. */
  readonly endpoint: string;
  /** Calls `rpc` on the downstream's RuntimeService or ImageService. */
  call<Res = unknown>(service: DownstreamService, rpc: string, request: unknown, timeoutMs?: number): Promise<Res>;
  /** Calls a server-streaming rpc; resolves when the downstream ends it, rejects on its error or `signal`. */
  stream(service: DownstreamService, rpc: string, request: unknown, onMessage: (message: unknown) => void, signal: AbortSignal): Promise<void>;
  /** The encoder of an rpc's response (to merge a downstream answer into an encoded workd answer). */
  encodeResponse(service: DownstreamService, rpc: string, response: unknown): Buffer;
  close(): void;
}

/** A downstream error: the downstream's own code, its message prefixed with who answered. */
export class DownstreamError extends WorkdError {
  constructor(code: Code, message: string, readonly downstreamMessage: string) {
    super(code, message);
  }
}

function serviceOf(name: 'RuntimeService' | 'ImageService'): grpc.ServiceClientConstructor {
  const v1 = (loadCriPackage().runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return v1[name] as grpc.ServiceClientConstructor;
}

export function connectDownstream(endpoint: string, limits: DownstreamClientLimits): DownstreamClient {
  if (!endpoint.startsWith('unix://')) {
    throw new WorkdError(Code.INVALID_ARGUMENT, `downstream.endpoint ${JSON.stringify(endpoint)} must be a unix socket (unix:///path/to/containerd.sock)`);
  }
  const options: grpc.ChannelOptions = {
    'grpc.initial_reconnect_backoff_ms': Math.min(100, limits.maxReconnectBackoffMs),
    'grpc.max_reconnect_backoff_ms': limits.maxReconnectBackoffMs,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.enable_channelz': 0,
  };
  const ctors = { runtime: serviceOf('RuntimeService'), image: serviceOf('ImageService') };
  const runtime = new ctors.runtime(endpoint, grpc.credentials.createInsecure(), options);
  const image = new ctors.image(endpoint, grpc.credentials.createInsecure(), options);
  const clients = { runtime, image } as Record<DownstreamService, grpc.Client & Record<string, Function>>;

  return {
    endpoint,
    call<Res>(service: DownstreamService, rpc: string, request: unknown, timeoutMs = limits.callTimeoutMs): Promise<Res> {
      const client = clients[service];
      const method = client[rpc];
      if (typeof method !== 'function') return Promise.reject(new WorkdError(Code.INTERNAL, `no rpc ${rpc} in runtime.v1`));
      return new Promise<Res>((resolve, reject) => {
        method.call(client, request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: Res) => {
          if (!err) return resolve(res);
          const what = err.code === grpc.status.UNAVAILABLE ? 'is unavailable' : 'answered';
          reject(new DownstreamError(err.code as Code, `downstream runtime ${endpoint} ${what}: ${err.details || err.message}`, err.details));
        });
      });
    },
    stream(service, rpc, request, onMessage, signal) {
      const client = clients[service];
      const method = client[rpc];
      if (typeof method !== 'function') return Promise.reject(new WorkdError(Code.INTERNAL, `no rpc ${rpc} in runtime.v1`));
      return new Promise<void>((resolve, reject) => {
        const call = method.call(client, request) as grpc.ClientReadableStream<unknown>;
        const abort = (): void => call.cancel();
        signal.addEventListener('abort', abort, { once: true });
        call.on('data', onMessage);
        call.on('end', () => resolve());
        call.on('error', (err: grpc.ServiceError) => {
          signal.removeEventListener('abort', abort);
          const what = err.code === grpc.status.UNAVAILABLE ? 'is unavailable' : 'answered';
          reject(new DownstreamError(err.code as Code, `downstream runtime ${endpoint} ${what}: ${err.details || err.message}`, err.details));
        });
      });
    },
    encodeResponse(service, rpc, response) {
      const def = ctors[service].service[rpc];
      if (!def) throw new WorkdError(Code.INTERNAL, `no rpc ${rpc} in runtime.v1`);
      return def.responseSerialize(response);
    },
    close() {
      runtime.close();
      image.close();
    },
  };
}

/** Adapts a downstream rpc to a handler of the same shape as workd's own verbs. */
export function passThrough(client: DownstreamClient, service: DownstreamService, rpc: string): UnaryHandler {
  return (req) => client.call(service, rpc, req);
}
