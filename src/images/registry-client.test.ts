import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authFromCri, parseChallenge } from './registry-client.js';

test('WWW-Authenticate challenges parse with quoted and bare values', () => {
  assert.deepEqual(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
  });
  assert.deepEqual(parseChallenge('Basic realm="workd-test"'), { scheme: 'basic', params: { realm: 'workd-test' } });
  assert.deepEqual(parseChallenge('Bearer realm=x, error="insufficient_scope"'), { scheme: 'bearer', params: { realm: 'x', error: 'insufficient_scope' } });
  assert.equal(parseChallenge(''), undefined);
});

test('CRI AuthConfig: empty strings are unset, nothing at all is no auth', () => {
  assert.equal(authFromCri(null), undefined);
  assert.equal(authFromCri({ username: '', password: '', auth: '', identity_token: '', registry_token: '' }), undefined);
  assert.deepEqual(authFromCri({ username: 'u', password: 'p', auth: '', identity_token: '', registry_token: '' }), { username: 'u', password: 'p' });
  assert.deepEqual(authFromCri({ identity_token: 'r' }), { identityToken: 'r' });
  assert.deepEqual(authFromCri({ registry_token: 't' }), { registryToken: 't' });
});
