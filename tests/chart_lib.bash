# shellcheck shell=bash
# chart_lib.bash — what tests/chart.bats and tests/httpd_charts.bats share
# about drawn charts: SVG checked with xmllint, PNGs from rsvg-convert and
# their colours counted.

# svg_count FILE XPATH-PREDICATE: how many elements match, namespace aside,
# e.g. svg_count c.svg "@class='series'".
svg_count() {
	xmllint --xpath "count(//*[$2])" "$1"
}

# svg_attr FILE XPATH-PREDICATE ATTR: the attribute of every match, one a line.
svg_attr() {
	xmllint --xpath "//*[$2]/@$3" "$1" 2>/dev/null | sed -E 's/^ *[a-z-]+="([^"]*)"$/\1/'
}

# png_colours FILE: the number of distinct colours of a PNG (8-bit RGB or
# RGBA, not interlaced: what rsvg-convert writes), decoded with the Python
# standard library alone.
png_colours() {
	python3 - "$1" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat = 8, b''
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and interlace == 0, 'unexpected PNG format'
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, colours, i = bytearray(stride), set(), 0
for _ in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        colours.add(bytes(line[x:x + bpp]))
    prev = line
print(len(colours))
EOF
}
