// The one place where errors become gRPC statuses on the CRI socket, and where
// every CRI call is logged. Handlers throw WorkdError (src/errors.ts); anything
// else is a bug and answers INTERNAL without leaking a stack to the client.
import * as grpc from '@grpc/grpc-js';
import { Code, WorkdError, boundedMessage, codeName, codeOf } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { StreamHandler, UnaryHandler } from './handler.js';

/** WorkdError codes are gRPC status numbers by construction; this table is the one mapping. */
const STATUS_OF: Readonly<Record<Code, grpc.status>> = {
  [Code.OK]: grpc.status.OK,
  [Code.CANCELLED]: grpc.status.CANCELLED,
  [Code.UNKNOWN]: grpc.status.UNKNOWN,
  [Code.INVALID_ARGUMENT]: grpc.status.INVALID_ARGUMENT,
  [Code.DEADLINE_EXCEEDED]: grpc.status.DEADLINE_EXCEEDED,
  [Code.NOT_FOUND]: grpc.status.NOT_FOUND,
  [Code.ALREADY_EXISTS]: grpc.status.ALREADY_EXISTS,
  [Code.PERMISSION_DENIED]: grpc.status.PERMISSION_DENIED,
  [Code.RESOURCE_EXHAUSTED]: grpc.status.RESOURCE_EXHAUSTED,
  [Code.FAILED_PRECONDITION]: grpc.status.FAILED_PRECONDITION,
  [Code.ABORTED]: grpc.status.ABORTED,
  [Code.OUT_OF_RANGE]: grpc.status.OUT_OF_RANGE,
  [Code.UNIMPLEMENTED]: grpc.status.UNIMPLEMENTED,
  [Code.INTERNAL]: grpc.status.INTERNAL,
  [Code.UNAVAILABLE]: grpc.status.UNAVAILABLE,
  [Code.DATA_LOSS]: grpc.status.DATA_LOSS,
  [Code.UNAUTHENTICATED]: grpc.status.UNAUTHENTICATED,
};

// Codes that mean "the daemon is broken" rather than "the caller asked for something wrong".
const SERVER_FAULTS: ReadonlySet<Code> = new Set([Code.INTERNAL, Code.UNKNOWN, Code.DATA_LOSS]);

/** Converts any thrown value into the status sent to the client. */
export function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof WorkdError) return { code: STATUS_OF[err.code] ?? grpc.status.UNKNOWN, details: boundedMessage(err.message) };
  return { code: grpc.status.INTERNAL, details: boundedMessage(`internal error: ${err instanceof Error ? err.message : String(err)}`) };
}

/** Told about every CRI call as it ends (metrics): the rpc's name, its status code's name, and its duration. */
export type CallObserver = (method: string, code: string, seconds: number) => void;

/** Logs and observes a failed call; the status to send. */
function failed(path: string, method: string, t0: number, err: unknown, log: Logger, observe: CallObserver | undefined, kind: 'call' | 'stream'): Partial<grpc.StatusObject> {
  const status = toStatus(err);
  const code = codeOf(err);
  const fields = { rpc: path, code: codeName(code), ms: +(performance.now() - t0).toFixed(3) };
  if (SERVER_FAULTS.has(code)) log.error({ ...fields, err }, `cri ${kind} failed`);
  else log.info({ ...fields, reason: status.details }, `cri ${kind} refused`);
  observe?.(method, fields.code, (performance.now() - t0) / 1000);
  return status;
}

/** Adapts a plain async handler to grpc-js, mapping errors and logging the call. */
export function wrapUnary(path: string, handler: UnaryHandler, log: Logger, observe?: CallObserver): grpc.handleUnaryCall<unknown, unknown> {
  const method = path.slice(path.lastIndexOf('/') + 1);
  return (call, callback) => {
    const t0 = performance.now();
    let pending: Promise<unknown>;
    try {
      pending = handler(call.request);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (res) => {
        if (log.isLevelEnabled('debug')) log.debug({ rpc: path, ms: +(performance.now() - t0).toFixed(3) }, 'cri call');
        observe?.(method, 'OK', (performance.now() - t0) / 1000);
        callback(null, res ?? {});
      },
      (err: unknown) => callback(failed(path, method, t0, err, log, observe, 'call'), null),
    );
  };
}

/** Adapts a server-streaming handler: errors end the stream with their status, as unary calls answer them. */
export function wrapServerStream(path: string, handler: StreamHandler, log: Logger, observe?: CallObserver): grpc.handleServerStreamingCall<unknown, unknown> {
  const method = path.slice(path.lastIndexOf('/') + 1);
  return (call) => {
    const t0 = performance.now();
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    call.on('close', () => abort.abort());
    let pending: Promise<void>;
    try {
      pending = handler.stream(call.request, (m) => (abort.signal.aborted ? false : call.write(m)), abort.signal);
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      () => {
        observe?.(method, 'OK', (performance.now() - t0) / 1000);
        if (!abort.signal.aborted) call.end();
      },
      (err: unknown) => {
        const status = failed(path, method, t0, err, log, observe, 'stream');
        if (!abort.signal.aborted) call.emit('error', status);
      },
    );
  };
}

/** A handler for an rpc workd does not serve, of whichever call type the method has. */
export function unimplementedHandler(
  definition: grpc.MethodDefinition<unknown, unknown>,
  details: string,
  log: Logger,
  observe?: CallObserver,
): grpc.UntypedHandleCall {
  const status = { code: grpc.status.UNIMPLEMENTED, details };
  const method = definition.path.slice(definition.path.lastIndexOf('/') + 1);
  const note = () => {
    log.info({ rpc: definition.path, code: 'UNIMPLEMENTED' }, 'cri call unimplemented');
    observe?.(method, 'UNIMPLEMENTED', 0);
  };
  if (definition.requestStream && definition.responseStream) {
    return ((call: grpc.ServerDuplexStream<unknown, unknown>) => { note(); call.emit('error', status); }) as grpc.handleBidiStreamingCall<unknown, unknown>;
  }
  if (definition.requestStream) {
    return ((_call: unknown, cb: grpc.sendUnaryData<unknown>) => { note(); cb(status, null); }) as grpc.handleClientStreamingCall<unknown, unknown>;
  }
  if (definition.responseStream) {
    return ((call: grpc.ServerWritableStream<unknown, unknown>) => { note(); call.emit('error', status); }) as grpc.handleServerStreamingCall<unknown, unknown>;
  }
  return ((_call: unknown, cb: grpc.sendUnaryData<unknown>) => { note(); cb(status, null); }) as grpc.handleUnaryCall<unknown, unknown>;
}
