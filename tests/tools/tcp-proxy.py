#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A plain TCP forwarder for failover tests: every client of
127.0.0.1:LISTEN gets its own connection to 127.0.0.1:TARGET and bytes are
copied both ways unchanged.  Killing the process (any signal) closes every
client connection at once, as a sheep that dies does; SIGSTOP freezes it,
as a sheep that hangs does.  Prints "ready" on stdout once it listens.

usage: tcp-proxy.py LISTEN TARGET
"""
import selectors
import socket
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: tcp-proxy.py LISTEN TARGET")
    listen, target = int(sys.argv[1]), int(sys.argv[2])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", listen))
    lsock.listen(64)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ)
    # peer[s] is the socket s forwards to; pending[s] the bytes not yet
    # taken by s (while any are pending, s's peer is not read from).
    peer, pending = {}, {}
    print("ready", flush=True)

    def update(x):
        """Read x only while its peer has taken everything; write while
        bytes for x are pending; unregistered while neither."""
        ev = 0
        if not pending[peer[x]]:
            ev |= selectors.EVENT_READ
        if pending[x]:
            ev |= selectors.EVENT_WRITE
        registered = x in sel.get_map()
        if ev and registered:
            sel.modify(x, ev)
        elif ev:
            sel.register(x, ev)
        elif registered:
            sel.unregister(x)

    def close(s):
        for x in (s, peer.get(s)):
            if x is not None and x in peer:
                if x in sel.get_map():
                    sel.unregister(x)
                del peer[x]
                pending.pop(x, None)
                x.close()

    while True:
        for key, events in sel.select():
            s = key.fileobj
            if s is lsock:
                try:
                    c, _ = lsock.accept()
                except OSError:
                    continue
                u = socket.create_connection(("127.0.0.1", target))
                for x in (c, u):
                    x.setblocking(False)
                    x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                peer[c], peer[u] = u, c
                pending[c], pending[u] = b"", b""
                update(c)
                update(u)
                continue
            if s not in peer:
                continue
            p = peer[s]
            try:
                if events & selectors.EVENT_WRITE and pending[s]:
                    n = s.send(pending[s])
                    pending[s] = pending[s][n:]
                if events & selectors.EVENT_READ and not pending[p]:
                    data = s.recv(1 << 20)
                    if not data:
                        close(s)
                        continue
                    pending[p] = data
                    try:
                        n = p.send(data)
                        pending[p] = data[n:]
                    except BlockingIOError:
                        pass
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                close(s)
                continue
            update(s)
            update(p)


if __name__ == "__main__":
    main()
