#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpora of tests/fuzz/corpus/<target>/ (deterministic:
no randomness, no clock; run from anywhere, rewrites the files in place).

Each seed is a small valid (or deliberately borderline) input in the
target's input format, described in the target's own header comment.
Usage: tests/fuzz/mkcorpus.py
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

PROTO_VER, SHEEP_PROTO_VER = 0x02, 0x0A
OP = dict(CREATE_AND_WRITE_OBJ=0x01, READ_OBJ=0x02, WRITE_OBJ=0x03, REMOVE_OBJ=0x04,
          DISCARD_OBJ=0x05, NEW_VDI=0x11, LOCK_VDI=0x12, RELEASE_VDI=0x13,
          GET_VDI_INFO=0x14, READ_VDIS=0x15, FLUSH_VDI=0x16, DEL_VDI=0x17,
          GET_CLUSTER_DEFAULT=0x18, GET_NODE_LIST=0x82, MAKE_FS=0x84, SHUTDOWN=0x85,
          STAT_SHEEP=0x86, STAT_CLUSTER=0x87, GET_VDI_ATTR=0x89, GET_STORE_LIST=0x90,
          GET_HASH=0xB4, EXIST=0xBD, CLUSTER_INFO=0xBE, READ_DEL_VDIS=0xC9,
          EXT_HELLO=0xF0, EXT_CMP_WRITE_OBJ=0xF1)
WRITE, TGT = 0x0001, 0x0020
VDI_BIT = 1 << 63
HELLO_MAGIC = 0x4F4C4C4548545854


def hash_vdi(name):
    """sd_hash_vdi: FNV-1a 64, low 24 bits, 0 -> 1."""
    h = 0xCBF29CE484222325
    for b in name.encode():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return (h & 0xFFFFFF) or 1


def req(op, flags=0, length=0, body=b"", rid=1):
    ver = SHEEP_PROTO_VER if op >= 0x80 else PROTO_VER
    hdr = struct.pack("<BBHIII", ver, op, flags, 0, rid, length) + body
    return hdr.ljust(48, b"\0")


def obj(oid, offset=0, cow=0):
    return struct.pack("<QQBBBBII", oid, cow, 0, 0, 0, 0, 0, offset)


def vdi(size, base=0, shift=0, snapid=0, typ=0):
    return struct.pack("<QIBBBBII", size, base, 0, 0, 0, shift, snapid, typ)


def name(n, tag=None):
    p = n.encode().ljust(256, b"\0")
    return p + tag.encode().ljust(256, b"\0") if tag is not None else p


def w(target, fname, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, fname), "wb") as f:
        f.write(data)


def sheep_req():
    v = hash_vdi("v")
    voi = VDI_BIT | (v << 32)
    d0 = v << 32
    new = req(OP["NEW_VDI"], WRITE, 256, vdi(8 << 20)) + name("v")
    w("sheep_req", "new_vdi", new)
    w("sheep_req", "new_write_read",
      new + req(OP["CREATE_AND_WRITE_OBJ"], WRITE, 16, obj(d0)) + b"0123456789abcdef"
      + req(OP["WRITE_OBJ"], WRITE, 4, obj(d0, 8)) + b"WXYZ"
      + req(OP["READ_OBJ"], 0, 16, obj(d0)) + req(OP["READ_OBJ"], 0, 64, obj(voi)))
    w("sheep_req", "lookup_lock_release",
      new + req(OP["GET_VDI_INFO"], WRITE, 512, vdi(0)) + name("v", "")
      + req(OP["LOCK_VDI"], WRITE, 256, vdi(0, typ=1)) + name("v")
      + req(OP["RELEASE_VDI"], 0, 0, vdi(0, base=v, typ=1)))
    w("sheep_req", "snapshot_delete",
      new + req(OP["NEW_VDI"], WRITE, 256, vdi(8 << 20, base=v, snapid=1)) + name("v")
      + req(OP["DEL_VDI"], WRITE, 256) + name("v")
      + req(OP["READ_VDIS"], 0, 1 << 21) + req(OP["READ_DEL_VDIS"], 0, 1 << 21))
    w("sheep_req", "hello_tgt_cmp_write",
      new + req(OP["EXT_HELLO"], 0, 0, obj(0x1234))
      + req(OP["LOCK_VDI"], WRITE, 256, vdi(0, typ=1)) + name("v")
      + req(OP["EXT_CMP_WRITE_OBJ"], WRITE, 8, obj(d0, 0)) + b"\0\0\0\0abcd"
      + req(OP["READ_OBJ"], TGT, 8, obj(d0))
      + req(OP["GET_CLUSTER_DEFAULT"], 0, 0, obj(0x99, cow=HELLO_MAGIC)))
    w("sheep_req", "admin",
      req(OP["STAT_SHEEP"]) + req(OP["STAT_CLUSTER"], 0, 512) + req(OP["GET_NODE_LIST"], 0, 256)
      + req(OP["GET_STORE_LIST"], 0, 64) + req(OP["CLUSTER_INFO"], 0, 512)
      + req(OP["GET_CLUSTER_DEFAULT"]) + req(OP["EXIST"], 0, 0, obj(VDI_BIT | (5 << 32))))
    w("sheep_req", "discard_hash_flush",
      new + req(OP["CREATE_AND_WRITE_OBJ"], WRITE, 4, obj(d0 | 1)) + b"abcd"
      + req(OP["DISCARD_OBJ"], 0, 0, obj(d0 | 1)) + req(OP["GET_HASH"], 0, 0, obj(voi))
      + req(OP["FLUSH_VDI"], 0, 0, obj(voi)) + req(OP["REMOVE_OBJ"], 0, 0, obj(d0 | 1)))
    w("sheep_req", "attr",
      new + req(OP["GET_VDI_ATTR"], WRITE, 256 + 256 + 256 + 8,
                vdi(0, base=v, typ=0)) + name("v") + b"key".ljust(256, b"\0")
      + b"\0" * 264)
    w("sheep_req", "bad_frames",
      req(0x7F) + req(OP["READ_OBJ"], WRITE, 3, obj(0)) + b"abc"
      + struct.pack("<BBHIII", 9, OP["READ_OBJ"], 0, 0, 1, 0).ljust(48, b"\0")
      + req(OP["MAKE_FS"], WRITE, 6) + b"plain\0" + req(OP["SHUTDOWN"]) + req(OP["STAT_SHEEP"]))


