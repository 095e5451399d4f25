// `[dataplane] cleartext`: a known mode or a clear refusal naming the choices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, loadConfigFile } from './config.js';

function load(toml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'workd-config-'));
  try {
    writeFileSync(join(dir, 'c.toml'), toml);
    return loadConfigFile(join(dir, 'c.toml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('dataplane.cleartext: "pods" by default, "all" and "off" taken, anything else refused', () => {
  assert.equal(defaultConfig().dataplane.cleartext, 'pods');
  assert.equal(load('[dataplane]\nlisten = "[::]:8443"\n').dataplane.cleartext, 'pods');
  assert.equal(load('[dataplane]\ncleartext = "all"\n').dataplane.cleartext, 'all');
  assert.equal(load('[dataplane]\ncleartext = "off"\n').dataplane.cleartext, 'off');
  assert.throws(() => load('[dataplane]\ncleartext = "yes"\n'), /dataplane\.cleartext must be one of "pods", "all", "off", not "yes"/);
  assert.throws(() => load('[dataplane]\ncleartext = true\n'), /dataplane\.cleartext must be a string/);
});
