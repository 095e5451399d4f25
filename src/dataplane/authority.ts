// `:authority` → host, as both the router (which domain a call is for) and
// the clients (which name to send by SNI) read it.

/** The host of an authority (`host`, `host:port`, `[v6]:port`), lowercase, without a trailing dot. */
export function hostOf(authority: string): string {
  let host = authority;
  if (host.charCodeAt(0) === 91 /* '[' */) {
    const close = host.indexOf(']');
    host = close > 0 ? host.slice(1, close) : host;
  } else {
    const colon = host.lastIndexOf(':');
    if (colon >= 0 && host.indexOf(':') === colon) host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host.toLowerCase();
}
