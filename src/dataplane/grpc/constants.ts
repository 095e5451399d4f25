// Wire strings and limits of gRPC over HTTP (the PROTOCOL-HTTP2 document),
// declared once for both transports.

export const CONTENT_TYPE = 'application/grpc';
export const HDR_CONTENT_TYPE = 'content-type';
export const HDR_TIMEOUT = 'grpc-timeout';
export const HDR_ENCODING = 'grpc-encoding';
export const HDR_ACCEPT_ENCODING = 'grpc-accept-encoding';
export const HDR_STATUS = 'grpc-status';
export const HDR_MESSAGE = 'grpc-message';
/** Request metadata that pins the component version (exact `1.2.3` or a semver range like `^1.2`). */
export const HDR_VERSION = 'workd-version';

/** `content-type` of the plain-text bodies of HTTP errors (405, 415, 431). */
export const TEXT_PLAIN = 'text/plain; charset=utf-8';
export const HDR_TE = 'te';
export const TE_TRAILERS = 'trailers';

/** The message encodings we decode and can produce, as advertised in grpc-accept-encoding. */
export const ACCEPT_ENCODING = 'identity,deflate,gzip';

/** Five bytes before every message: a compressed flag and a big-endian uint32 length. */
export const PREFIX_BYTES = 5;

/** HTTP statuses used outside gRPC status (the spec's mapping for non-gRPC requests). */
export const HTTP_OK = 200;
export const HTTP_METHOD_NOT_ALLOWED = 405;
export const HTTP_UNSUPPORTED_MEDIA_TYPE = 415;
