#!/usr/bin/python3
"""Writes damaged variants of a valid checkpoint GOOD into folder OUT, one
per rejection class that errors.test checks.  usage: make_bad.py GOOD OUT"""
import json
import struct
import sys

good, out = sys.argv[1], sys.argv[2]
blob = open(good, "rb").read()
(n,) = struct.unpack("<Q", blob[:8])
HEADER, DATA = json.loads(blob[8:8 + n]), blob[8 + n:]


def make(name, header_edit=None, data_edit=None):
    h = json.loads(json.dumps(HEADER))
    d = DATA
    if header_edit:
        header_edit(h)
    if data_edit:
        d = data_edit(d)
    text = json.dumps(h, separators=(",", ":")).encode()
    open("%s/%s.safetensors" % (out, name), "wb").write(struct.pack("<Q", len(text)) + text + d)


def raw(name, data):
    open("%s/%s.safetensors" % (out, name), "wb").write(data)


make("shape", lambda h: h["fc.weight"].update(shape=[2, 1]))
make("rank", lambda h: h["fc.bias"].update(shape=[1, 1]))
make("f16", lambda h: h["fc.weight"].update(dtype="F16"))
make("unknown", lambda h: h.update({"fc.extra": h["fc.bias"]}))
make("missing", lambda h: h.pop("fc.bias"))
make("overlap", lambda h: h["fc.bias"].update(data_offsets=[4, 8]))
make("gap", lambda h: h["fc.bias"].update(data_offsets=[12, 16]))
make("span", lambda h: h["fc.bias"].update(data_offsets=[8, 16]))
make("past", lambda h: h["fc.bias"].update(data_offsets=[8, 18446744073709551615]))
make("huge", lambda h: h["fc.bias"].update(data_offsets=[8, 184467440737095516150]))
make("trailing", None, lambda d: d + b"xx")
make("crc", None, lambda d: d[:1] + bytes([d[1] ^ 1]) + d[2:])
make("nan", lambda h: h["__metadata__"].pop("netc.crc32"),
     lambda d: d[:8] + b"\x00\x00\xc0\x7f" + d[12:])
make("steps", lambda h: h["__metadata__"].update({"netc.steps": "-1"}))
make("nostate", lambda h: h.pop("optim.fc.bias.momentum_buffer"))
make("extrakey", lambda h: h["fc.bias"].update(extra=1))
make("metanum", lambda h: h["__metadata__"].update({"netc.epoch": 3}))
raw("dup", struct.pack("<Q", 16) + b'{"a":1,"a":2}   ')
raw("badjson", struct.pack("<Q", 16) + b'{"a":1,}        ')
raw("deep", struct.pack("<Q", 40) + b"{" + b'"a":[' * 1 + b"[" * 30 + b"]" * 30 + b"]}" + b"  ")
raw("biglen", struct.pack("<Q", 1 << 40) + b"{}")
raw("trunc", blob[:100])
raw("short", blob[:5])
raw("notjson", struct.pack("<Q", 8) + b"PK\x03\x04abcd")
