// Guest ABI v1 (docs/guest-abi.md) as the executor applies it: the versions
// this node runs, and the per-image check (validate.ts, shared with the author
// tools) followed by the rewrite for pooled execution.
import { WorkdError, Code, invalidArgument } from '../errors.js';
import { rewriteModule, WasmFormatError, type RewriteResult } from './rewrite.js';
import { validateModule, type ModuleReport } from './validate.js';

export { ALLOC_EXPORT, WASI_IMPORTS, WASI_MODULE, WORKD_MODULE, isReservedName } from './abi.js';

export const SUPPORTED_ABI_VERSIONS: readonly number[] = [1];

export interface GuestSpec {
  readonly methods: readonly string[];
  readonly hasInitialize: boolean;
  readonly memory: ModuleReport['memory'];
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
  const report = validateModule(wasm);
  let rewrite: RewriteResult;
  try {
    rewrite = rewriteModule(wasm, report.info);
  } catch (err) {
    if (err instanceof WasmFormatError) throw invalidArgument(`the module cannot be prepared: ${err.message}`);
    if (err instanceof WorkdError) throw invalidArgument(`the module does not follow guest ABI v1: ${err.message}`);
    throw err;
  }
  return { methods: report.methods, hasInitialize: report.hasInitialize, memory: report.memory, rewrite };
}
