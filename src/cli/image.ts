// `workd image …`: author tools (build, push) that work on files and
// registries, and node tools (import, ls, pull, rm, inspect) that are clients
// of the node's own CRI socket, like `crictl images`.
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { CRI_SOCKET_HELP, criSocketPath } from './socket.js';
import { Code, WorkdError, codeName, invalidArgument } from '../errors.js';
import { buildImageLayout, readWasmFile } from '../images/build.js';
import { checkAbiVersion } from '../wasm/guest-abi.js';
import { loadComponentSources, readDescriptors } from './component.js';
import { imageKind } from '../images/image-kind.js';
import { pushLayout } from '../images/push.js';
import { parseReference, repoName } from '../images/reference.js';
import type { RegistryAuth } from '../images/registry-client.js';
import { adminImagesConstructor } from '../cri/admin.js';
import { loadCriPackage } from '../cri/server.js';

type Msg = Record<string, unknown>;
type Unary = (req: Msg) => Promise<Msg>;

/** grpc status → an Error whose message is the daemon's own, with the code's name. */
function callError(err: grpc.ServiceError, socket: string): Error {
  if (err.code === grpc.status.UNAVAILABLE && /connect|ENOENT|ECONNREFUSED|No connection/i.test(err.details)) {
    return new WorkdError(Code.UNAVAILABLE, `cannot reach the workd CRI socket ${socket} (is \`workd serve\` running? give its socket with --cri-socket or $WORKD_CRI_SOCKET): ${err.details}`);
  }
  return new WorkdError(err.code as Code, `${err.details} (${codeName(err.code)})`);
}

function unaryClient(ctor: grpc.ServiceClientConstructor, socket: string): { call: Record<string, Unary>; close(): void } {
  const client = new ctor(`unix://${socket}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
  const call: Record<string, Unary> = {};
  for (const name of Object.keys(ctor.service)) {
    call[name] = (req) =>
      new Promise((res, rej) => {
        // Pulls of big images take a while; everything else is quick.
        const deadline = new Date(Date.now() + (name === 'PullImage' || name === 'ImportImage' ? 30 * 60_000 : 30_000));
        client[name]!.call(client, req, { deadline }, (err: grpc.ServiceError | null, out: Msg) => (err ? rej(callError(err, socket)) : res(out)));
      });
  }
  return { call, close: () => client.close() };
}

function imageClient(socket: string) {
  const v1 = (loadCriPackage().runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return unaryClient(v1.ImageService as grpc.ServiceClientConstructor, socket);
}

/** Decimal units with three significant digits, as crictl prints sizes. */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))}${units[i]}`;
}

/** Left-aligned columns separated by three spaces. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('   ').trimEnd()).join('\n') + '\n';
}

/** Progress on one terminal line, only when stdout is a terminal. */
class Progress {
  private readonly tty = process.stdout.isTTY === true;
  private last = 0;
  private shown = false;
  private timer: NodeJS.Timeout | undefined;

  bytes(label: string, done: number, total: number): void {
    if (!this.tty) return;
    const now = Date.now();
    if (done < total && now - this.last < 100) return;
    this.last = now;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    this.line(`${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${humanSize(done)}/${humanSize(total)} ${pct}%`);
  }

  /** An elapsed-time ticker for work whose progress the daemon does not report (CRI PullImage). */
  spin(label: string): void {
    if (!this.tty) return;
    const t0 = Date.now();
    const frames = '|/-\\';
    let i = 0;
    this.timer = setInterval(() => this.line(`${label} ${frames[i++ % 4]} ${((Date.now() - t0) / 1000).toFixed(1)}s`), 120);
  }

  private line(s: string): void {
    this.shown = true;
    process.stdout.write(`\r\x1b[2K${s}`);
  }

  done(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.shown) process.stdout.write('\r\x1b[2K');
    this.shown = false;
  }
}

interface CredFlags {
  username?: string;
  password?: string;
  creds?: string;
  passwordStdin?: boolean;
}

