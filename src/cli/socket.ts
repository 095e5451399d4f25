// Which CRI socket the node tools (`workd image ls|pull|rm|inspect|import`)
// talk to without --cri-socket: $WORKD_CRI_SOCKET, else the daemon's own
// default for this user, else the root daemon's socket if only that one
// exists (a user's CLI next to a system daemon), as crictl tries its list of
// default endpoints.
import { existsSync } from 'node:fs';
import { CRI_SOCKET_ENV, ROOT_CRI_SOCKET, defaultConfig } from '../config.js';

export const CRI_SOCKET_HELP = `the node daemon's CRI socket (default: $${CRI_SOCKET_ENV}, else ${defaultConfig().cri.socket}${defaultConfig().cri.socket === ROOT_CRI_SOCKET ? '' : `, else ${ROOT_CRI_SOCKET} if only that exists`})`;

/** The socket to use: the flag, else the default chain above. A `unix://` prefix is accepted. */
export function criSocketPath(flag: string | undefined): string {
  const strip = (s: string) => s.replace(/^unix:\/\//, '');
  if (flag !== undefined && flag !== '') return strip(flag);
  const own = strip(defaultConfig().cri.socket);
  if (process.env[CRI_SOCKET_ENV] || existsSync(own) || !existsSync(ROOT_CRI_SOCKET)) return own;
  return ROOT_CRI_SOCKET;
}
