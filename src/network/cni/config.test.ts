import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultConfig } from '../../config.js';
import { loadConfigText as load } from '../../../test/helpers/config-file.js';

test('[cni]: on by default as root only (as containerd; a user cannot make namespaces); bin_dir then extra_bin_dirs make the plugin path; the timeout is a limit', () => {
  const d = defaultConfig().cni;
  assert.equal(d.enabled, process.getuid?.() === 0);
  assert.equal(load('[cni]\nenabled = false\n').cni.enabled, false);
  assert.deepEqual(d.binDirs, ['/opt/cni/bin', '/usr/lib/cni']);
  const c = load('[cni]\nenabled = true\nconf_dir = "/etc/x"\nbin_dir = "/opt/a"\nextra_bin_dirs = ["/b", "/c"]\nplugin_timeout_ms = 500\n');
  assert.deepEqual(c.cni, { enabled: true, confDir: '/etc/x', binDirs: ['/opt/a', '/b', '/c'], ifname: 'eth0' });
  assert.equal(c.limits.cniPluginTimeoutMs, 500);
});

test('[cni] refuses unknown keys, relative paths and bad interface names', () => {
  assert.throws(() => load('[cni]\nbindir = "/x"\n'), /unknown key cni\.bindir \(known: enabled, conf_dir, bin_dir, extra_bin_dirs, ifname, plugin_timeout_ms\)/);
  assert.throws(() => load('[cni]\nconf_dir = "net.d"\n'), /cni\.conf_dir must be an absolute path/);
  assert.throws(() => load('[cni]\nextra_bin_dirs = "/usr/lib/cni"\n'), /cni\.extra_bin_dirs must be a list of absolute paths/);
  assert.throws(() => load('[cni]\nifname = "a/b"\n'), /not an interface name/);
  assert.throws(() => load('[cni]\nplugin_timeout_ms = 0\n'), /\[cni\] plugin_timeout_ms must be a positive integer/);
});
