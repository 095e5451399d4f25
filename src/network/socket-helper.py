# workd's socket helper: opens TCP and UDP sockets inside pod network namespaces
# and hands them to the daemon over its Node IPC channel (NODE_CHANNEL_FD), in
# the form Node's child_process uses to pass a net.Server or a dgram.Socket.
# Node cannot enter a namespace itself; this one long-lived process enters each
# pod's namespace for the microseconds a socket takes (setns on its only
# thread), so a pod costs no process of its own. Started by socket-helper.ts.
#
# Requests, one JSON line each: {"id": N, "op": "tcp"|"udp", "netns": PATH, "port": P}
# Answers: a NODE_HANDLE message carrying the socket (msg {"id": N}), or {"id": N, "error": TEXT}.
import array
import ctypes
import json
import os
import socket
import sys

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)
own_netns = os.open('/proc/self/ns/net', os.O_RDONLY)
channel = socket.socket(fileno=int(os.environ['NODE_CHANNEL_FD']))


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


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
    if fd is None:
        channel.sendall(data)
    else:
        channel.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])


def serve(req):
    rid = req.get('id')
    try:
        kind = req['op']
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