def rsp(result=0, length=0, body=b"", rid=0, op=0):
    return struct.pack("<BBHIIII", PROTO_VER, op, 0, 1, rid, length, result) + body.ljust(28, b"\0")


def lib_reply():
    # mask byte: bit i submits request kind i (see fuzz_lib_reply.c)
    w("lib_reply", "read_ok", b"\x01" + b"\x00" + rsp(0, 16) + b"A" * 16)
    w("lib_reply", "read_short", b"\x01" + b"\x00" + rsp(0, 4096) + b"B" * 100)
    w("lib_reply", "read_noobj", b"\x01" + b"\x00" + rsp(2))
    w("lib_reply", "write_two", b"\x04" + b"\x00" + rsp(0) + b"\x00" + rsp(0) + b"\x00" + rsp(0))
    w("lib_reply", "flush_discard", b"\x18" + b"\x00" + rsp(5) + b"\x00" + rsp(0) + b"\x00" + rsp(0))
    w("lib_reply", "cmp_write_miscompare",
      b"\x20" + b"\x00" + rsp(0xF0, 0, struct.pack("<IQ", 0, 17)))
    w("lib_reply", "refresh", b"\x40" + b"\x00" + rsp(0, 4096) + b"v".ljust(4096, b"\0"))
    w("lib_reply", "unknown_id", b"\x7f" + b"\xff" + rsp(0, 8, rid=999) + b"12345678")
    w("lib_reply", "lying_length", b"\x03" + b"\x00" + rsp(0, 0xFFFFFFF0) + b"C" * 64)
    w("lib_reply", "invalidated", b"\x05" + b"\x00" + rsp(0x1D) + b"\x01" + rsp(0x1A))


def bss_config():
    # first byte: bit 0 path, bit 1 bsopts, bit 2 SCSI ids
    for i, s in enumerate([b"unix:/run/sheep/sock:vol", b"tcp:127.0.0.1:7000:vol:3",
                           b"tcp:[::1]:7000+h2:7001:vol:snaptag", b"tcp:h1:7000+unix:/s:v",
                           b"vol", b":::", b"tcp:h:99999:v"]):
        w("bss_config", "path%d" % i, b"\x05" + s)
    for i, s in enumerate([b"conns=4;timeout=20;retry=60", b"cache=writeback;cache_size=1G;"
                           b"cache_dir=/var/tmp/c;cache_age=5;cache_dirty=64M",
                           b"ident=abc;shared=1;thin=0;refresh=0", b"max_inflight=65536;bogus=1",
                           b"conns=", b";;;"]):
        w("bss_config", "opts%d" % i, b"\x02" + s)


def dog_args():
    for i, s in enumerate([b"10G\0" b"1.5MB\0" b"4k\0" b"512\0" b"18446744073709551615\0" b"0.5P",
                           b"3\0" b"4:2\0" b"16:15\0" b"2:2", b"localhost:7000\0" b"[::1]:7001\0"
                           b"unix:/run/sock\0" b"/tmp/s\0" b"h1:1,h2:2,h3:3,h4:4,h5:5",
                           b"vol\0" b"tag\0" + b"x" * 300]):
        w("dog_args", "words%d" % i, s)
    # whole command lines (the input is also dog's argv)
    for i, s in enumerate([b"vdi\0create\0-P\0-c\0" b"2:1\0v\0" b"10G",
                           b"vdi\0list\0-r\0-a\0unix:/run/sock",
                           b"cluster\0format\0--copies=3\0-z\0" b"22\0-b\0plain",
                           b"vdi\0read\0-s\0tag\0v\0" b"0\0" b"512",
                           b"vdi\0setattr\0-x\0-d\0v\0key\0value\0extra",
                           b"--help", b"vdi\0-h", b"node\0list\0-p\0" b"70000",
                           b"vdi\0snapshot\0-s\0\0v", b"vdi\0check\0-e\0--\0-v"]):
        w("dog_args", "cmdline%d" % i, s)


def inode():
    def hdr(size, shift, policy=0, copies=1, nm=b"v", tag=b""):
        h = nm.ljust(256, b"\0") + tag.ljust(256, b"\0")
        h += struct.pack("<QQQQQBBBBIIII", 1 << 32, 0, 0, size, 0, 0, policy, copies, shift,
                         0, 5, 0, 0)
        return h
    w("inode", "flat_8m", hdr(8 << 20, 22))
    w("inode", "default_shift", hdr(100 << 20, 0))
    w("inode", "huge_size", hdr((1 << 64) - 1, 20))
    w("inode", "max_flat", hdr(1 << 42, 22))
    w("inode", "bad_shift", hdr(1 << 30, 200))
    w("inode", "hyper", hdr(1 << 30, 22, policy=1))
    w("inode", "unterminated", hdr(4096, 22, nm=b"n" * 256, tag=b"t" * 256))


if __name__ == "__main__":
    sheep_req()
    lib_reply()
    bss_config()
    dog_args()
    inode()
