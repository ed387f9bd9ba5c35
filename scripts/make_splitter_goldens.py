#!/usr/bin/env python3
# make_splitter_goldens.py: golden word splits for HATText's splitter, produced by the reference
# implementation, Aleph Alpha's hat-splitter 0.1.10 (non-commercial licence: used here only to
# compute expected outputs; none of its code is copied). Writes
#   Tests/HATTextTests/Fixtures/splitter_goldens.json  (one case per line)
#   Tests/HATTextTests/Fixtures/splitter_goldens.md    (where each text came from, licences)
#
# Requirements (pip, Python 3.11): hat-splitter==0.1.10. Input: data/multilingual/*.txt and
# data/manifest.json from `scripts/fetch_data.py multilingual`. Seed 20250611 (random.Random).
#
# Texts: excerpts of 100–600 UTF-8 bytes, starting at a line start, 24 per script group
# (Latin with diacritics, English, Cyrillic, Greek, Arabic, Persian, Han, Japanese, Hangul,
# Thai, Devanagari, emoji) = 288, plus the hand-made hard cases below. Each case stores the
# words' lengths in bytes for `split(text)` ("none") and `split_with_limit(text, n)` for n = 8, 16.
#
# Usage: python3 scripts/make_splitter_goldens.py [--data data] [--out DIR]

import argparse
import importlib.metadata
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 20250611
PER_GROUP = 24
CAPS = [8, 16]

# Script group → source files under data/multilingual (excerpts are spread over the files).
GROUPS = {
    "latin-diacritics": ["fr-faq.txt", "de-faq.txt", "pt-faq.txt", "vi-handbook.txt", "pl-fortunes.txt",
                         "cs-fortunes.txt", "tr-handbook.txt", "es-fortunes.txt"],
    "latin-english": ["en-faq.txt", "en-handbook.txt"],
    "cyrillic": ["ru-faq.txt", "ru-fortunes.txt", "bg-fortunes.txt", "ru-handbook.txt"],
    "greek": ["el-handbook.txt", "el-libreoffice.txt"],
    "arabic": ["ar-handbook.txt"],
    "persian": ["fa-handbook.txt"],
    "han": ["zh-CN-faq.txt", "zh-TW-handbook.txt", "zh-fortunes.txt", "zh-Hans-golang.txt", "zh-Hant-golang.txt"],
    "japanese": ["ja-faq.txt", "ja-handbook.txt", "ja-golang.txt"],
    "hangul": ["ko-faq.txt", "ko-handbook.txt", "ko-golang.txt"],
    "thai": ["th-firefox.txt"],
    "devanagari": ["hi-firefox.txt", "hi-libreoffice.txt"],
    "emoji": ["emoji-unicode.txt"],
}

