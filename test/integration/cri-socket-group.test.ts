// The CRI socket is 0660 and belongs to `[cri] socket_group`: a process of
// another user outside the group cannot connect; one in the group can.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveGroup } from '../../src/cri/socket-group.js';
import { startDaemon, WORKD_BIN, type TestDaemon } from '../helpers/daemon.js';

const asRoot = process.getuid?.() === 0;
const setpriv = existsSync('/usr/bin/setpriv');
let d: TestDaemon;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'workd-socket-group-'));
  d = await startDaemon({ args: ['--plaintext'], configToml: '[cri]\nsocket_group = "daemon"\n' });
});
after(async () => {
  await d?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Connects to the socket as uid 65534 with the given groups; true when the connection is accepted. */
function connectsAs(groups: string): boolean {
  const script = `require('net').connect(${JSON.stringify(d.criSocket)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); })`;
  const args = ['--reuid=65534', '--regid=65534', groups === '' ? '--clear-groups' : `--groups=${groups}`, process.execPath, '-e', script];
  const r = spawnSync('/usr/bin/setpriv', args, { encoding: 'utf8', timeout: 20_000 });
  return r.stdout.trim() === 'connected';
}

test('the CRI socket is 0660 and given to [cri] socket_group', () => {
  const st = statSync(d.criSocket);
  assert.equal(st.mode & 0o777, 0o660);
  if (asRoot) assert.equal(st.gid, resolveGroup('daemon'));
});

test('another user connects only as a member of the group', { skip: !asRoot || !setpriv ? 'needs root and setpriv' : false }, () => {
  // The socket's directory must be searchable for the test user to reach it at all.
  spawnSync('chmod', ['o+x', ...parents(d.criSocket)]);
  assert.equal(connectsAs(''), false, 'outside the group: EACCES');
  assert.equal(connectsAs(String(resolveGroup('daemon'))), true, 'in the group: connected');
});

function parents(p: string): string[] {
  const out: string[] = [];
  for (let at = join(p, '..'); at !== '/' && at.startsWith(tmpdir()); at = join(at, '..')) out.push(at);
  return out;
}

test('an unknown group stops the start naming it', () => {
  const r = spawnSync(process.execPath, [WORKD_BIN, 'serve', '--cri-socket', join(dir, 's.sock'), '--state-dir', join(dir, 'st'), '--listen', '127.0.0.1:0', '--plaintext', '--config', writeConfig()], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /\[cri\] socket_group "no-such-group-workd" is not a group on this node/);
});

function writeConfig(): string {
  const path = join(dir, 'c.toml');
  writeFileSync(path, '[cri]\nsocket_group = "no-such-group-workd"\n');
  return path;
}
