// The request every benchmark target echoes: a foo.Bar/Echo message, framed.
import { echo } from '../../test/fixtures/echo/echo.js';
import { encodeMessage } from '../../src/dataplane/grpc/framing.js';

export const ECHO_REQUEST = echo.requestSerialize({ text: 'hello, data plane', blob: Buffer.alloc(32, 0x5a) });
export const ECHO_FRAME = encodeMessage(ECHO_REQUEST);
