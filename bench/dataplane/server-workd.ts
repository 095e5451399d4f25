// workd's data plane in this process (h2c), routing to N components whose
// runtime echoes in JavaScript: the data plane's own cost per call, without
// the executor. Usage: server-workd.js <components>
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config.js';
import { createLogger } from '../../src/observability/log.js';
import { startDataPlane } from '../../src/dataplane/server.js';
import { JsRuntime, StaticRouteTable } from '../../test/helpers/static-routes.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';

const n = Number(process.argv[2] ?? 1);
const routes = new StaticRouteTable();
for (let i = 0; i < n; i++) {
  const service = `foo.Bar${i}`;
  const id = `127.0.0.1:${service}@1.0.0#0`;
  const rt = new JsRuntime(id, { Echo: (call) => ({ status: 0, message: '', response: call.request, trailers: [] }) });
  routes.add('127.0.0.1', service, { id, version: '1.0.0', runtime: rt, descriptorSet: new Uint8Array(0) });
}
const dp = await startDataPlane({
  config: { ...defaultConfig().dataplane, listen: '127.0.0.1:0', plaintext: true, http3: false },
  routes,
  log: createLogger('error'),
  stateDir: mkdtempSync(join(tmpdir(), 'workd-bench-')),
  limits: DEFAULT_LIMITS,
});
process.stdout.write(`ready ${dp.tcpPort}\n`);
process.on('SIGTERM', () => void dp.close(100).then(() => process.exit(0)));