# Hand-made hard cases: (name, text).
HARD_CASES = [
    ("example-hello", "Hello, world!"),
    ("url", "See https://www.example.com/path/to/page?query=1&b=two#frag for details."),
    ("url-long", "https://deb.debian.org/debian/pool/main/u/unicode-data/unicode-data_15.0.0-1_all.deb"),
    ("email", "Write to first.last+tag@example.co.uk or @user on #channel."),
    ("numbers", "1,000.50 and 3.14e10, -42, +7, 1 000 000, 12:30, 2024-06-11, 50% of $100 (€85)."),
    ("numbers-scripts", "٣٫١٤ and ۱۲۳۴ and १२३ and ๑๒๓ and ½ 1⁄2 3⁄4"),
    ("contractions", "don't can't won't I'm it's rock'n'roll l'homme dell'anno aujourd’hui can’t"),
    ("abbreviations", "U.S.A. e.g. i.e. Dr. Smith vs. Mr. Jones, etc. at 3 p.m."),
    ("camel-case", "howAreYou iPhone XMLHttpRequest getHTTPResponseCode camelCaseWord ÉcoleNormale äÖü"),
    ("snake-kebab", "snake_case_name kebab-case-name CONSTANT_VALUE __init__ a--b a__b"),
    ("code", "for (int i = 0; i < n; i++) { x[i] += y[i] * 2; } // done\nif a != b: return f(a, b)"),
    ("json", '{"key": "value", "list": [1, 2.5, true, null], "nested": {"a": "b"}}'),
    ("markdown", "# Title\n\n* item **bold** _it_ `code`\n> quote\n1. first\n2. second\n"),
    ("space-runs", "a  b   c    d\t\te \t f  \n  g   "),
    ("space-leading-trailing", "   leading and trailing   "),
    ("space-only", "     "),
    ("newlines", "\n\n\nline\n\n\n\nline\n"),
    ("crlf", "first line\r\nsecond line\r\n\r\nthird\rfourth\n\r"),
    ("nbsp", "100\u00a0km, 5\u202f%, a\u00a0\u00a0b, \u00a0x, figure\u2007space"),
    ("zwsp-zwj-zwnj", "zero\u200bwidth\u200bspace, joiner\u200dx, non\u200cjoiner, می\u200cخواهم"),
    ("format-chars", "soft\u00adhyphen left\u200eto\u200fright word\u2060joiner\ufeffbom"),
    ("other-spaces", "em\u2003space ideographic\u3000space ogham\u1680space thin\u2009space"),
    ("line-separators", "a\u2028b\u2029c\u0085d\x0be\x0cf"),
    ("long-word-de", "Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichenhersteller"),
    ("long-word-letters", "a" * 150 + " " + "é" * 60 + " " + "Ж" * 45),
    ("long-word-digits", "3.14159265358979323846264338327950288419716939937510582097494459230781640628"),
    ("long-word-mixed", "x1y2z3" * 20),
    ("long-cjk", "中华人民共和国是工人阶级领导的以工农联盟为基础的人民民主专政的社会主义国家"),
    ("long-katakana", "コンピュータープログラミングインターナショナルアソシエーション"),
    ("long-thai", "การประชุมคณะกรรมการบริหารมหาวิทยาลัยครั้งที่หนึ่งประจำปีสองพันห้าร้อยหกสิบเจ็ด"),
    ("long-emoji", "🏳️‍🌈🏳️‍🌈🏳️‍🌈👨‍👩‍👧‍👦👨‍👩‍👧‍👦🇩🇪🇫🇷🇯🇵🇺🇸👍🏽👍🏿✌️🤌🏻"),
    ("emoji-sequences", "family 👨‍👩‍👧 flag 🇩🇪 skin 👋🏽 keycap 1️⃣ heart ❤️ zwj 🧑‍💻 text ☺︎ end"),
    ("emoji-adjacent", "hi😀there😀😀 ok👍.yes🎉!"),
    ("regional-indicators", "🇦🇧🇨🇩🇪 odd 🇦 🇦🇧🇨"),
    ("combining", "e\u0301te\u0301 cafe\u0301 n\u0303 a\u0308\u0304 Z\u0336a\u0337l\u0338g\u0335o\u0334"),
    ("combining-leading", "\u0301start \u0308 \u20dd circled"),
    ("hebrew", "צה\"ל אמר ש'כן' והלכנו ל\"בית\" ספר"),
    ("arabic-diacritics", "بِسْمِ اللَّهِ الرَّحْمَٰنِ الرَّحِيمِ، كتـــاب ١٢٣."),
    ("persian-mixed", "سلام، دنیا! این یک آزمایش است؟ (۱۴۰۲) «نقل‌قول»"),
    ("devanagari", "हिन्दी भाषा में क्षत्रिय और ज्ञान, श्री। १२३॥"),
    ("greek", "Ελληνικά: ΆΈΉ ά έ ή; «εισαγωγικά» ΟΔΟΣ.ΑΘΗΝΑ"),
    ("cyrillic-mixed", "Привет, мир! «Ёлка» — это ёжикВТумане и т.д. 2‑й раз"),
    ("japanese-mixed", "東京に行きます。カタカナとひらがな、漢字ー「引用」（括弧）ＡＢＣ１２３！"),
    ("chinese-punct", "你好，世界！这是“引号”和《书名》；１２３。"),
    ("korean", "안녕하세요, 세계! 한국어 텍스트입니다. ㄱㄴㄷ ᄀᄁ"),
    ("thai-mixed", "สวัสดีครับ Thai ไทย 123 ๑๒๓ ฯลฯ ๆ"),
    ("lao-khmer-myanmar", "ສະບາຍດີ ជំរាបសួរ မင်္ဂလာပါ"),
    ("mixed-scripts", "Latin кириллица ελληνικά العربية עברית 中文 日本語 한국어 ไทย हिन्दी"),
    ("punctuation-runs", "What?! Really... no--yes; (a) [b] {c} <d> «e» „f“ ‘g’ ¿h? ¡i! …j… ‒–—"),
    ("punctuation-space", "a , b . c ! d ( e ) f - g"),
    ("math-symbols", "x² + y³ = z⁴; ∑ᵢ aᵢ ≤ ∞ ± 1 × 2 ÷ 3 ≠ 4 → ∀x∃y"),
    ("control-chars", "tab\there\x01soh\x7fdel\x1besc[0m"),
    ("single-chars", "a"),
    ("single-space", " "),
    ("single-punct", "."),
    ("special-token-text", "<|eot_id|> <|begin_of_text|>hello<|end_of_text|>"),
    ("underscore-digits", "_1 1_ a_1 __ _ _a_ 1_000_000"),
    ("apostrophe-digits", "'90s it's 5'11\" O'Neil rock 'n' roll"),
]


