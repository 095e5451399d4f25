// `workd call`: call a method of a node's data plane with a JSON request and
// print the JSON response, like grpcurl. Descriptors come from the node's
// reflection service, so no .proto files are needed.
//
//   workd call --insecure --authority example.com -d '{"x":3.5,"y":-1.2}' localhost:8443 foo.Bar/AddFloats
//   workd call --plaintext 127.0.0.1:8443 list
//
// Exit status: CALL_EXIT_HELP below (0 on OK, 64 + the gRPC code, 1).
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { Code, codeName, WorkdError } from '../errors.js';
import type { MetadataEntry } from '../wasm/api.js';
import { connectHttp2 } from '../dataplane/client/http2.js';
import { callJson } from '../dataplane/client/json-call.js';
import { listServices } from '../dataplane/client/reflection.js';
import type { GrpcTransport, TransportTarget } from '../dataplane/client/transport.js';
import { HDR_VERSION } from '../dataplane/grpc/constants.js';

interface CallFlags {
  plaintext?: boolean;
  insecure?: boolean;
  cacert?: string;
  servername?: string;
  authority?: string;
  version?: string;
  header: string[];
  data: string;
  timeout?: string;
  http3?: boolean;
  verbose?: boolean;
}

/** What `workd call --help` says after the options: the exit status rule. */
export const CALL_EXIT_HELP = `
Exit status:
  0         the call answered OK
  64 + N    the call failed with gRPC status N (e.g. 69 = 64 + 5 NOT_FOUND, 76 = 64 + 12 UNIMPLEMENTED), as grpcurl does
  1         a usage error, bad request JSON, or no connection to the address

With -v, the response headers and trailers are printed to stderr before the result.
`;

function printFields(title: string, fields: Readonly<Record<string, string | string[] | undefined>>, err: (s: string) => void): void {
  err(`${title}:\n`);
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) err(`  ${k}: ${one}\n`);
  }
}

/** Where the HTTP/3 transport lives; loaded only for --http3 (it exports `connectHttp3(target)`). */
const HTTP3_TRANSPORT = '../dataplane/client/http3.js';

async function connect(target: TransportTarget, http3: boolean): Promise<GrpcTransport> {
  if (!http3) return connectHttp2(target);
  let mod: { connectHttp3?: (t: TransportTarget) => Promise<GrpcTransport> };
  try {
    mod = (await import(HTTP3_TRANSPORT)) as typeof mod;
  } catch {
    mod = {};
  }
  if (typeof mod.connectHttp3 !== 'function') throw new WorkdError(Code.UNIMPLEMENTED, '--http3: this build has no HTTP/3 client transport');
  return mod.connectHttp3(target);
}

function parseHeaders(list: readonly string[]): MetadataEntry[] {
  return list.map((h) => {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new WorkdError(Code.INVALID_ARGUMENT, `header ${JSON.stringify(h)} is not key:value`);
    const key = h.slice(0, colon).trim().toLowerCase();
    const value = h.slice(colon + 1).trim();
    // grpcurl's convention: -bin values are given as base64 text.
    return [key, key.endsWith('-bin') ? Buffer.from(value, 'base64') : value] as const;
  });
}

async function readData(data: string): Promise<string> {
  if (data === '@-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  if (data.startsWith('@')) return readFile(data.slice(1), 'utf8');
  return data;
}

export async function runCall(address: string, methodText: string, flags: CallFlags, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (flags.plaintext && flags.insecure) throw new WorkdError(Code.INVALID_ARGUMENT, '--plaintext and --insecure exclude each other');
  const target: TransportTarget = {
    address,
    authority: flags.authority,
    plaintext: flags.plaintext,
    insecure: flags.insecure,
    servername: flags.servername,
    ca: flags.cacert !== undefined ? await readFile(flags.cacert) : undefined,
  };
  const metadata = parseHeaders(flags.header);
  if (flags.version !== undefined) metadata.push([HDR_VERSION, flags.version]);
  const timeoutMs = flags.timeout !== undefined ? Number(flags.timeout) * 1000 : undefined;
  if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new WorkdError(Code.INVALID_ARGUMENT, `--timeout ${flags.timeout} is not a positive number of seconds`);
  const transport = await connect(target, flags.http3 === true);
  try {
    if (methodText === 'list') {
      for (const s of await listServices(transport, { metadata, timeoutMs })) out(`${s}\n`);
      return 0;
    }
    const r = await callJson(transport, methodText, await readData(flags.data), { metadata, timeoutMs });
    if (flags.verbose) {
      const err = (t: string) => process.stderr.write(t);
      printFields('Response headers received', r.headers, err);
      printFields('Response trailers received', r.trailers, err);
    }
    if (r.status !== 0) {
      process.stderr.write(`ERROR:\n  Code: ${codeName(r.status)}\n  Message: ${r.message}\n`);
      return 64 + r.status;
    }
    for (const a of r.answers) out(JSON.stringify(a, null, 2) + '\n');
    return 0;
  } finally {
    await transport.close();
  }
}

export function registerCallCommand(program: Command): void {
  program
    .command('call')
    .description('call a method on a data plane with a JSON request (descriptors from its reflection service); METHOD `list` lists services')
    .argument('<address>', 'data plane HOST:PORT')
    .argument('<method>', 'package.Service/Method, or list')
    .option('--plaintext', 'cleartext HTTP/2 (h2c)')
    .option('--insecure', 'TLS without verifying the server certificate')
    .option('--cacert <file>', 'trust this CA certificate (PEM), e.g. <state-dir>/tls/cert.pem')
    .option('--authority <host>', ':authority to send (the component\'s domain); also the TLS server name unless --servername')
    .option('--servername <name>', 'TLS server name to send and verify (e.g. localhost for the node\'s self-signed certificate)')
    .option('--version <semver>', 'pin the component version (workd-version: exact 1.2.3 or a range like ^1.2)')
    .option('-H, --header <key:value>', 'request metadata (repeatable; -bin values in base64)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-d, --data <json>', 'request message as JSON (@file or @- for stdin)', '{}')
    .option('--timeout <seconds>', 'deadline for each call (grpc-timeout)')
    .addOption(new Option('--http3', 'call over HTTP/3 (QUIC) instead of HTTP/2').conflicts('plaintext'))
    .option('-v, --verbose', 'print the response headers and trailers (to stderr)')
    .addHelpText('after', CALL_EXIT_HELP)
    .action(async (address: string, method: string, flags: CallFlags) => {
      try {
        process.exitCode = await runCall(address, method, flags);
      } catch (err) {
        const code = err instanceof WorkdError ? ` (${codeName(err.code)})` : '';
        process.stderr.write(`workd call: ${(err as Error).message}${code}\n`);
        process.exitCode = err instanceof WorkdError && err.code !== Code.INVALID_ARGUMENT && err.code !== Code.UNAVAILABLE ? 64 + err.code : 1;
      }
    });
}
