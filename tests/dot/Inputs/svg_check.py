#!/usr/bin/env python3
"""What a Graphviz SVG shows, for the tests of --emit=dot.

    svg_check.py counts FILE.svg   -> 'clusters N', 'nodes N', 'edges N', and
                                      'cluster TITLE' for each cluster
    svg_check.py text FILE.svg     -> every <title> and <text> in order: what
                                      the picture says, without its layout
                                      (which changes with Graphviz's version)
"""
import sys
import xml.etree.ElementTree as ET

NS = '{http://www.w3.org/2000/svg}'


def main():
    mode, path = sys.argv[1], sys.argv[2]
    root = ET.parse(path).getroot()
    groups = [g for g in root.iter(NS + 'g')]
    if mode == 'counts':
        for kind in ('cluster', 'node', 'edge'):
            print('%ss %d' % (kind, sum(1 for g in groups if g.get('class') == kind)))
        for g in groups:
            if g.get('class') == 'cluster':
                texts = [t.text or '' for t in g.iter(NS + 'text')]
                print('cluster ' + ' | '.join(texts[:2]))
    else:
        for el in root.iter():
            if el.tag in (NS + 'title', NS + 'text'):
                print((el.text or '').strip())


if __name__ == '__main__':
    main()
