#!/usr/bin/python3
"""A tiny safetensors reader and writer for the tests (Debian 12 has no
python3-safetensors).  Standard library only; torch is imported only by the
functions that make torch tensors.

The format: an 8-byte little-endian header length N, N bytes of JSON mapping
tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
relative to the data that follows the header) plus an optional
"__metadata__" of string values, then the data.  read() is strict in the
same ways as netc's loader: no duplicate keys, the tensors cover the data
exactly, and netc's CRC-32 ("netc.crc32" in the metadata) matches.

    st.py dump FILE       print the metadata and each tensor's name, dtype, shape
    st.py check FILE      exit 0 if FILE reads cleanly, else print why and exit 1
"""

import json
import struct
import sys
import zlib

DTYPE_SIZE = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
              "I8": 1, "U8": 1, "BOOL": 1}


class BadFile(Exception):
    pass


def _no_duplicates(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise BadFile("duplicate key %r" % k)
        d[k] = v
    return d


def read(path):
    """Returns (metadata dict, {name: (dtype, shape list, bytes)}), in file order."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise BadFile("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > 1 << 20 or 8 + n > len(blob):
        raise BadFile("header length %d out of range" % n)
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise BadFile("bad header: %s" % e)
    if not isinstance(header, dict):
        raise BadFile("header is not an object")
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise BadFile("bad __metadata__")
    tensors, spans = {}, []
    for name, t in header.items():
        if not isinstance(t, dict) or set(t) != {"dtype", "shape", "data_offsets"}:
            raise BadFile("bad entry for %s" % name)
        dtype, shape, (b, e) = t["dtype"], t["shape"], t["data_offsets"]
        count = 1
        for s in shape:
            count *= s
        if dtype not in DTYPE_SIZE or not 0 <= b <= e <= len(data) or \
                e - b != count * DTYPE_SIZE[dtype]:
            raise BadFile("bad dtype, shape or offsets for %s" % name)
        tensors[name] = (dtype, list(shape), data[b:e])
        spans.append((b, e))
    at = 0
    for b, e in sorted(spans):
        if b != at:
            raise BadFile("tensors overlap or leave a gap at data byte %d" % at)
        at = e
    if at != len(data):
        raise BadFile("%d bytes after the last tensor" % (len(data) - at))
    if "netc.crc32" in meta and int(meta["netc.crc32"], 16) != zlib.crc32(data):
        raise BadFile("checksum mismatch")
    return meta, tensors


def write(path, tensors, metadata=None):
    """tensors: {name: (shape list, list of floats)}, written as F32 in order."""
    header, chunks, at = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (shape, values) in tensors.items():
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [at, at + len(raw)]}
        chunks.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def floats(raw):
    return list(struct.unpack("<%df" % (len(raw) // 4), raw))


def load_torch(path):
    """The file as a state_dict of torch tensors, as safetensors.torch.load_file gives it."""
    import torch
    _, tensors = read(path)
    out = {}
    for name, (dtype, shape, raw) in tensors.items():
        assert dtype == "F32", name
        out[name] = torch.tensor(floats(raw), dtype=torch.float32).reshape(shape)
    return out


def save_torch(path, state_dict, metadata=None):
    """As safetensors.torch.save_file: tensors in the given order, float32."""
    write(path, {k: (list(v.shape), [float(x) for x in v.detach().reshape(-1).tolist()])
                 for k, v in state_dict.items()}, metadata)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("dump", "check"):
        sys.stderr.write(__doc__)
        return 2
    try:
        meta, tensors = read(argv[2])
    except (BadFile, OSError) as e:
        print("%s: %s" % (argv[2], e))
        return 1
    if argv[1] == "dump":
        shown = " ".join("%s=%s" % (k, meta[k]) for k in sorted(meta)
                         if k not in ("netc.crc32", "netc.version"))
        print("__metadata__ " + shown)
        for name, (dtype, shape, _) in tensors.items():
            print("%s %s %s" % (name, dtype, shape))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
