// The table of limits: defaults valid under their own rules, the config file
// reads each from its section and refuses bad values naming the key, and
// docs/limits.md is the table as it is now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { checkLimit, DEFAULT_LIMITS, fixedLimit, LIMIT_NAMES, LIMITS, limitsMarkdown, withLimits } from './limits.js';
import { loadConfigText as load } from '../test/helpers/config-file.js';

const DOC = fileURLToPath(new URL('../../docs/limits.md', import.meta.url));

test('every default passes its own validation, and section/key pairs are unique', () => {
  const seen = new Set<string>();
  for (const n of LIMIT_NAMES) {
    assert.equal(checkLimit(n, LIMITS[n].default), LIMITS[n].default, n);
    const k = `${LIMITS[n].section}.${LIMITS[n].key}`;
    assert.ok(!seen.has(k), `${k} declared twice`);
    seen.add(k);
  }
});

test('the config file sets limits from their sections; the rest keep their defaults', () => {
  const c = load('[dataplane]\nmax_message_bytes = 1024\n[dataplane.http2]\nmax_concurrent_streams = 7\n[dataplane.http3]\nidle_timeout_ms = 1500\n[dataplane.quic]\nstream_window_bytes = 65536\n[executor]\nmax_in_flight = 3\n');
  assert.equal(c.limits.maxMessageBytes, 1024);
  assert.equal(c.limits.http2MaxConcurrentStreams, 7);
  assert.equal(c.limits.http3IdleTimeoutMs, 1500);
  assert.equal(c.limits.quicStreamWindowBytes, 65536);
  assert.equal(c.limits.executorMaxInFlight, 3);
  assert.equal(c.executor.maxInFlight, 3, 'the executor reads the same value');
  assert.equal(c.limits.http3MaxConnections, DEFAULT_LIMITS.http3MaxConnections);
  assert.equal(c.dataplane.http3, true);
});

test('HTTP/3 is switched off by [dataplane.http3] enabled, or the older [dataplane] http3', () => {
  assert.equal(load('[dataplane.http3]\nenabled = false\nmax_connections = 5\n').dataplane.http3, false);
  assert.equal(load('[dataplane]\nhttp3 = false\n').dataplane.http3, false);
  assert.throws(() => load('[dataplane.http3]\nenabled = 1\n'), /dataplane\.http3\.enabled must be a boolean/);
});

test('negative, zero, fractional, non-numeric and too-large values are refused naming the key', () => {
  assert.throws(() => load('[dataplane.http2]\nmax_concurrent_streams = -1\n'), /\[dataplane\.http2\] max_concurrent_streams must be a positive integer, not -1/);
  assert.throws(() => load('[dataplane]\nmax_message_bytes = 0\n'), /\[dataplane\] max_message_bytes must be a positive integer, not 0/);
  assert.throws(() => load('[dataplane.http3]\nidle_timeout_ms = 1.5\n'), /\[dataplane\.http3\] idle_timeout_ms must be a whole number \(ms\), not 1\.5/);
  assert.throws(() => load('[executor]\ncpu_ms_per_call = "10"\n'), /\[executor\] cpu_ms_per_call must be a number/);
  assert.throws(() => load('[dataplane.http2]\nstream_window_bytes = 4294967296\n'), /\[dataplane\.http2\] stream_window_bytes must be at most 2147483647/);
  assert.throws(() => load('[dataplane.http3]\nmax_peer_uni_streams = 2\n'), /max_peer_uni_streams must be at least 3/);
  assert.throws(() => load('[dataplane.http2]\nmax_streams = 5\n'), /unknown key dataplane\.http2\.max_streams/);
  assert.throws(() => load('[dataplane.nope]\nx = 1\n'), /unknown key dataplane\.nope/);
  assert.throws(() => withLimits({ maxMessageBytes: -5 }), /max_message_bytes must be a positive integer/);
});

test('a fixed bound is in the table and the docs, but the config file refuses its key', () => {
  assert.equal(fixedLimit('executorLaneQuantum'), LIMITS.executorLaneQuantum.default);
  assert.ok(!('executorLaneQuantum' in DEFAULT_LIMITS), 'fixed bounds are not in config.limits');
  assert.throws(() => load('[executor]\nlane_quantum = 8\n'), /unknown key executor\.lane_quantum/);
  assert.throws(() => load('[cri]\nstatus_message_bytes = 100\n'), /unknown key cri\.status_message_bytes/);
  assert.equal(load('[cri]\nmax_events_behind = 5\n').limits.criMaxEventsBehind, 5);
  assert.match(limitsMarkdown(), /\| executor \| lane_quantum \| 64 \|/);
});

test('docs/limits.md lists the table as it is (regenerate with npm run gen:limits)', () => {
  const doc = readFileSync(DOC, 'utf8');
  assert.ok(doc.includes(limitsMarkdown()), 'docs/limits.md is out of date: run `npm run build && npm run gen:limits`');
});
