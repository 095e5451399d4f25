// The kind of an image's WebAssembly: a core module speaking guest ABI v1
// (docs/guest-abi.md) or a component of the Component Model
// (docs/components.md). The binary says which; this is the one place that
// reads it, for `workd image build`, the validator and the executor.
import { invalidArgument } from '../errors.js';

export type ImageKind = 'module' | 'component';

/** The Wasm OCI artifact's `os` of each kind (CNCF TAG Runtime layout). */
export const OS_OF_KIND: Readonly<Record<ImageKind, string>> = { module: 'wasip1', component: 'wasip2' };

/**
 * From the binary's preamble: `\0asm` then version 1 (a core module) or
 * version 0x0d with layer 1 (a component). Anything else is INVALID_ARGUMENT.
 */
export function imageKind(wasm: Uint8Array): ImageKind {
  const magic = wasm.length >= 8 && wasm[0] === 0 && wasm[1] === 0x61 && wasm[2] === 0x73 && wasm[3] === 0x6d;
  if (!magic) throw invalidArgument('the .wasm file is not WebAssembly (no \\0asm header)');
  const v = [wasm[4], wasm[5], wasm[6], wasm[7]].join(',');
  if (v === '1,0,0,0') return 'module';
  if (v === '13,0,1,0') return 'component';
  throw invalidArgument(`the .wasm file has an unknown WebAssembly version and layer (bytes 4-7: ${v}); expected a core module (1) or a component (0x0d, layer 1)`);
}
