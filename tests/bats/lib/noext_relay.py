#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""TCP relay that makes our sheep look like an upstream one to the
extensions: a client of 127.0.0.1:LISTEN talks to the sheep at
127.0.0.1:SHEEP, except that requests with an opcode >= 0xF0 (this tree's
extensions, include/sheepdog/proto.h) never reach it: the relay answers
them itself with RESULT (default 0x05, INVALID_PARMS, what upstream 1.0.1
answers for opcodes missing from its table; 0x8B is NO_SUPPORT).

usage: noext_relay.py LISTEN SHEEP [RESULT]
"""
import socket
import struct
import sys
import threading

HDR = 48
FLAG_WRITE = 0x0001
EXT_FIRST = 0xF0


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def close_both(a, b):
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def to_sheep(client, server, lock, result):
    try:
        while True:
            hdr = recv_exact(client, HDR)
            flags, length = struct.unpack_from("<H", hdr, 2)[0], struct.unpack_from("<I", hdr, 12)[0]
            body = recv_exact(client, length) if (flags & FLAG_WRITE) and length else b""
            if hdr[1] < EXT_FIRST:
                server.sendall(hdr + body)
                continue
            # proto_ver, opcode, flags 0, epoch, id; data_length 0; result
            rsp = bytearray(HDR)
            rsp[0:2] = hdr[0:2]
            rsp[4:12] = hdr[4:12]
            struct.pack_into("<I", rsp, 16, result)
            with lock:
                client.sendall(bytes(rsp))
    except (EOFError, OSError):
        pass
    close_both(server, client)


def to_client(server, client, lock):
    try:
        while True:
            hdr = recv_exact(server, HDR)
            length = struct.unpack_from("<I", hdr, 12)[0]
            body = recv_exact(server, length) if length else b""
            with lock:
                client.sendall(hdr + body)
    except (EOFError, OSError):
        pass
    close_both(server, client)


def main():
    listen, sheep = int(sys.argv[1]), int(sys.argv[2])
    result = int(sys.argv[3], 0) if len(sys.argv) > 3 else 0x05
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen))
    ls.listen(16)
    while True:
        client, _ = ls.accept()
        server = socket.create_connection(("127.0.0.1", sheep))
        lock = threading.Lock()
        threading.Thread(target=to_sheep, args=(client, server, lock, result), daemon=True).start()
        threading.Thread(target=to_client, args=(server, client, lock), daemon=True).start()


if __name__ == "__main__":
    main()
