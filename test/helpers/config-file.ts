// A config file's text loaded as the daemon loads it (defaults < file), from a temp file removed at once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, type Config } from '../../src/config.js';

export function loadConfigText(toml: string): Config {
  const dir = mkdtempSync(join(tmpdir(), 'workd-config-'));
  try {
    writeFileSync(join(dir, 'c.toml'), toml);
    return loadConfigFile(join(dir, 'c.toml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
