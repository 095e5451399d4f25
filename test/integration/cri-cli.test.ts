// `workd` as a user runs it: version, help, config file and flag precedence, bad settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WORKD_BIN, startDaemon } from '../helpers/daemon.js';

const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version: string };
const workd = (...args: string[]) => spawnSync(process.execPath, [WORKD_BIN, ...args], { encoding: 'utf8', timeout: 20_000 });

test('--version prints the package version; --help lists the commands and serve flags with defaults', () => {
  assert.equal(workd('--version').stdout.trim(), pkg.version);
  const help = workd('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /serve \[options\]/);
  const serve = workd('serve', '--help');
  assert.equal(serve.status, 0);
  for (const flag of ['--cri-socket', '--state-dir', '--listen', '--config', '--log-level', '--tls-cert', '--tls-key', '--plaintext']) {
    assert.ok(serve.stdout.includes(flag), flag);
  }
  assert.match(serve.stdout, /\(default: .*workd\.sock\)/);
});

test('the config file sets values, flags override it, and the banner shows the result', async () => {
  const d = await startDaemon({
    // The helper passes --listen 127.0.0.1:0 and --log-level; the file's values for those lose.
    configToml: '[dataplane]\nlisten = "127.0.0.1:1"\nplaintext = true\n[log]\nlevel = "error"\n',
    logLevel: 'info',
  });
  try {
    assert.equal(d.ready.listen, '127.0.0.1:0');
    assert.ok(d.ready.tcpPort > 1, 'bound to a free port, not the file’s');
    assert.match(d.stdout(), /config\s+.*config\.toml/);
    assert.match(d.stdout(), /data plane\s+127\.0\.0\.1:0 .*plaintext/, 'plaintext came from the file');
    await d.waitForLog((l) => l.level === 'info', 5000);
  } finally {
    await d.stop();
  }
});

test('bad settings stop the start with a message naming them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'workd-cli-'));
  try {
    const base = ['serve', '--cri-socket', join(dir, 's.sock'), '--state-dir', join(dir, 'state')];
    const cases: Array<[string[], RegExp]> = [
      [['--listen', 'nonsense'], /listen address "nonsense" is not HOST:PORT/],
      [['--listen', '127.0.0.1:0', '--log-level', 'loud'], /--log-level must be one of/],
    ];
    writeFileSync(join(dir, 'bad.toml'), '[nope]\nx = 1\n');
    cases.push([['--listen', '127.0.0.1:0', '--config', join(dir, 'bad.toml')], /unknown section \[nope\]/]);
    writeFileSync(join(dir, 'typed.toml'), '[log]\nlevel = 3\n');
    cases.push([['--listen', '127.0.0.1:0', '--config', join(dir, 'typed.toml')], /log\.level must be a string/]);
    cases.push([['--listen', '127.0.0.1:0', '--config', join(dir, 'missing.toml')], /missing\.toml/]);
    writeFileSync(join(dir, 'zero.toml'), '[dataplane.http3]\nmax_connections = 0\n');
    cases.push([['--listen', '127.0.0.1:0', '--config', join(dir, 'zero.toml')], /\[dataplane\.http3\] max_connections must be a positive integer, not 0/]);
    writeFileSync(join(dir, 'typo.toml'), '[dataplane.http3]\nmax_conections = 5\n');
    cases.push([['--listen', '127.0.0.1:0', '--config', join(dir, 'typo.toml')], /unknown key dataplane\.http3\.max_conections/]);
    writeFileSync(join(dir, 'moved.toml'), '[dataplane]\nhttp3_max_connections = 5\n');
    cases.push([['--listen', '127.0.0.1:0', '--config', join(dir, 'moved.toml')], /dataplane\.http3_max_connections is now \[dataplane\.http3\] max_connections/]);
    cases.push([['--listen', '127.0.0.1:0', '--cri-socket', join(dir, 'x'.repeat(120), 's.sock')], /unix sockets allow at most 107/]);
    for (const [args, re] of cases) {
      const r = workd(...base, ...args);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(r.stderr, re);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