def excerpt(rng, text, lo=100, hi=600):
    """A random excerpt of `text` that starts at a line start and has lo–hi UTF-8 bytes."""
    target = rng.randint(lo, hi)
    for _ in range(100):
        start = rng.randrange(0, max(1, len(text) - 1))
        nl = text.rfind("\n", 0, start)
        start = nl + 1 if nl >= 0 else 0
        out, size = [], 0
        for ch in text[start:]:
            b = len(ch.encode("utf-8"))
            if size + b > target:
                break
            out.append(ch)
            size += b
        if size >= lo:
            return start, "".join(out)
    raise SystemExit(f"no excerpt of {lo}–{hi} bytes found")


def lengths_of(words):
    return [len(w.encode("utf-8") if isinstance(w, str) else w) for w in words]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=os.path.join(ROOT, "data"))
    parser.add_argument("--out", default=os.path.join(ROOT, "Tests", "HATTextTests", "Fixtures"))
    args = parser.parse_args()

    from hat_splitter import HATSplitter
    version = importlib.metadata.version("hat-splitter")
    if version != "0.1.10":
        sys.exit(f"expected hat-splitter 0.1.10, found {version}")
    splitter = HATSplitter()
    manifest = json.load(open(os.path.join(args.data, "manifest.json"), encoding="utf-8"))
    provenance = {f["path"]: f for f in manifest["files"]}

    rng = random.Random(SEED)
    cases = []
    used_sources = set()
    for group, files in GROUPS.items():
        texts = {}
        for name in files:
            path = os.path.join(args.data, "multilingual", name)
            texts[name] = open(path, encoding="utf-8").read()
        for k in range(PER_GROUP):
            name = files[k % len(files)]
            start, text = excerpt(rng, texts[name])
            byte_offset = len(texts[name][:start].encode("utf-8"))
            cases.append({"id": f"{group}-{k:02d}", "group": group,
                          "source": f"multilingual/{name}@{byte_offset}", "text": text})
            used_sources.add(f"multilingual/{name}")
    for name, text in HARD_CASES:
        cases.append({"id": f"hard-{name}", "group": "hard", "source": "hand-made", "text": text})

    for case in cases:
        text = case["text"]
        words = splitter.split(text)
        assert "".join(words) == text, case["id"]
        case["lengths"] = {"none": lengths_of(words)}
        for cap in CAPS:
            pieces = splitter.split_with_limit(text, cap)
            assert b"".join(pieces) == text.encode("utf-8"), case["id"]
            case["lengths"][str(cap)] = lengths_of(pieces)

    os.makedirs(args.out, exist_ok=True)
    header = {"generator": "scripts/make_splitter_goldens.py", "reference": f"hat-splitter {version}",
              "seed": SEED, "caps": ["none"] + [str(c) for c in CAPS], "cases": len(cases),
              "notes": "lengths are the words' lengths in UTF-8 bytes; 'none' = split(text), "
                       "'8'/'16' = split_with_limit(text, n)"}
    with open(os.path.join(args.out, "splitter_goldens.json"), "w", encoding="utf-8") as f:
        f.write("{\"header\": " + json.dumps(header, ensure_ascii=False, sort_keys=True) + ",\n\"cases\": [\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")

    lines = ["# Splitter golden cases: sources",
             "",
             f"Written by `scripts/make_splitter_goldens.py` (seed {SEED}) with hat-splitter {version}.",
             f"{len(cases)} cases: {PER_GROUP} excerpts per script group from `data/multilingual` "
             f"(made by `scripts/fetch_data.py multilingual`) and {len(HARD_CASES)} hand-made hard cases.",
             "Each case's `source` is `file@byte offset` of the excerpt. The excerpts are short quotations",
             "of the files below, kept for testing under their licences:",
             "",
             "| file | package | version | licence |",
             "|---|---|---|---|"]
    for path in sorted(used_sources):
        p = provenance.get(path, {})
        lines.append(f"| {path} | {p.get('package', '?')} | {p.get('version', '?')} | {p.get('licence', '?')} |")
    lines += ["", "| group | cases |", "|---|---|"]
    for group in list(GROUPS) + ["hard"]:
        lines.append(f"| {group} | {sum(1 for c in cases if c['group'] == group)} |")
    with open(os.path.join(args.out, "splitter_goldens.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    size = os.path.getsize(os.path.join(args.out, "splitter_goldens.json"))
    print(f"wrote {len(cases)} cases ({size} bytes) to {args.out}")


if __name__ == "__main__":
    main()
