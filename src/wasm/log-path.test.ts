// The log-path rule on its own: what a CRI client may name, and what a planted
// file in the log directory cannot make the writer do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Code, WorkdError } from '../errors.js';
import { LogFile, containerLogFile, podLogDirectory } from './log-path.js';

const code = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof WorkdError, String(err));
    return err.code;
  }
  return undefined;
};

test('log_directory: absolute without ".."; normalised once', () => {
  assert.equal(podLogDirectory(''), '');
  assert.equal(podLogDirectory('/var/log/pods/ns_p_uid/'), '/var/log/pods/ns_p_uid');
  assert.equal(podLogDirectory('/var//log/./pods'), '/var/log/pods');
  for (const bad of ['var/log/pods', '/var/log/pods/../../etc', '/var/log/..', '/a\0b']) assert.equal(code(() => podLogDirectory(bad)), Code.INVALID_ARGUMENT, bad);
});

test('log_path: relative subdirectories allowed; absolute, climbing and directory names refused', () => {
  assert.equal(containerLogFile('/var/log/pods/p', 'main/0.log'), '/var/log/pods/p/main/0.log');
  assert.equal(containerLogFile('/var/log/pods/p', './main//3.log'), '/var/log/pods/p/main/3.log');
  assert.equal(containerLogFile('', 'main/0.log'), undefined, 'no directory: no log');
  assert.equal(containerLogFile('/var/log/pods/p', ''), undefined);
  for (const bad of ['/etc/x.log', '../../../../etc/x.log', 'main/../../x.log', '..', '.', 'main/', 'a\0b']) {
    assert.equal(code(() => containerLogFile('/var/log/pods/p', bad)), Code.INVALID_ARGUMENT, bad);
  }
  assert.equal(code(() => new LogFile('/var/log/pods/q/x.log', '/var/log/pods/p')), Code.INVALID_ARGUMENT, 'a file outside the directory');
});

test('planted files: a FIFO, a hard link and a symlinked subdirectory are refused without blocking or writing', async () => {
  const base = await mkdtemp(join(tmpdir(), 'workd-logpath-'));
  try {
    const dir = join(base, 'pod');
    await mkdir(join(dir, 'c'), { recursive: true });
    const secret = join(base, 'secret');
    await writeFile(secret, 'keep\n');

    execFileSync('mkfifo', [join(dir, 'c', 'fifo.log')]);
    await assert.rejects(new LogFile(join(dir, 'c', 'fifo.log'), dir).append(Buffer.from('x')), /is a FIFO/);

    await link(secret, join(dir, 'c', 'linked.log'));
    await assert.rejects(new LogFile(join(dir, 'c', 'linked.log'), dir).append(Buffer.from('x')), /2 hard links/);

    await mkdir(join(base, 'elsewhere'));
    await symlink(join(base, 'elsewhere'), join(dir, 'd'));
    await assert.rejects(new LogFile(join(dir, 'd', 'e', '0.log'), dir).create(), /is a symbolic link/);
    assert.equal(await readFile(secret, 'utf8'), 'keep\n');

    // Missing subdirectories are made, one level at a time, inside the directory.
    const ok = new LogFile(join(dir, 'x', 'y', '0.log'), dir);
    await ok.append(Buffer.from('a'));
    await ok.append(Buffer.from('b'));
    assert.equal(await readFile(join(dir, 'x', 'y', '0.log'), 'utf8'), 'ab');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});

test('the log directory\'s own symlinks (e.g. /var/log on another disk) are resolved once and allowed', async () => {
  const base = await mkdtemp(join(tmpdir(), 'workd-logpath-'));
  try {
    await mkdir(join(base, 'disk', 'pods', 'p'), { recursive: true });
    await symlink(join(base, 'disk'), join(base, 'log'));
    const f = new LogFile(join(base, 'log', 'pods', 'p', 'c', '0.log'), join(base, 'log', 'pods', 'p'));
    await f.append(Buffer.from('hi'));
    assert.equal(await readFile(join(base, 'disk', 'pods', 'p', 'c', '0.log'), 'utf8'), 'hi');
  } finally {
    await rm(base, { recursive: true, force: true });
  }
});
