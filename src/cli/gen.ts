// `workd gen`: typed code from the service's .proto, so an author writes
// `AddItem(req: AddItemRequest): CartView` and never a field number.
// src/cli/gen/model.ts walks the descriptors once; one emitter per language.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { invalidArgument } from '../errors.js';
import { readDescriptors } from './component.js';
import { buildModel } from './gen/model.js';
import { emitAssemblyScript } from './gen/assemblyscript.js';
import { emitC } from './gen/c.js';
import { emitRust } from './gen/rust.js';

export const GEN_LANGUAGES = ['assemblyscript', 'c', 'rust'] as const;
export type GenLanguage = (typeof GEN_LANGUAGES)[number];

/** The code for every message and enum of the files given (their imports' included) and their services. */
export function generate(lang: GenLanguage, descriptorSet: Uint8Array, opts: { only?: readonly string[]; sdk?: string } = {}): string {
  const model = buildModel(descriptorSet, opts.only);
  switch (lang) {
    case 'assemblyscript': return emitAssemblyScript(model, opts.sdk ?? 'workd-assemblyscript');
    case 'c': return emitC(model);
    case 'rust': return emitRust(model);
  }
}

/** AssemblyScript for the files given, importing the SDK as `sdkImport`. */
export function generateAssemblyScript(descriptorSet: Uint8Array, sdkImport: string, only?: readonly string[]): string {
  return generate('assemblyscript', descriptorSet, { only, sdk: sdkImport });
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function registerGenCommand(program: Command): void {
  program
    .command('gen')
    .description('generate typed messages and method stubs from the service\'s .proto (AssemblyScript, C or Rust)')
    .requiredOption('--proto <file>', 'a .proto file (repeatable)', collect)
    .option('-I, --proto-path <dir>', 'a directory to search for imports (repeatable)', collect)
    .option('--lang <language>', GEN_LANGUAGES.join(', '), 'assemblyscript')
    .option('--sdk <import>', 'assemblyscript: how the generated code imports the SDK', 'workd-assemblyscript')
    .requiredOption('-o, --output <file>', 'the file to write: assembly/cart.gen.ts, cart.gen.h, src/cart_gen.rs')
    .action(async (o: { proto: string[]; protoPath?: string[]; lang: string; sdk: string; output: string }) => {
      if (!(GEN_LANGUAGES as readonly string[]).includes(o.lang)) throw invalidArgument(`--lang ${o.lang}: workd gen writes ${GEN_LANGUAGES.join(', ')}`);
      const ds = await readDescriptors({ protoFiles: o.proto, protoIncludeDirs: o.protoPath });
      const names = o.proto.map((p) => p.split('/').pop()!);
      await writeFile(o.output, generate(o.lang as GenLanguage, ds, { only: names, sdk: o.sdk }));
      process.stdout.write(`wrote ${o.output}\n`);
    });
}
