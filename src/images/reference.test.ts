import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentReference, formatReference, isLoopbackRegistry, parseReference } from './reference.js';
import { parseComponentName } from '../pods/names.js';
import { Code, WorkdError } from '../errors.js';

test('references normalise as docker and containerd do', () => {
  const norm = (s: string) => formatReference(parseReference(s));
  assert.equal(norm('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(norm('user/app:1'), 'docker.io/user/app:1');
  assert.equal(norm('index.docker.io/user/app'), 'docker.io/user/app:latest');
  assert.equal(norm('registry:5000/example.com/foo.bar:1.2.3'), 'registry:5000/example.com/foo.bar:1.2.3');
  assert.equal(norm('localhost/foo'), 'localhost/foo:latest');
  assert.equal(norm('127.0.0.1:5000/a/b@sha256:' + 'a'.repeat(64)), '127.0.0.1:5000/a/b@sha256:' + 'a'.repeat(64));
  assert.equal(norm('example.com/foo.bar:1.2.3'), 'example.com/foo.bar:1.2.3');
  const both = parseReference('r:1/a:t@sha256:' + 'b'.repeat(64));
  assert.equal(both.tag, 't');
  assert.equal(both.digest, 'sha256:' + 'b'.repeat(64));
});

test('malformed references are INVALID_ARGUMENT naming the part', () => {
  for (const [text, part] of [['', /empty/], ['Foo/Bar', /repository/], ['a:b:c', /tag|repository/], ['a@sha256:xyz', /digest/], ['r:5000/', /repository/]] as const) {
    assert.throws(() => parseReference(text), (e: unknown) => e instanceof WorkdError && e.code === Code.INVALID_ARGUMENT && part.test(e.message), text);
  }
});

test('component name ↔ reference mapping', () => {
  assert.equal(componentReference(parseComponentName('example.com:foo.Bar@1.2.3'), 'registry:5000'), 'registry:5000/example.com/foo.bar:1.2.3');
  assert.equal(componentReference(parseComponentName('example.com:foo.v1.Bar@1.0.0-rc.1'), 'r'), 'r/example.com/foo.v1.bar:1.0.0-rc.1');
});

test('loopback registries are recognised', () => {
  assert.ok(isLoopbackRegistry('127.0.0.1:5000'));
  assert.ok(isLoopbackRegistry('localhost:5000'));
  assert.ok(isLoopbackRegistry('[::1]:5000'));
  assert.ok(!isLoopbackRegistry('registry.example:5000'));
});
