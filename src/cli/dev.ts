// `workd dev`: the author's local loop. Serves one component — an image
// layout, or a .wasm with its .proto files — on a local cleartext data-plane
// port, with no CRI, registry or state dir; reloads it when the files change
// (polled every 200 ms); prints each call as it ends with the guest's log
// lines. A module that does not load is reported with StartContainer's
// message, and the previous one (if any) keeps serving.
import { unwatchFile, watchFile } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { defaultConfig } from '../config.js';
import { codeName, invalidArgument } from '../errors.js';
import { createLogger } from '../observability/log.js';
import { startDataPlane } from '../dataplane/server.js';
import type { FinishedCall } from '../dataplane/failed-calls.js';
import type { RoutableContainer, RouteTable, ServiceRoute } from '../pods/routing.js';
import { LocalComponent, localExecutor, readComponent, type LoadOptions } from '../testing/index.js';

interface DevFlags {
  image?: string;
  wasm?: string;
  proto?: string[];
  protoPath?: string[];
  component?: string;
  listen: string;
  env: string[];
}

/** The one component being served; swapped on reload. */
class DevRoutes implements RouteTable {
  route: ServiceRoute | undefined;
  lookup(domain: string, service: string): ServiceRoute | undefined {
    const r = this.route;
    return r && r.domain === domain && r.service === service ? r : undefined;
  }
  *runningServices(): Iterable<ServiceRoute> {
    if (this.route) yield this.route;
  }
}

const time = () => new Date().toISOString().slice(11, 23);

export async function dev(flags: DevFlags, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<{ port: number; close(): Promise<void> }> {
  if (flags.image === undefined && flags.wasm === undefined) throw invalidArgument('give --image DIR, or --wasm FILE with --proto FILE');
  if (flags.wasm !== undefined && !flags.proto?.length) throw invalidArgument('--wasm needs the service\'s .proto files (--proto FILE, repeatable)');
  const env: Record<string, string> = {};
  for (const e of flags.env) {
    const eq = e.indexOf('=');
    if (eq <= 0) throw invalidArgument(`--env ${JSON.stringify(e)} is not NAME=VALUE`);
    env[e.slice(0, eq)] = e.slice(eq + 1);
  }
  const load: LoadOptions = { image: flags.image, wasm: flags.wasm, proto: flags.proto, protoPath: flags.protoPath, component: flags.component, env };
  const executor = localExecutor();
  const routes = new DevRoutes();
  const stateDir = await mkdtemp(join(tmpdir(), 'workd-dev-'));
  let current: LocalComponent | undefined;
  // Call lines print in the order calls end, each after its own log lines are read.
  let printing = Promise.resolve();
  const onCallFinished = (c: FinishedCall) => {
    const owner = current;
    printing = printing.then(async () => {
      const logs = owner && c.container !== undefined ? await owner.newLogLines().catch(() => []) : [];
      const msg = c.code !== 0 ? `  ${c.message}` : '';
      out(`${time()} ${c.service}/${c.method} ${codeName(c.code)} ${c.ms.toFixed(1)} ms${msg}\n`);
      for (const l of logs) out(`    ${l.stream === 'stderr' ? '!' : '|'} ${l.text}\n`);
    });
  };
  const cfg = defaultConfig();
  const plane = await startDataPlane({
    config: { ...cfg.dataplane, listen: flags.listen, plaintext: true, http3: false },
    routes,
    log: createLogger('error'),
    stateDir,
    limits: cfg.limits,
    onCallFinished,
  });
  const bound = plane.listeners()[0]!.host;
  const host = bound.includes(':') ? `[${bound === '::' ? '::1' : bound}]` : bound === '0.0.0.0' ? '127.0.0.1' : bound;
  const address = `${host}:${plane.tcpPort}`;

  let loading: Promise<void> = Promise.resolve();
  let generation = 0;
  const reload = (why: string): Promise<void> => {
    const gen = ++generation;
    loading = loading.then(async () => {
      if (gen !== generation) return; // a newer change is queued
      let next: LocalComponent;
      try {
        const { checked, abiVersion } = await readComponent(load);
        next = await LocalComponent.start(checked, executor, load, abiVersion);
      } catch (err) {
        out(`${time()} ${why}: the module does not load: ${(err as Error).message}\n${current ? '  still serving the previous module\n' : '  waiting for a change\n'}`);
        return;
      }
      for (const w of next.warnings) out(`warning: ${w}\n`);
      const first = current === undefined;
      const old = current;
      current = next;
      const c = next.checked.component;
      const container: RoutableContainer = { id: `dev-${gen}`, version: c.version, runtime: next.runtime, descriptorSet: next.checked.descriptorSet };
      routes.route = { serviceKey: c.serviceKey, domain: c.domain, service: c.service, versions: [{ version: c.version, containers: [container], cursor: 0 }] };
      for (const l of next.startLogs) out(`    ${l.stream === 'stderr' ? '!' : '|'} ${l.text}\n`);
      if (first) {
        const m = next.checked.rpcs[0] ?? 'Method';
        out(
          `serving ${c.name} on ${address} (cleartext HTTP/2); methods: ${next.methods.join(', ')}\n` +
            `call it:\n` +
            `  npx workd call --plaintext --authority ${c.domain} ${address} ${c.service}/${m} -d '{}'\n` +
            `  grpcurl -plaintext -authority ${c.domain} -d '{}' ${address} ${c.service}/${m}\n` +
            `watching for changes; Ctrl-C stops\n`,
        );
      } else {
        out(`${time()} ${why}: reloaded ${c.name}; methods: ${next.methods.join(', ')}\n`);
      }
      await old?.stop();
    });
    return loading;
  };

  const watched = flags.image !== undefined ? [join(flags.image, 'index.json')] : [flags.wasm!, ...(flags.proto ?? [])];
  for (const f of watched) {
    watchFile(f, { interval: 200 }, (cur, prev) => {
      if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) void reload(`${f} changed`);
    });
  }
  await reload('start');

  return {
    port: plane.tcpPort,
    async close() {
      for (const f of watched) unwatchFile(f);
      await loading;
      await printing;
      await plane.close(500);
      await current?.stop();
      await executor.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description('serve one component locally (no CRI, registry or state dir), reload it when its files change, print each call')
    .option('--image <dir>', 'an OCI image layout directory (from `workd image build`)')
    .option('--wasm <file>', 'the module, straight from the compiler (with --proto)')
    .option('--proto <file>', 'a .proto file of the service (repeatable)', collect)
    .option('-I, --proto-path <dir>', 'a directory to search for imports (repeatable)', collect)
    .option('--component <name>', 'e.g. example.com:foo.Bar@1.2.3 (default: the image\'s; for --wasm localhost:<the one service>@0.0.0)')
    .option('--listen <host:port>', 'where to serve cleartext HTTP/2 (h2c)', '127.0.0.1:8080')
    .option('-e, --env <name=value>', 'an environment variable for the component (repeatable)', collect, [] as string[])
    .action(async (flags: DevFlags) => {
      const d = await dev(flags);
      const stop = () => {
        void d.close().then(() => process.exit(0));
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
