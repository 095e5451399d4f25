// `workd wit FILE.proto…`: the WIT world of each service, for an author to
// generate component bindings from (docs/components.md).
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseDescriptorSet } from '../images/proto-compile.js';
import { witText } from '../components/wit/index.js';
import { readDescriptors } from './component.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerWitCommand(program: Command): void {
  program
    .command('wit')
    .description('print the WIT world of each service of the .proto files (components built against it run on workd)')
    .argument('[files...]', '.proto files')
    .option('-I, --proto-path <dir>', 'a directory to search for imports (repeatable)', collect)
    .option('--descriptor-set <file>', 'a binary FileDescriptorSet instead of .proto files')
    .option('--service <name>', 'only this service (fully qualified, repeatable)', collect)
    .option('-o, --output <file>', 'write the WIT to this file instead of standard output')
    .action(async (files: string[], o: { protoPath?: string[]; descriptorSet?: string; service?: string[]; output?: string }) => {
      const ds = await readDescriptors({ protoFiles: files, protoIncludeDirs: o.protoPath, descriptorSet: o.descriptorSet });
      const text = witText(parseDescriptorSet(ds).registry, { services: o.service, files: o.descriptorSet ? [] : files });
      if (o.output) await writeFile(o.output, text);
      else process.stdout.write(text);
    });
}
