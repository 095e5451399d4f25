// The Kubernetes streaming protocols' wire strings, declared once
// (k8s.io/apimachinery/pkg/util/remotecommand, k8s.io/api/core/v1 StreamType*,
// httpstream.HeaderProtocolVersion, wsstream).

/** remotecommand stream protocols, newest first (SPDY: X-Stream-Protocol-Version; WebSocket: the subprotocol). */
export const StreamProtocol = {
  V5: 'v5.channel.k8s.io',
  V4: 'v4.channel.k8s.io',
  V3: 'v3.channel.k8s.io',
  V2: 'v2.channel.k8s.io',
  V1: 'channel.k8s.io',
} as const;
export type StreamProtocol = (typeof StreamProtocol)[keyof typeof StreamProtocol];

/** The SPDY remotecommand protocols the kubelet's streaming server accepts (v5 is v4 over SPDY). */
export const SPDY_REMOTECOMMAND_PROTOCOLS: readonly string[] = [StreamProtocol.V5, StreamProtocol.V4, StreamProtocol.V3, StreamProtocol.V2, StreamProtocol.V1];
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';

/** WebSocket subprotocols: base64 variants carry the channel as an ASCII digit and the data base64-encoded. */
export const WS_BASE64_V1 = 'base64.channel.k8s.io';
export const WS_BASE64_V4 = 'v4.base64.channel.k8s.io';
/** Port forwarding's SPDY session tunnelled in WebSocket binary messages (kubectl's PortForwardWebsockets). */
export const WS_TUNNELED_PORT_FORWARD = `SPDY/3.1+${PORT_FORWARD_PROTOCOL}`;

export const HEADER_PROTOCOL_VERSION = 'x-stream-protocol-version';
export const HEADER_ACCEPTED_PROTOCOL_VERSIONS = 'x-accepted-stream-protocol-versions';
export const UPGRADE_SPDY = 'SPDY/3.1';

/** SPDY stream headers. */
export const HEADER_STREAM_TYPE = 'streamtype';
export const HEADER_PORT = 'port';
export const HEADER_REQUEST_ID = 'requestid';

export const StreamType = {
  ERROR: 'error',
  STDIN: 'stdin',
  STDOUT: 'stdout',
  STDERR: 'stderr',
  RESIZE: 'resize',
  DATA: 'data',
} as const;

/** WebSocket channel numbers for remotecommand. */
export const Channel = { STDIN: 0, STDOUT: 1, STDERR: 2, ERROR: 3, RESIZE: 4 } as const;
/** v5.channel.k8s.io: a message [CLOSE, n] half-closes channel n. */
export const CHANNEL_CLOSE = 255;

/** Whether a remotecommand protocol reports status as JSON (v4 and later) rather than as bare text. */
export function jsonStatus(protocol: string): boolean {
  return protocol === StreamProtocol.V5 || protocol === StreamProtocol.V4 || protocol === WS_BASE64_V4;
}

/** Whether a remotecommand protocol has a resize stream (v3 and later). */
export function hasResize(protocol: string): boolean {
  return protocol === StreamProtocol.V5 || protocol === StreamProtocol.V4 || protocol === StreamProtocol.V3 || protocol === WS_BASE64_V4;
}
