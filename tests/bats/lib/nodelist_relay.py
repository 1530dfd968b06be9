#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""TCP relay for the dog tests: a client of 127.0.0.1:LISTEN talks to the
sheep at 127.0.0.1:SHEEP, except that every successful GET_NODE_LIST reply
gets one more node per EXTRA port (a copy of the first node with that port),
so a single-node sheep looks like a cluster whose other nodes are the sheep
listening on the EXTRA ports.

usage: nodelist_relay.py LISTEN SHEEP [EXTRA...]
"""
import socket
import struct
import sys
import threading

HDR = 48
GET_NODE_LIST = 0x82
NODE_SIZE = 80
PORT_OFF = 40  # sd_node: 24 bytes of links, then nid.addr[16], nid.port


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def to_sheep(client, server):
    try:
        while True:
            data = client.recv(65536)
            if not data:
                break
            server.sendall(data)
    except OSError:
        pass
    for s in (server, client):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def to_client(server, client, extra):
    try:
        while True:
            hdr = bytearray(recv_exact(server, HDR))
            length = struct.unpack_from("<I", hdr, 12)[0]
            body = recv_exact(server, length) if length else b""
            result = struct.unpack_from("<I", hdr, 16)[0]
            if hdr[1] == GET_NODE_LIST and result == 0 and len(body) >= NODE_SIZE:
                nodes = [body]
                for port in extra:
                    node = bytearray(body[:NODE_SIZE])
                    struct.pack_into("<H", node, PORT_OFF, port)
                    nodes.append(bytes(node))
                body = b"".join(nodes)
                struct.pack_into("<I", hdr, 12, len(body))
                struct.pack_into("<I", hdr, 20, len(body) // NODE_SIZE)
            client.sendall(bytes(hdr) + body)
    except (EOFError, OSError):
        pass
    for s in (server, client):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    listen, sheep = int(sys.argv[1]), int(sys.argv[2])
    extra = [int(p) for p in sys.argv[3:]]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen))
    ls.listen(16)
    while True:
        client, _ = ls.accept()
        server = socket.create_connection(("127.0.0.1", sheep))
        threading.Thread(target=to_sheep, args=(client, server), daemon=True).start()
        threading.Thread(target=to_client, args=(server, client, extra), daemon=True).start()


if __name__ == "__main__":
    main()
