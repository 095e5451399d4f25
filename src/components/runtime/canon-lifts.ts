// The lifted functions of a component, read from its binary (the Component
// Model's binary format, Binary.md): for each `canon lift` at the top level,
// which core instance's export it lifts and with which canonical options
// (string encoding, memory, realloc, post-return). direct.ts calls such a core
// export itself, with its own lowering and lifting, instead of jco's glue.
//
// Only the top level is read: core instances, aliases and canon definitions,
// which is where wit-component and componentize-js put their lifts (nested
// components there only re-export them). Anything this reader does not know
// (a canon built-in of the async proposal, say) ends the reading with no lifts
// at all, so such a component is run through jco's glue alone.

/** A core export: the ordinal of the core instance among those made by instantiating a module, and the export's name. */
export interface CoreExportRef {
  readonly instance: number;
  readonly name: string;
}

export interface CanonLift {
  /** The lifted core function. */
  readonly func: CoreExportRef;
  readonly encoding: 'utf8' | 'utf16' | 'latin1+utf16';
  readonly memory?: CoreExportRef;
  readonly realloc?: CoreExportRef;
  readonly postReturn?: CoreExportRef;
  readonly async: boolean;
}

class End extends Error {}

class Reader {
  pos = 0;
  constructor(readonly b: Uint8Array, readonly end = b.length) {}
  byte(): number {
    if (this.pos >= this.end) throw new End();
    return this.b[this.pos++]!;
  }
  u32(): number {
    let r = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const x = this.byte();
      r |= (x & 0x7f) << shift;
      if ((x & 0x80) === 0) return r >>> 0;
    }
    throw new End();
  }
  name(): string {
    const n = this.u32();
    if (this.pos + n > this.end) throw new End();
    const s = new TextDecoder().decode(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
}

const CORE_SORT_FUNC = 0x00;
const CORE_SORT_MEMORY = 0x02;

/** The top-level lifts of a component binary; empty when it is not one or uses what this reader does not know. */
export function canonLifts(component: Uint8Array): CanonLift[] {
  try {
    return read(component);
  } catch (err) {
    if (err instanceof End) return [];
    throw err;
  }
}

function read(component: Uint8Array): CanonLift[] {
  const r = new Reader(component);
  // Preamble: \0asm, version 0x0d, layer 1.
  const pre = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
  for (const b of pre) if (r.byte() !== b) throw new End();
  // Core instance index -> ordinal among instantiated ones (undefined: made from inline exports).
  const instances: (number | undefined)[] = [];
  let instantiated = 0;
  // Core function and memory index spaces: a core export, or undefined when made by a canon built-in.
  const funcs: (CoreExportRef | undefined)[] = [];
  const memories: (CoreExportRef | undefined)[] = [];
  const pending: { func: number; encoding: CanonLift['encoding']; memory?: number; realloc?: number; postReturn?: number; async: boolean }[] = [];
  while (r.pos < r.end) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (end > r.end) throw new End();
    const s = new Reader(component, end);
    s.pos = r.pos;
    if (id === 2) {
      for (let n = s.u32(); n > 0; n--) {
        const kind = s.byte();
        if (kind === 0x00) {
          s.u32();
          for (let a = s.u32(); a > 0; a--) {
            s.name();
            if (s.byte() !== 0x12) throw new End();
            s.u32();
          }
          instances.push(instantiated++);
        } else if (kind === 0x01) {
          for (let e = s.u32(); e > 0; e--) {
            s.name();
            const sort = s.byte();
            s.u32();
            // Inline-export instances re-export existing items; reading them is not needed to resolve lifts.
            void sort;
          }
          instances.push(undefined);
        } else throw new End();
      }
    } else if (id === 6) {
      for (let n = s.u32(); n > 0; n--) {
        const sort = s.byte();
        const coreSort = sort === 0x00 ? s.byte() : undefined;
        const target = s.byte();
        if (target === 0x00) {
          s.u32();
          s.name();
        } else if (target === 0x01) {
          const inst = s.u32();
          const name = s.name();
          const ordinal = instances[inst];
          const ref = ordinal === undefined ? undefined : { instance: ordinal, name };
          if (coreSort === CORE_SORT_FUNC) funcs.push(ref);
          else if (coreSort === CORE_SORT_MEMORY) memories.push(ref);
        } else if (target === 0x02) {
          s.u32();
          s.u32();
          if (coreSort === CORE_SORT_FUNC || coreSort === CORE_SORT_MEMORY) throw new End();
        } else throw new End();
      }
    } else if (id === 8) {
      for (let n = s.u32(); n > 0; n--) {
        const op = s.byte();
        if (op === 0x00) {
          if (s.byte() !== 0x00) throw new End();
          const func = s.u32();
          const o = opts(s);
          s.u32();
          pending.push({ func, ...o });
        } else if (op === 0x01) {
          if (s.byte() !== 0x00) throw new End();
          s.u32();
          opts(s);
          funcs.push(undefined);
        } else if (op === 0x02 || op === 0x03 || op === 0x04 || op === 0x07) {
          s.u32();
          funcs.push(undefined);
        } else throw new End();
      }
    } else if (id === 1 || id === 4) {
      // A nested core module or component: its own index spaces, not the top level's.
    } else if (id > 12) throw new End();
    r.pos = end;
  }
  return pending.map((p) => {
    const func = funcs[p.func];
    if (!func) throw new End();
    const ref = (space: (CoreExportRef | undefined)[], i: number | undefined) => {
      if (i === undefined) return undefined;
      const x = space[i];
      if (!x) throw new End();
      return x;
    };
    return { func, encoding: p.encoding, memory: ref(memories, p.memory), realloc: ref(funcs, p.realloc), postReturn: ref(funcs, p.postReturn), async: p.async };
  });
}

function opts(s: Reader): { encoding: CanonLift['encoding']; memory?: number; realloc?: number; postReturn?: number; async: boolean } {
  let encoding: CanonLift['encoding'] = 'utf8';
  let memory: number | undefined;
  let realloc: number | undefined;
  let postReturn: number | undefined;
  let async = false;
  for (let n = s.u32(); n > 0; n--) {
    const o = s.byte();
    if (o === 0x00) encoding = 'utf8';
    else if (o === 0x01) encoding = 'utf16';
    else if (o === 0x02) encoding = 'latin1+utf16';
    else if (o === 0x03) memory = s.u32();
    else if (o === 0x04) realloc = s.u32();
    else if (o === 0x05) postReturn = s.u32();
    else if (o === 0x06) async = true;
    else if (o === 0x07) {
      s.u32();
      async = true;
    } else throw new End();
  }
  return { encoding, memory, realloc, postReturn, async };
}
