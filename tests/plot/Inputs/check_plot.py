#!/usr/bin/env python3
"""Checks a trainer's --plot SVG against its --log CSV.

    check_plot.py svg PLOT.svg LOG.csv  -> every CSV row is a point of the
        training (and validation) curve: same epoch, the same loss text,
        drawn where the log-scale axis puts it; the axes labelled, ticks at
        every decade; prints a summary line.
    check_plot.py png SHOT.png W H      -> the screenshot is W x H and not
        blank: many non-white pixels, the training curve's blue and the
        validation curve's orange among them.  Reads the PNG with zlib.
"""
import csv
import math
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

NS = '{http://www.w3.org/2000/svg}'


def fail(msg):
    print('FAIL: ' + msg)
    sys.exit(1)


def check_svg(svg, log):
    root = ET.parse(svg).getroot()
    area = next(e for e in root.iter(NS + 'rect') if e.get('class') == 'area')
    x0, y0 = float(area.get('x')), float(area.get('y'))
    w, h = float(area.get('width')), float(area.get('height'))
    lo, hi = float(area.get('data-log10-min')), float(area.get('data-log10-max'))
    emin, emax = int(area.get('data-epoch-min')), int(area.get('data-epoch-max'))
    rows = list(csv.DictReader(open(log)))
    texts = {e.get('class'): e.text for e in root.iter(NS + 'text') if e.get('class')}
    if texts.get('xlabel') != 'epoch' or 'loss' not in (texts.get('ylabel') or ''):
        fail('axis titles missing')
    yticks = [e.text for e in root.iter(NS + 'text') if e.get('class') == 'ytick']
    if len(yticks) < hi - lo + 1:
        fail('a decade without a tick: %s' % yticks)
    for cls, col in (('train', 'train_loss'), ('val', 'val_loss')):
        pts = [c for c in root.iter(NS + 'circle') if c.get('class') == cls]
        want = [r for r in rows if r[col] != '']
        if len(pts) != len(want):
            fail('%s: %d points for %d log rows' % (cls, len(pts), len(want)))
        for c, r in zip(pts, want):
            if c.get('data-epoch') != r['epoch'] or c.get('data-loss') != r[col]:
                fail('%s: point (%s, %s) for row (%s, %s)' % (cls, c.get('data-epoch'), c.get('data-loss'),
                                                              r['epoch'], r[col]))
            v = float(r[col])
            ex = x0 + w * (int(r['epoch']) - emin) / max(emax - emin, 1)
            ey = y0 + h * (1 - (max(math.log10(v), lo) - lo) / (hi - lo)) if v > 0 else y0 + h
            if abs(float(c.get('cx')) - ex) > 0.01 or abs(float(c.get('cy')) - ey) > 0.01:
                fail('%s: epoch %s at (%s, %s), expected (%.2f, %.2f)' % (cls, r['epoch'], c.get('cx'), c.get('cy'),
                                                                         ex, ey))
            if not (y0 - 0.01 <= ey <= y0 + h + 0.01):
                fail('%s: epoch %s outside the axes' % (cls, r['epoch']))
        line = [p for p in root.iter(NS + 'polyline') if p.get('class') == cls]
        if want and (len(line) != 1 or len(line[0].get('points').split()) != len(want)):
            fail('%s: the polyline does not join the points' % cls)
        print('%s: %d points match the log' % (cls, len(pts)))
    print('y axis: 1e%d .. 1e%d, epochs %d .. %d' % (lo, hi, emin, emax))


def read_png(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        fail('not a PNG')
    pos, idat, ihdr = 8, b'', None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    width, height, depth, ctype = ihdr[:4]
    if depth != 8 or ctype not in (2, 6):
        fail('unexpected PNG format: depth %d, colour type %d' % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def check_png(path, w, h):
    width, height, bpp, rows = read_png(path)
    if (width, height) != (w, h):
        fail('the screenshot is %dx%d, not %dx%d' % (width, height, w, h))
    ink = blue = orange = 0
    for row in rows:
        for x in range(0, len(row), bpp):
            r, g, b = row[x], row[x + 1], row[x + 2]
            if r < 240 or g < 240 or b < 240:
                ink += 1
            if b > 140 and r < 80 and g < 130:
                blue += 1
            if r > 200 and 90 < g < 160 and b < 60:
                orange += 1
    share = ink / (width * height)
    if share < 0.01 or blue < 50 or orange < 50:
        fail('blank or incomplete: %.1f%% ink, %d blue, %d orange pixels' % (100 * share, blue, orange))
    print('rendered %dx%d: %.1f%% ink, curves drawn' % (width, height, 100 * share))


if __name__ == '__main__':
    if sys.argv[1] == 'svg':
        check_svg(sys.argv[2], sys.argv[3])
    else:
        check_png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
