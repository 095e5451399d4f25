// Guest ABI v1 (docs/guest-abi.md): what a module must export and may import,
// checked once per image before it is compiled.
import { WorkdError, Code, invalidArgument } from '../errors.js';
import { inspectModule, rewriteModule, WasmFormatError, type FuncType, type ModuleInfo, type RewriteResult } from './rewrite.js';

export const SUPPORTED_ABI_VERSIONS: readonly number[] = [1];

export const WASI_MODULE = 'wasi_snapshot_preview1';
export const WORKD_MODULE = 'workd';
export const ALLOC_EXPORT = 'workd_alloc';

// Signatures as param letters (i = i32, I = i64) -> result letters.
const WORKD_IMPORTS: Record<string, string> = {
  respond: 'ii>',
  status_message: 'ii>',
  metadata_get: 'iiii>i',
  metadata_set: 'iiii>',
};

/** Every WASI preview 1 function, so ordinary toolchain output links. */
export const WASI_IMPORTS: Record<string, string> = {
  args_get: 'ii>i', args_sizes_get: 'ii>i', environ_get: 'ii>i', environ_sizes_get: 'ii>i',
  clock_res_get: 'ii>i', clock_time_get: 'iIi>i',
  fd_advise: 'iIIi>i', fd_allocate: 'iII>i', fd_close: 'i>i', fd_datasync: 'i>i', fd_fdstat_get: 'ii>i',
  fd_fdstat_set_flags: 'ii>i', fd_fdstat_set_rights: 'iII>i', fd_filestat_get: 'ii>i', fd_filestat_set_size: 'iI>i',
  fd_filestat_set_times: 'iIIi>i', fd_pread: 'iiiIi>i', fd_prestat_get: 'ii>i', fd_prestat_dir_name: 'iii>i',
  fd_pwrite: 'iiiIi>i', fd_read: 'iiii>i', fd_readdir: 'iiiIi>i', fd_renumber: 'ii>i', fd_seek: 'iIii>i',
  fd_sync: 'i>i', fd_tell: 'ii>i', fd_write: 'iiii>i',
  path_create_directory: 'iii>i', path_filestat_get: 'iiiii>i', path_filestat_set_times: 'iiiiIIi>i',
  path_link: 'iiiiiii>i', path_open: 'iiiiiIIii>i', path_readlink: 'iiiiii>i', path_remove_directory: 'iii>i',
  path_rename: 'iiiiii>i', path_symlink: 'iiiii>i', path_unlink_file: 'iii>i',
  poll_oneoff: 'iiii>i', proc_exit: 'i>', proc_raise: 'i>i', sched_yield: '>i', random_get: 'ii>i',
  sock_accept: 'iii>i', sock_recv: 'iiiiii>i', sock_send: 'iiiii>i', sock_shutdown: 'ii>i',
};

const LETTER: Record<number, string> = { 0x7f: 'i', 0x7e: 'I', 0x7d: 'f', 0x7c: 'F' };
function signature(t: FuncType | undefined): string {
  if (!t) return '?';
  const s = (v: readonly number[]) => v.map((x) => LETTER[x] ?? '?').join('');
  return `${s(t.params)}>${s(t.results)}`;
}
function describe(sig: string): string {
  const [p, r] = sig.split('>') as [string, string];
  const names = (s: string) => [...s].map((c) => ({ i: 'i32', I: 'i64', f: 'f32', F: 'f64' })[c] ?? '?').join(', ');
  return `(${names(p)}) -> (${names(r)})`;
}

const METHOD_SIG = 'ii>i';
const ALLOC_SIG = 'i>i';

export const isReservedName = (name: string) => name.startsWith('workd_') || name.startsWith('_') || name === 'memory';

export interface GuestSpec {
  readonly methods: readonly string[];
  readonly hasInitialize: boolean;
  readonly rewrite: RewriteResult;
}

/** Refuses an ABI version this node does not implement. */
export function checkAbiVersion(version: number): void {
  if (!SUPPORTED_ABI_VERSIONS.includes(version)) {
    throw new WorkdError(
      Code.FAILED_PRECONDITION,
      `the image declares guest ABI version ${version}; this node implements version ${SUPPORTED_ABI_VERSIONS.join(', ')}`,
    );
  }
}

/** Checks a module against guest ABI v1 and rewrites it for pooled execution. Throws INVALID_ARGUMENT naming the problem. */
export function analyzeGuest(wasm: Uint8Array): GuestSpec {
  let info: ModuleInfo;
  try {
    info = inspectModule(wasm);
  } catch (err) {
    if (err instanceof WasmFormatError) throw invalidArgument(`the module is not valid WebAssembly: ${err.message}`);
    throw err;
  }
  const problems: string[] = [];
  for (const imp of info.imports) {
    const where = `import ${imp.module}.${imp.name}`;
    const table = imp.module === WORKD_MODULE ? WORKD_IMPORTS : imp.module === WASI_MODULE ? WASI_IMPORTS : undefined;
    if (!table) {
      problems.push(`${where}: the node provides only the modules ${WASI_MODULE} and ${WORKD_MODULE}`);
      continue;
    }
    const want = Object.hasOwn(table, imp.name) ? table[imp.name] : undefined;
    if (imp.kind !== 'func' || want === undefined) {
      problems.push(`${where}: not a function the node provides`);
      continue;
    }
    const got = signature(info.types[imp.typeIndex!]);
    if (got !== want) problems.push(`${where} has type ${describe(got)}; the node provides ${describe(want)}`);
  }
  const funcSig = (index: number) => signature(info.types[info.funcTypes[index]!]);
  const memExport = info.exports.find((e) => e.name === 'memory');
  if (!memExport || memExport.kind !== 'memory') problems.push('the module does not export its memory as "memory"');
  const alloc = info.exports.find((e) => e.name === ALLOC_EXPORT);
  if (!alloc || alloc.kind !== 'func') problems.push(`the module does not export the function ${ALLOC_EXPORT}`);
  else if (funcSig(alloc.index) !== ALLOC_SIG) problems.push(`${ALLOC_EXPORT} has type ${describe(funcSig(alloc.index))}; it must be ${describe(ALLOC_SIG)}`);
  const methods: string[] = [];
  for (const e of info.exports) {
    if (e.kind !== 'func' || isReservedName(e.name)) continue;
    const sig = funcSig(e.index);
    if (sig !== METHOD_SIG) problems.push(`method export ${JSON.stringify(e.name)} has type ${describe(sig)}; methods must be ${describe(METHOD_SIG)}`);
    else methods.push(e.name);
  }
  const init = info.exports.find((e) => e.name === '_initialize');
  if (init && (init.kind !== 'func' || funcSig(init.index) !== '>')) problems.push('_initialize must be a function of type () -> ()');
  if (problems.length > 0) throw invalidArgument(`the module does not follow guest ABI v1: ${problems.join('; ')}`);
  let rewrite: RewriteResult;
  try {
    rewrite = rewriteModule(wasm, info);
  } catch (err) {
    if (err instanceof WasmFormatError) throw invalidArgument(`the module cannot be prepared: ${err.message}`);
    if (err instanceof WorkdError) throw invalidArgument(`the module does not follow guest ABI v1: ${err.message}`);
    throw err;
  }
  return { methods, hasInitialize: init !== undefined, rewrite };
}
