// workd's data plane in this process: HTTP/2 (TLS) and HTTP/3 on one port
// number, the shared gRPC layer, the JavaScript foo.Bar echo service (no
// executor). Prints `ready PORT CERTPATH KEYPATH`; SIGTERM stops it.
import { startEchoPlane } from '../../test/helpers/echo-plane.js';

const plane = await startEchoPlane();
process.stdout.write(`ready ${plane.port} ${plane.certPath} ${plane.certPath.replace(/cert\.pem$/, 'key.pem')}\n`);
process.on('SIGTERM', () => void plane.close().then(() => process.exit(0)));
