// `workd call --http3`: the CLI's GrpcTransport (../client/transport.ts) over
// our HTTP/3 client. Loaded by src/cli/call.ts only when --http3 is given.
import { parseListen } from '../../config.js';
import { Code, WorkdError } from '../../errors.js';
import type { ClientCallOptions, ClientCallResult, GrpcTransport, TransportTarget } from './transport.js';
import { hostOf } from '../authority.js';
import { createLogger } from '../../observability/log.js';
import { Http3Client } from '../http3/client.js';

export async function connectHttp3(target: TransportTarget): Promise<GrpcTransport> {
  if (target.plaintext) throw new WorkdError(Code.INVALID_ARGUMENT, 'HTTP/3 always uses TLS: --plaintext does not apply');
  const { host, port } = parseListen(target.address);
  const authority = target.authority ?? target.address;
  let client: Http3Client;
  try {
    client = await Http3Client.connect({
      host,
      port,
      servername: hostOf(authority),
      verifyPeer: !target.insecure,
      caPem: target.ca,
      // stderr, so stdout keeps only the answer.
      log: createLogger('warn'),
    });
  } catch (err) {
    throw new WorkdError(Code.UNAVAILABLE, `cannot connect over HTTP/3 to ${target.address}: ${(err as Error).message}`, { cause: err });
  }
  return {
    async call(path: string, requests: readonly Uint8Array[], opts: ClientCallOptions = {}): Promise<ClientCallResult> {
      const r = await client.grpcCall({ authority, path, messages: requests, metadata: opts.metadata, timeoutMs: opts.timeoutMs });
      return { status: r.code, message: r.message, headers: r.headers, trailers: r.trailers, messages: r.messages };
    },
    async close(): Promise<void> {
      client.close();
    },
  };
}
