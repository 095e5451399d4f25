# workd's socket helper: opens TCP and UDP sockets inside pod network namespaces
# and hands them to the daemon over its Node IPC channel (NODE_CHANNEL_FD), in
# the form Node's child_process uses to pass a net.Server or a dgram.Socket.
# Node cannot enter a namespace itself; this one long-lived process enters each
# pod's namespace for the microseconds a socket takes (setns on its only
# thread), so a pod costs no process of its own. Started by socket-helper.ts.
#
# It also makes and removes named namespaces as `ip netns add/delete` does (a
# bind mount of a new namespace at /run/netns/NAME, under a shared mount of
# /run/netns), without a process per pod; and runs the CNI plugins, each in a
# thread of its own: this process is small and python3 starts a child with
# vfork, where a fork of the daemon copies its page tables (milliseconds per
# 100 MB). A thread that starts a plugin never leaves the node's namespace
# (setns changes only the thread that calls it, and only the main one does).
#
# Requests, one JSON line each: {"id": N, "op": "tcp"|"udp", "netns": PATH, "port": P}
#                               {"id": N, "op": "netns-add"|"netns-del", "netns": PATH}
#                               {"id": N, "op": "exec", "path": P, "env": {K: V}, "stdin": TEXT, "timeout_ms": T, "max_output": BYTES}
# Answers: a NODE_HANDLE message carrying the socket (msg {"id": N}), {"id": N, "ok": true},
# {"id": N, "run": {"code": C|null, "stdout": S, "stderr": S, "timed_out": B, "spawn_error": TEXT|null}},
# or {"id": N, "error": TEXT}.
import array
import ctypes
import json
import os
import socket
import subprocess
import sys
import threading

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MS_REC = 16384
MS_SHARED = 1 << 20
MNT_DETACH = 2
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
own_netns = os.open('/proc/self/ns/net', os.O_RDONLY)
channel = socket.socket(fileno=int(os.environ['NODE_CHANNEL_FD']))
send_lock = threading.Lock()


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, '%s: %s' % (what, os.strerror(err)))


def setns(fd):
    check(libc.setns(fd, CLONE_NEWNET), 'setns')


def mount(src, target, flags):
    check(libc.mount(src.encode() if src else None, target.encode(), b'none', flags, None), 'mount %s' % target)


shared_dirs = set()


def shared_netns_dir(d):
    """As iproute2: the namespace directory is a shared mount, so the bind mounts in it reach every mount namespace."""
    if d in shared_dirs:
        return
    os.makedirs(d, mode=0o755, exist_ok=True)
    try:
        mount(None, d, MS_SHARED | MS_REC)
    except OSError:
        mount(d, d, MS_BIND | MS_REC)
        mount(None, d, MS_SHARED | MS_REC)
    shared_dirs.add(d)


def netns_add(path):
    shared_netns_dir(os.path.dirname(path))
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    try:
        check(libc.unshare(CLONE_NEWNET), 'unshare')
        try:
            mount('/proc/thread-self/ns/net', path, MS_BIND)
        finally:
            try:
                setns(own_netns)
            except OSError:
                os._exit(70)
    except BaseException:
        os.unlink(path)
        raise


def netns_del(path):
    if libc.umount2(path.encode(), MNT_DETACH) != 0 and ctypes.get_errno() not in (22, 2):  # EINVAL: not mounted; ENOENT
        check(-1, 'umount %s' % path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def open_socket(kind, port):
    """A socket on the wildcard address of the namespace we are in: IPv6 dual-stack, IPv4 where IPv6 is off."""
    stype = socket.SOCK_STREAM if kind == 'tcp' else socket.SOCK_DGRAM
    try:
        s = socket.socket(socket.AF_INET6, stype)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        family = 'udp6'
        addr = ('::', port)
    except OSError:
        s = socket.socket(socket.AF_INET, stype)
        family = 'udp4'
        addr = ('0.0.0.0', port)
    try:
        if kind == 'tcp':
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr)
        # TCP is left unlistening: the daemon's listen() starts accepting when it is ready to serve.
        return s, family
    except BaseException:
        s.close()
        raise


def in_netns(path, fn):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(fd)
        try:
            return fn()
        finally:
            try:
                setns(own_netns)
            except OSError:
                # Never serve another request from a pod's namespace.
                os._exit(70)
    finally:
        os.close(fd)


def send(obj, fd=None):
    data = (json.dumps(obj) + '\n').encode()
    with send_lock:
        if fd is None:
            channel.sendall(data)
        else:
            channel.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])


def run_plugin(req):
    """One plugin run, in its own thread; killed (SIGKILL) past its timeout, as exec.ts does."""
    rid = req.get('id')
    out = {'code': None, 'stdout': '', 'stderr': '', 'timed_out': False, 'spawn_error': None}
    try:
        env = dict(os.environ)
        env.update(req['env'])
        try:
            child = subprocess.Popen([req['path']], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as e:
            out['spawn_error'] = '%s: %s' % (type(e).__name__, e)
            send({'id': rid, 'run': out})
            return
        try:
            stdout, stderr = child.communicate(req['stdin'].encode(), timeout=req['timeout_ms'] / 1000.0)
            out['code'] = child.returncode if child.returncode >= 0 else None
        except subprocess.TimeoutExpired:
            out['timed_out'] = True
            child.kill()
            # A child of the plugin may hold the pipes open past the kill: answer now, reap it later.
            for f in (child.stdin, child.stdout, child.stderr):
                try:
                    f.close()
                except OSError:
                    pass
            threading.Thread(target=child.wait, daemon=True).start()
            stdout, stderr = b'', b''
        cap = int(req['max_output'])
        out['stdout'] = stdout[:cap].decode('utf-8', 'replace')
        out['stderr'] = stderr[:cap].decode('utf-8', 'replace')
        send({'id': rid, 'run': out})
    except Exception as e:  # the daemon gets every failure as an answer
        send({'id': rid, 'error': '%s: %s' % (type(e).__name__, e)})


def serve(req):
    rid = req.get('id')
    try:
        kind = req['op']
        if kind == 'exec':
            threading.Thread(target=run_plugin, args=(req,), daemon=True).start()
            return
        if kind in ('netns-add', 'netns-del'):
            (netns_add if kind == 'netns-add' else netns_del)(req['netns'])
            send({'id': rid, 'ok': True})
            return
        if kind not in ('tcp', 'udp'):
            raise ValueError('unknown op %r' % kind)
        s, family = in_netns(req['netns'], lambda: open_socket(kind, int(req['port'])))
        try:
            if kind == 'tcp':
                send({'cmd': 'NODE_HANDLE', 'type': 'net.Server', 'msg': {'id': rid}}, s.fileno())
            else:
                send({'cmd': 'NODE_HANDLE', 'type': 'dgram.Socket', 'dgramType': family, 'msg': {'id': rid}}, s.fileno())
        finally:
            s.close()
    except Exception as e:  # the daemon gets every failure as an answer
        send({'id': rid, 'error': '%s: %s' % (type(e).__name__, e)})


def main():
    buf = b''
    while True:
        chunk = channel.recv(65536)
        if not chunk:
            return  # the daemon is gone
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            if not line:
                continue
            msg = json.loads(line)
            # Node's own messages (NODE_HANDLE_ACK and the like) need no answer.
            if isinstance(msg, dict) and str(msg.get('cmd', '')).startswith('NODE_'):
                continue
            serve(msg)


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
