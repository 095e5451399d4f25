import type { QuicServer, QuicServerOptions } from './transport.js';
import { unimplemented } from '../../../errors.js';

export async function listenQuic(_opts: QuicServerOptions): Promise<QuicServer> {
  throw unimplemented('QUIC server: not implemented yet');
}
