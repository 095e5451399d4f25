// Binds an HTTP server to a HOST:PORT config value and answers its base URL (the port picked for :0).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListen } from '../config.js';

export async function listenHttp(server: Server, listen: string): Promise<string> {
  const { host, port } = parseListen(listen);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const addr = server.address() as AddressInfo;
  return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}