async function credentials(f: CredFlags): Promise<RegistryAuth | undefined> {
  if (f.creds !== undefined) {
    const i = f.creds.indexOf(':');
    if (i < 0) throw invalidArgument('--creds must be USERNAME:PASSWORD');
    return { username: f.creds.slice(0, i), password: f.creds.slice(i + 1) };
  }
  let password = f.password;
  if (f.passwordStdin) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  if (f.username === undefined && password === undefined) return undefined;
  if (f.username === undefined) throw invalidArgument('--password needs --username');
  return { username: f.username, password: password ?? '' };
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerImageCommands(program: Command): void {
  const image = program.command('image').description('build, publish and manage component images');

  image
    .command('build')
    .description('package a .wasm module and its service descriptors as an OCI image layout directory')
    .requiredOption('--wasm <file>', 'the core WebAssembly module (guest ABI v1) or the component (docs/components.md)')
    .option('--proto <file>', 'a .proto file of the service (repeatable)', collect)
    .option('-I, --proto-path <dir>', 'a directory to search for imports (repeatable)', collect)
    .option('--descriptor-set <file>', 'a binary FileDescriptorSet instead of --proto (protoc --include_imports -o)')
    .requiredOption('--component <name>', 'the component, e.g. example.com:foo.Bar@1.2.3')
    .option('--abi-version <n>', 'guest ABI version', '1')
    .requiredOption('-o, --output <dir>', 'the layout directory to write')
    .option('--memory-limit <bytes>', 'check that the module starts under this container memory limit (default: the node\'s default, executor.memory_limit_bytes)')
    .action(async (o: { wasm: string; proto?: string[]; protoPath?: string[]; descriptorSet?: string; component: string; abiVersion: string; output: string; memoryLimit?: string }) => {
      const abi = Number(o.abiVersion);
      if (!Number.isInteger(abi) || abi < 1) throw invalidArgument('--abi-version must be a positive integer');
      checkAbiVersion(abi);
      const limit = o.memoryLimit !== undefined ? Number(o.memoryLimit) : undefined;
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw invalidArgument('--memory-limit must be a positive number of bytes');
      const wasm = await readWasmFile(o.wasm);
      if (imageKind(wasm) === 'component') {
        // buildImageLayout checks the component's world against the .proto, as StartContainer does.
        const descriptorSet = await readDescriptors({ protoFiles: o.proto, protoIncludeDirs: o.protoPath, descriptorSet: o.descriptorSet });
        const r = await buildImageLayout({ wasm, descriptorSet, component: o.component, abiVersion: abi, outDir: o.output });
        process.stdout.write(`built ${o.component} (a component) in ${o.output}\n  manifest ${r.manifestDigest}\n  image ID ${r.configDigest}\n`);
        return;
      }
      // The node's own checks, so what would fail at StartContainer fails here with the same message.
      const c = await loadComponentSources({ wasm: o.wasm, protoFiles: o.proto, protoIncludeDirs: o.protoPath, descriptorSet: o.descriptorSet, component: o.component, memoryLimitBytes: limit });
      for (const w of c.report.warnings) process.stderr.write(`warning: ${w}\n`);
      const r = await buildImageLayout({ wasm: c.wasm, descriptorSet: c.descriptorSet, component: o.component, abiVersion: abi, outDir: o.output });
      process.stdout.write(`built ${o.component} in ${o.output}\n  methods ${c.report.methods.join(', ')}\n  manifest ${r.manifestDigest}\n  image ID ${r.configDigest}\n`);
    });

  image
    .command('push')
    .description('upload an image layout directory to a registry')
    .argument('<dir>', 'OCI image layout directory (from `workd image build`)')
    .argument('<reference>', 'e.g. registry.example:5000/example.com/foo.bar[:1.2.3] (the tag defaults to the component version)')
    .option('--insecure', 'use plain HTTP for this registry (loopback registries always use it)')
    .option('-u, --username <user>', 'registry user')
    .option('-p, --password <password>', 'registry password')
    .option('--password-stdin', 'read the password from stdin')
    .option('--creds <user:password>', 'registry credentials')
    .action(async (dir: string, reference: string, o: CredFlags & { insecure?: boolean }) => {
      const ref = parseReference(reference);
      const progress = new Progress();
      try {
        const r = await pushLayout({
          dir,
          reference,
          auth: await credentials(o),
          insecureRegistries: o.insecure ? [ref.registry] : [],
          progress: (done, total) => progress.bytes(`pushing ${repoName(ref)}`, done, total),
        });
        progress.done();
        process.stdout.write(`pushed ${r.reference}\n  digest ${r.digest}\n`);
      } finally {
        progress.done();
      }
    });

  image
    .command('import')
    .description("load an image layout directory into the node's store (for air-gapped nodes); the daemon reads the directory")
    .argument('<dir>', 'OCI image layout directory')
    .option('-t, --tag <reference>', 'tag the image with this reference (repeatable)', collect)
    .option('--cri-socket <path>', CRI_SOCKET_HELP)
    .action(async (dir: string, o: { tag?: string[]; criSocket?: string }) => {
      const c = unaryClient(adminImagesConstructor(), criSocketPath(o.criSocket));
      try {
        const r = (await c.call.ImportImage!({ path: resolve(dir), tags: o.tag ?? [] })) as { images: Array<{ id: string; repo_tags: string[]; component: string }> };
        for (const img of r.images) process.stdout.write(`imported ${img.component} as ${img.repo_tags.join(', ') || '(untagged)'}\n  image ID ${img.id}\n`);
      } finally {
        c.close();
      }
    });

  image
    .command('ls')
    .alias('list')
    .description('list the images in the node\'s store (CRI ListImages)')
    .option('-q, --quiet', 'only image IDs')
    .option('--digests', 'show repo digests')
    .option('--no-trunc', 'full image IDs')
    .option('--cri-socket <path>', CRI_SOCKET_HELP)
    .action(async (o: { quiet?: boolean; digests?: boolean; trunc: boolean; criSocket?: string }) => {
      const c = imageClient(criSocketPath(o.criSocket));
      try {
        const r = (await c.call.ListImages!({})) as { images: CriImage[] };
        const images = r.images.sort((a, b) => (a.repo_tags[0] ?? a.id).localeCompare(b.repo_tags[0] ?? b.id));
        if (o.quiet) {
          for (const i of images) process.stdout.write(`${i.id}\n`);
          return;
        }
        const rows = [['IMAGE', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'SIZE', 'COMPONENT']];
        for (const i of images) {
          const id = o.trunc ? i.id.replace(/^sha256:/, '').slice(0, 13) : i.id;
          const component = i.spec?.annotations?.['dev.workd.component'] ?? '';
          const digest = i.repo_digests[0]?.split('@')[1] ?? '<none>';
          const shortDigest = o.trunc ? digest.replace(/^sha256:/, '').slice(0, 13) : digest;
          const names = i.repo_tags.length ? i.repo_tags : ['<none>:<none>'];
          for (const t of names) {
            const c2 = t.lastIndexOf(':');
            rows.push([t.slice(0, c2), t.slice(c2 + 1), ...(o.digests ? [shortDigest] : []), id, humanSize(Number(i.size)), component]);
          }
        }
        process.stdout.write(table(rows));
      } finally {
        c.close();
      }
    });

  image
    .command('pull')
    .description('pull an image into the node\'s store (CRI PullImage)')
    .argument('<reference>', 'e.g. registry.example:5000/example.com/foo.bar:1.2.3')
    .option('-u, --username <user>', 'registry user')
    .option('-p, --password <password>', 'registry password')
    .option('--password-stdin', 'read the password from stdin')
    .option('--creds <user:password>', 'registry credentials')
    .option('--cri-socket <path>', CRI_SOCKET_HELP)
    .action(async (reference: string, o: CredFlags & { criSocket?: string }) => {
      const auth = await credentials(o);
      const c = imageClient(criSocketPath(o.criSocket));
      const progress = new Progress();
      progress.spin(`pulling ${reference}`);
      try {
        // Whether the store already had it decides the wording (crictl says "up to date" either way, which misleads).
        const before = ((await c.call.ImageStatus!({ image: { image: reference } })) as { image: CriImage | null }).image;
        const r = (await c.call.PullImage!({ image: { image: reference }, auth: auth ? { username: auth.username, password: auth.password } : null })) as { image_ref: string };
        progress.done();
        if (before?.id === r.image_ref) process.stdout.write(`Image is up to date for ${reference}\n  image ID ${r.image_ref}\n`);
        else process.stdout.write(`Pulled ${reference}\n  image ID ${r.image_ref}\n`);
      } finally {
        progress.done();
        c.close();
      }
    });

  image
    .command('rm')
    .alias('remove')
    .description('remove images from the node\'s store (CRI RemoveImage)')
    .argument('<reference...>', 'image references or IDs')
    .option('--cri-socket <path>', CRI_SOCKET_HELP)
    .action(async (refs: string[], o: { criSocket?: string }) => {
      const c = imageClient(criSocketPath(o.criSocket));
      let failed = false;
      try {
        for (const ref of refs) {
          const st = (await c.call.ImageStatus!({ image: { image: ref } })) as { image: CriImage | null };
          if (!st.image) {
            process.stderr.write(`workd: no such image ${ref}\n`);
            failed = true;
            continue;
          }
          try {
            await c.call.RemoveImage!({ image: { image: st.image.id } });
            process.stdout.write(`Deleted: ${st.image.repo_tags.join(', ') || st.image.id}\n`);
          } catch (err) {
            process.stderr.write(`workd: ${(err as Error).message}\n`);
            failed = true;
          }
        }
      } finally {
        c.close();
      }
      if (failed) process.exitCode = 1;
    });

  image
    .command('inspect')
    .description('show an image\'s status with its manifest (CRI ImageStatus, verbose)')
    .argument('<reference>', 'image reference or ID')
    .option('--cri-socket <path>', CRI_SOCKET_HELP)
    .action(async (ref: string, o: { criSocket?: string }) => {
      const c = imageClient(criSocketPath(o.criSocket));
      try {
        const st = (await c.call.ImageStatus!({ image: { image: ref }, verbose: true })) as { image: CriImage | null; info: Record<string, string> };
        if (!st.image) throw new WorkdError(Code.NOT_FOUND, `no such image ${ref}`);
        const info = st.info.info ? (JSON.parse(st.info.info) as unknown) : {};
        process.stdout.write(JSON.stringify({ image: st.image, info }, null, 2) + '\n');
      } finally {
        c.close();
      }
    });
}

interface CriImage {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: string;
  spec?: { annotations?: Record<string, string> } | null;
}
