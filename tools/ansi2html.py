#!/usr/bin/env python3
"""Turns a terminal screen captured with colours (`tmux capture-pane -e -p -N`)
into an HTML page drawn like a terminal, for a screenshot of `sdtrace ui`
(docs/ui.png, made as the README's live view section says).

    tmux new-session -d -s ui -x 120 -y 14 "sdtrace ui -c 'container.id != host' --view files"
    tmux capture-pane -e -p -N -t ui > screen.ansi
    python3 tools/ansi2html.py < screen.ansi > screen.html
    chromium --headless --no-sandbox --hide-scrollbars --window-size=1112,297 \
        --screenshot=docs/ui.png file://$PWD/screen.html

The window is the pane's size in this page's cells (9 x 19.5 px for 15 px
DejaVu Sans Mono) plus the padding.

Only what the capture holds is understood: SGR sequences (bold, dim,
reverse, the 16 colours, 256-colour and true-colour); other escape
sequences are dropped.
"""
import html, re, sys

# xterm's 16 colours, slightly softened, on a dark background.
BASE = ['#1e1e1e', '#cd3131', '#0dbc79', '#e5e510', '#2472c8', '#bc3fbc', '#11a8cd', '#e5e5e5',
        '#666666', '#f14c4c', '#23d18b', '#f5f543', '#3b8eea', '#d670d6', '#29b8db', '#ffffff']
FG, BG = '#d4d4d4', '#1e1e1e'


def color256(n):
    if n < 16:
        return BASE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return '#%02x%02x%02x' % (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    level = 8 + (n - 232) * 10
    return '#%02x%02x%02x' % (level, level, level)


class Style:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = self.bg = None
        self.bold = self.dim = self.reverse = False

    def apply(self, params):
        codes = [int(p) if p else 0 for p in params.split(';')] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 7:
                self.reverse = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37 or 90 <= c <= 97:
                self.fg = BASE[c - 30 if c < 90 else c - 82]
            elif 40 <= c <= 47 or 100 <= c <= 107:
                self.bg = BASE[c - 40 if c < 100 else c - 92]
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    value, i = color256(codes[i + 2]), i + 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    value, i = '#%02x%02x%02x' % tuple(codes[i + 2:i + 5]), i + 4
                else:
                    value = None
                if c == 38:
                    self.fg = value
                else:
                    self.bg = value
            i += 1

    def css(self):
        fg, bg = self.fg or FG, self.bg or BG
        if self.reverse:
            fg, bg = bg, fg
        parts = ['color:' + fg]
        if bg != BG:
            parts.append('background:' + bg)
        if self.bold:
            parts.append('font-weight:bold')
        if self.dim:
            parts.append('opacity:0.6')
        return ';'.join(parts)


def convert(text):
    style, out = Style(), []
    for line in text.rstrip('\n').split('\n'):
        cells = []
        for m in re.finditer(r'\x1b\[([0-9;]*)([A-Za-z])|\x1b.|([^\x1b]+)', line):
            if m.group(3):
                cells.append('<span style="%s">%s</span>' % (style.css(), html.escape(m.group(3))))
            elif m.group(2) == 'm':
                style.apply(m.group(1))
        out.append(''.join(cells))
    return out


def main():
    lines = convert(sys.stdin.read())
    sys.stdout.write(
        '<!doctype html>\n<meta charset="utf-8">\n<style>\n'
        'body { margin: 0; background: %s; }\n'
        'pre { margin: 0; padding: 12px 14px; color: %s;'
        ' font: 15px/1.3 "DejaVu Sans Mono", monospace; }\n'
        '</style>\n<pre>%s</pre>\n' % (BG, FG, '\n'.join(lines)))


if __name__ == '__main__':
    main()
