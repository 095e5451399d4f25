// The `workd` command line. Each sub-command registers itself from its own file.
import { Command } from 'commander';
import { WORKD_VERSION } from '../daemon.js';
import { registerServeCommand } from './serve.js';
import { registerImageCommands } from './image.js';
import { registerCallCommand } from './call.js';
import { registerDevCommand } from './dev.js';
import { registerGenCommand } from './gen.js';
import { registerWitCommand } from './wit.js';

const program = new Command()
  .name('workd')
  .description('Kubernetes container runtime (CRI) for WebAssembly gRPC components')
  .version(WORKD_VERSION, '-V, --version', 'print the version')
  // Program options only before the sub-command, so `workd call --version 1.2.3` is call's option.
  .enablePositionalOptions()
  .showHelpAfterError();

registerServeCommand(program);
// Sub-commands owned by other parts register here (one line each).
registerImageCommands(program);
registerCallCommand(program);
registerDevCommand(program);
registerGenCommand(program);
registerWitCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`workd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
