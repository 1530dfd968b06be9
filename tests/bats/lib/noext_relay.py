#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""TCP relay that makes our sheep look like an upstream one to the
extensions: a client of 127.0.0.1:LISTEN talks to the sheep at
127.0.0.1:SHEEP, except that requests with an opcode >= 0xF0 (this tree's
extensions, include/sheepdog/proto.h) never reach it: the relay answers
them itself with RESULT (0x05, INVALID_PARMS, or 0x8B, NO_SUPPORT: a sheep
that acknowledged the HELLO and then lost the extensions).

RESULT "upstream" makes it look like upstream 1.0.1 itself: the disguised
HELLO (GET_CLUSTER_DEFAULT with the magic in obj.cow_oid, proto.h) reaches
the sheep as a plain GET_CLUSTER_DEFAULT, so its reply carries no ack, and
an extension opcode makes the relay exit at once (upstream's sheep crashes
on one), which the test notices.

usage: noext_relay.py LISTEN SHEEP [RESULT|upstream]
"""
import os
import socket
import struct
import sys
import threading

HDR = 48
FLAG_WRITE = 0x0001
EXT_FIRST = 0xF0
GET_CLUSTER_DEFAULT = 0x18


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
                if result is None and hdr[1] == GET_CLUSTER_DEFAULT:
                    hdr = hdr[:16] + bytes(16) + hdr[32:]  # no client id, no magic
                server.sendall(hdr + body)
                continue
            if result is None:
                sys.stderr.write("noext_relay: extension opcode 0x%02x sent to an upstream sheep\n" % hdr[1])
                sys.stderr.flush()
                os._exit(3)
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
    arg = sys.argv[3] if len(sys.argv) > 3 else "0x05"
    result = None if arg == "upstream" else int(arg, 0)
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
