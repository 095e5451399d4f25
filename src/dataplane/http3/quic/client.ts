import type { QuicClientOptions, QuicConnection } from './transport.js';
import { unimplemented } from '../../../errors.js';

export async function connectQuic(_opts: QuicClientOptions): Promise<QuicConnection> {
  throw unimplemented('QUIC client: not implemented yet');
}
