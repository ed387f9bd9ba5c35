#!/usr/bin/env python3
"""Writes the HATTokenizer test fixtures into Tests/HATTokenizerTests/Fixtures (committed).

Run: python3 scripts/make_tokenizer_fixtures.py
Needs data/ (python3 scripts/fetch_data.py english multilingual smollm2) and
(pip) tokenizers==0.23.3 transformers==5.24.0 gguf==0.19.0 numpy. Seeds are fixed, so rerunning
gives identical files; MANIFEST.json records versions, seeds, sources and what each file is.

What it writes:
- smollm2.tokenizer.json: the SmolLM2-135M tokenizer as transformers builds it from the GGUF
  (vocabulary, merges, the 17 special tokens), written compactly, with the pre-tokenizer that
  GGUF `tokenizer.ggml.pre = "smollm"` names (llama.cpp: digits one by one, then the GPT-2
  split; the same as the SmolLM2 tokenizer.json on the Hub). transformers 5.24 maps "smollm" to
  the plain GPT-2 ByteLevel split instead; those ids are kept too (`smollm2_gpt2`), where they
  differ, to test the "gpt2" pre-tokenizer on the same vocabulary.
- tiny_llama.tokenizer.json / tiny_llama.gguf: a 4,000-token byte-level BPE trained here with
  HF tokenizers on data/ text with the Llama 3 split regex ("llama-bpe"), ignore_merges as Llama 3,
  five special tokens after the vocabulary, BOS added by the post-processor.
- cases.json: the texts (>= 2,000: data/ lines and paragraphs, hand-written hard cases) with the
  ids HF tokenizers gives for each, and HF's decoded text where it is not the input.
- decode_cases.json: random id sequences and the string HF decodes them to (lossy UTF-8).
- unicode_classes.json: which scalars HF's regex engine (Oniguruma) puts in \\p{L}, \\p{N}, \\s,
  and which the Digits pre-tokenizer (Rust char::is_numeric) isolates, as ranges.
"""
import glob
import importlib.metadata
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "HATTokenizerTests", "Fixtures")
DATA = os.path.join(ROOT, "data")
SMOLLM2_DIR = os.path.join(DATA, "smollm2")
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SEED = 20240531
TINY_VOCAB = 3000

LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
EXTRA_WORDS = [" ignoremerges", "Xyzzy", " привет", "!!!?", "\t \t", "123", "ſt"]
TINY_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

manifest = {"script": "scripts/make_tokenizer_fixtures.py", "seed": SEED, "versions": {}, "files": {}, "sources": {}, "notes": []}


def bytes_to_unicode():
    """GPT-2's byte -> character table (the same as transformers.convert_slow_tokenizer.bytes_to_unicode)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode as table
    return table()


def write_json(name, value):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    return os.path.getsize(path)


# --- the texts -------------------------------------------------------------------------------

def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def data_cases(rng):
    """Lines and short paragraphs from data/english and data/multilingual, chosen by the seed."""
    cases = []
    english = sorted(glob.glob(os.path.join(DATA, "english", "*.txt")))
    picked = rng.sample(english, 16)
    for path in sorted(picked):
        lines = read_lines(path)
        name = "english/" + os.path.basename(path)
        candidates = [i for i, l in enumerate(lines) if 0 < len(l.encode()) <= 240]
        for i in sorted(rng.sample(candidates, min(len(candidates), 62))):
            cases.append((f"{name}:{i + 1}", lines[i]))
        for _ in range(2):  # paragraphs keep their line feeds (and blank lines)
            i = rng.randrange(0, max(1, len(lines) - 6))
            text = "\n".join(lines[i:i + rng.randint(2, 6)])
            if len(text.encode()) <= 500:
                cases.append((f"{name}:{i + 1}+", text))
    for path in sorted(glob.glob(os.path.join(DATA, "multilingual", "*.txt"))):
        lines = read_lines(path)
        name = "multilingual/" + os.path.basename(path)
        candidates = [i for i, l in enumerate(lines) if 0 < len(l.encode()) <= 200]
        for i in sorted(rng.sample(candidates, min(len(candidates), 14))):
            cases.append((f"{name}:{i + 1}", lines[i]))
        for _ in range(1):
            i = rng.randrange(0, max(1, len(lines) - 5))
            text = "\n".join(lines[i:i + rng.randint(2, 5)])
            if len(text.encode()) <= 500:
                cases.append((f"{name}:{i + 1}+", text))
    return cases


CODE = {
    "python": '''def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


if __name__ == "__main__":
    print(f"{fib(30)=}")  # 832040
''',
    "swift": '''public struct Point: Hashable, Sendable {
    public var x, y: Double
    public static func + (l: Point, r: Point) -> Point { Point(x: l.x + r.x, y: l.y + r.y) }
}
let ps = [Point(x: 1, y: 2), .init(x: -3.5e-2, y: 0x1p4)]
print(ps.reduce(Point(x: 0, y: 0), +))
''',
    "c": '''#include <stdio.h>
int main(int argc, char **argv) {
\tfor (int i = 0; i < argc; ++i) {
\t\tprintf("%d: %s\\n", i, argv[i]);
\t}
\treturn 0;
}
''',
    "rust": '''fn main() {
    let v: Vec<u32> = (1..=10).filter(|x| x % 2 == 0).collect();
    println!("{:?} {}", v, v.iter().sum::<u32>());
    let s = String::from("héllo"); let r = &s[..];
}
''',
    "javascript": '''const f = async (url) => {
  const r = await fetch(url, { method: 'GET' });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
};
''',
    "sql": "SELECT u.id, COUNT(*) AS n\r\nFROM users u JOIN orders o ON o.user_id = u.id\r\nWHERE o.created_at >= '2024-01-01'\r\nGROUP BY u.id HAVING n > 3;\r\n",
    "haskell": "main :: IO ()\nmain = mapM_ print $ takeWhile (< 100) [x * x | x <- [1 ..], odd x]\n",
    "shell": "#!/bin/sh\nset -eu\nfor f in *.txt; do\n  wc -l \"$f\" | awk '{print $1}' >> counts   \nDone\n",
    "json": '{"name": "hat", "version": "0.1.0", "deps": [], "nested": {"a": [1, 2.5, -3e10, null, true]}}',
    "html": '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>T&amp;C</title></head>\n<body><p class="x">Hi&nbsp;there</p></body></html>',
    "latex": r"\begin{equation} E = mc^2 \quad \int_0^\infty e^{-x^2}\,dx = \frac{\sqrt{\pi}}{2} \end{equation}",
    "go": "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tch := make(chan int, 3)\n\tgo func() { ch <- 42 }()\n\tfmt.Println(<-ch)\n}\n",
    "yaml": "steps:\n  - name: build\n    run: swift build -c release\n  - name: test   \n    run: |\n      swift test\n",
}


def hand_cases(rng):
    cases = []

    def add(name, text):
        cases.append(("hand:" + name, text))

    for lang, code in CODE.items():
        add("code-" + lang, code)
        for i, line in enumerate(code.split("\n")):
            if line:
                add(f"code-{lang}-line{i + 1}", line)

    contractions = [
        "I'm sure you'll see they've done what we'd said, isn't it?",
        "I'M SURE YOU'LL SEE THEY'VE DONE WHAT WE'D SAID, ISN'T IT?",
        "'S 'T 'RE 'VE 'M 'LL 'D 's 't 're 've 'm 'll 'd",
        "It'S ThE Cat'S, We'Ll sEe, They'Re, you'Ve, I'M, she'D",
        "don't won't can't shan't y'all ma'am o'clock rock'n'roll",
        "'sa 'Sa 'tall 'redo 'vex 'mm 'llama 'do 'hello",
        "'ſ 'ſa 'ﬆa 'Ka 'ǈa 'İa",   # long s folds to s under (?i); others do not
        "‘curly’ quotes aren't contractions: it’s, don’t",
        "rock 'n' roll, ''s, '''ll, ' s, 's's's",
        "Dickens's O'Neill O'NEILL rock'n'roll d'Artagnan l'homme",
    ]
    for i, t in enumerate(contractions):
        add(f"contractions-{i}", t)

    spaces = [
        "a  b   c    d", "  leading two", "trailing two  ", "   ", " ", "\t", "\ttab\tseparated\tvalues\t",
        "mixed \t \t mixed", "line\nfeed", "crlf\r\nline\r\n", "\r\n\r\n", "\n\n\n", "a\n\n\nb", "a \n b",
        "a \r\n  b", "x\u00a0\u00a0y", "nbsp\u00a0word", "\u2003em\u2003space", "ideographic\u3000space",
        "nel\u0085next", "ls\u2028ps\u2029end", "vt\u000bff\u000cend", "trailing spaces   \nnext line  \n",
        " \n\n  x", "a \t\r\n b", "    indented\n        more\n    less", "tab\t\t\t\tend", "end with newline\n",
        "  \u200b  zero width", "a\u200db\u200cc\u2060d\ufeffe", "x  7", "a  ½", "  12  34  ",
    ]
    for i, t in enumerate(spaces):
        add(f"whitespace-{i}", t)

    numbers = [
        "0", "7", "42", "123", "1234", "12345", "1234567890", "3.14159265358979323846",
        "1,234,567.89", "1e-10 2E+5 0x1F 0b1010 0o777", "+44 (0)20 7946 0958", "2024-05-31T12:34:56Z",
        "v1.2.3-rc.4+build.5", "IPv4 192.168.0.1 and IPv6 2001:db8::1", "99 bottles, 98 bottles, 97",
        "x1y22z333w4444", "abc123def", "½ ⅓ ¼ ¾ ⅞", "² ³ ¹ ⁴ ₀ ₁ ₂", "Ⅰ Ⅱ Ⅲ Ⅳ Ⅻ ⅿ", "٠١٢٣٤٥٦٧٨٩ ۰۱۲۳",
        "०१२३४५६७८९", "๐๑๒๓๔๕๖๗๘๙", "１２３４５ full width", "①②③ ⑴⑵", "𝟎𝟏𝟐 𝟙𝟚", "🄀🄁",
        "3141592653589793238462643383279502884197169399375105820974944592307816406286208998628034825342117067",
        "pi=3.14 e=2.718 phi≈1.618", "1 000 000", "$1.99 €2,50 ¥300 ₹1,00,000", "Tel: 0049-30-123456",
    ]
    for i, t in enumerate(numbers):
        add(f"numbers-{i}", t)

    scripts = [
        "中文字符测试，包括标点。北京是中国的首都。", "日本語のテキスト、ひらがなとカタカナ、漢字。東京タワー！",
        "한국어 텍스트입니다. 안녕하세요, 세계!", "العربية: مرحبا بالعالم، كيف حالك؟", "עברית: שלום עולם! מה שלומך?",
        "हिन्दी: नमस्ते दुनिया, आप कैसे हैं?", "Русский: Привет, мир! Как дела?", "ภาษาไทย: สวัสดีชาวโลก",
        "Ελληνικά: Γειά σου Κόσμε", "ქართული: გამარჯობა მსოფლიო", "Հայերեն: Բարեւ աշխարհ", "አማርኛ: ሰላም ለዓለም",
        "தமிழ்: வணக்கம் உலகம்", "বাংলা: হ্যালো বিশ্ব", "Tiếng Việt: Xin chào thế giới", "ᚠᚢᚦᚨᚱᚲ runes", "ꦲꦏ꧀ꦱꦫ Javanese",
        "𐌰𐌱𐌲 Gothic 𐐀𐐁 Deseret", "𠀀𠀁𠀂 CJK ext B", "Mongolian ᠮᠣᠩᠭᠣᠯ", "Tibetan བོད་ཡིག", "Sinhala සිංහල",
        "Unicode 16 letters: 𐵐𐵑 (Garay) 𖄀𖄁 (Gurung Khema)", "Unicode 17 letters: \u088f \u0c5c \ua7ce\ua7cf \U00010940\U00010941",
        "Unicode 17 digits: \U00011de0\U00011de1\U00011de2 and \U00016ff4\U00016ff5",
        "CJK ext J: \U000323b0\U000323b1\U000323b2", "Private use \ue000\uf8ff and \U000f0000", "Noncharacters \ufdd0 \ufffe \uffff",
    ]
    for i, t in enumerate(scripts):
        add(f"scripts-{i}", t)

    emoji = [
        "😀😃😄 faces", "👍🏻👍🏼👍🏽👍🏾👍🏿 skin tones", "👨‍👩‍👧‍👦 family ZWJ", "🏳️‍🌈 🏴‍☠️ flags ZWJ",
        "🇩🇪🇫🇷🇯🇵 regional indicators", "❤️ ♥ ☺️ variation selectors", "🧑🏽‍💻 technologist", "1️⃣#️⃣*️⃣ keycaps",
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland tag sequence", "emoji👍in👍words", " 🚀 🚀  🚀", "🫠🫡🫢🫣 new emoji",
    ]
    for i, t in enumerate(emoji):
        add(f"emoji-{i}", t)

    marks = [
        "e\u0301 a\u0300 o\u0308 n\u0303 (decomposed)", "é à ö ñ (composed)", "Z\u0351\u0357\u0300\u0304a\u0306\u0315l\u0314g\u0309o\u0351",
        "\u0301leading combining mark", "a\u0301b", "क्षत्रिय ज्ञान", "ﷺ ﷽", "x\u20dd circle", "Ǆ ǅ ǆ ǈ titlecase",
        "ﬁ ﬂ ﬀ ligatures", "İstanbul ıi", "ß ẞ straße STRASSE", "Ωmega Ω K Å", "Åmål ÅMÅL",
    ]
    for i, t in enumerate(marks):
        add(f"marks-{i}", t)

    specials = [
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
        "text<|im_start|>glued<|im_end|>text", "<|endoftext|>", "a <|endoftext|> b", "<|im_start|><|im_end|><|endoftext|>",
        "<|im_start|", "|im_start|>", "<<|im_start|>>", "<|im_start|><|im_start|>", " <|im_end|> ",
        "<repo_name>hat<file_sep>main.swift<filename>x<gh_stars>10", "<jupyter_code>print(1)<jupyter_output>1",
        "<|begin_of_text|>Hello<|eot_id|>", "<|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>",
        "<|begin_of_text|><|begin_of_text|>", "x<|end_of_text|>y", "<|begin_of_text", "<issue_start>bug<issue_comment>fixed<issue_closed>",
    ]
    for i, t in enumerate(specials):
        add(f"special-{i}", t)

    missing = [
        "control \u0004 \u0006 \u0013 \u0014 \u0016 \u001d bytes", "plane 4-11 \U00040000 \U0005ffff \U0006a431 \U000ad000 ok",
        "SignWriting \U0001d800\U000461b1\U000486a3", "NUL \u0000 byte", "bell\u0007 escape\u001b[0m",
    ]
    for i, t in enumerate(missing):
        add(f"missing-bytes-{i}", t)

    punctuation = [
        "Hello, world! How are you? I'm fine... Really?!", "--- *** ___ ~~~ ``` ''' \"\"\"", "a--b -- c—d – e",
        "(parenthesised) [bracketed] {braced} <angled>", "email@example.com https://example.org/path?q=1&r=2#frag",
        "#hashtag @mention $var %percent ^caret &amp *star", "«guillemets» „German“ “English” 「日本」", "…‽⁂※†‡",
        "snake_case camelCase PascalCase kebab-case SCREAMING_CASE", "C:\\Users\\me\\file.txt /usr/local/bin",
        "!!!???...,,,;;;:::", "a\n!\n?\r\n.\n", "x ,y , z", " .leading", "end .\n", ". \n\n x",
    ]
    for i, t in enumerate(punctuation):
        add(f"punctuation-{i}", t)

    # very long words: one repeated letter, a word made of real syllables, random letters
    add("long-repeat", "a" * 2000)
    add("long-spaces", " " * 300 + "x" + " " * 300)
    add("long-digits", "9" * 1000)
    syllables = ["ta", "ke", "ri", "mo", "nu", "sha", "pel", "gro", "stin", "ver", "ion", "ing", "the"]
    add("long-syllables", "".join(rng.choice(syllables) for _ in range(1500)))
    add("long-random", "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4000)))
    add("long-cyrillic", "".join(rng.choice("абвгдеёжзийклмнопрстуфхцчшщъыьэюя") for _ in range(1500)))
    add("long-punct", "".join(rng.choice("!?.,;:-_*#") for _ in range(1000)))
    add("long-han", "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(800)))

    # random soup of characters from many classes
    alphabet = (list("abcXYZ019 \t\n\r'.,!?-_") + ["\u00a0", "é", "ß", "ſ", "中", "あ", "한", "ك", "ש", "क", "ि", "ก", "้",
                "😀", "👍🏽", "\u200d", "\u0301", "½", "٣", "²", "Ⅻ", "\u2028", "\u3000", "\u0085", "<|im_start|>", "<|eot_id|>"])
    for i in range(100):
        add(f"soup-{i}", "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
    return cases


# --- reference tokenizers --------------------------------------------------------------------

def smollm2_from_gguf():
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(SMOLLM2_DIR, gguf_file=SMOLLM2_GGUF)
    return tok.backend_tokenizer


def compact_tokenizer_json(tokenizer_json):
    """The same tokenizer, merges as "a b" strings (both forms are read by HF and by us)."""
    j = json.loads(tokenizer_json)
    merges = j["model"]["merges"]
    if merges and isinstance(merges[0], list):
        assert all(" " not in a and " " not in b for a, b in merges)
        j["model"]["merges"] = [a + " " + b for a, b in merges]
    return j


def smollm2_fixture():
    from tokenizers import Tokenizer
    backend = smollm2_from_gguf()
    as_transformers = json.loads(backend.to_str())
    assert as_transformers["pre_tokenizer"]["type"] == "ByteLevel", as_transformers["pre_tokenizer"]
    j = compact_tokenizer_json(backend.to_str())
    j["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ],
    }
    size = write_json("smollm2.tokenizer.json", j)
    manifest["files"]["smollm2.tokenizer.json"] = (
        f"{size} bytes: SmolLM2-135M-Instruct's tokenizer from data/smollm2/{SMOLLM2_GGUF} via transformers "
        "AutoTokenizer(gguf_file=...) backend_tokenizer, merges written as 'a b' strings, pre_tokenizer set to "
        "Sequence[Digits(individual_digits), ByteLevel(use_regex)] (what GGUF pre 'smollm' means in llama.cpp, "
        "and the Hub's SmolLM2 tokenizer.json); the reference ids come from HF tokenizers reading this very file")
    committed = Tokenizer.from_file(os.path.join(OUT, "smollm2.tokenizer.json"))
    return committed, backend


def tiny_llama_fixture(rng):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    texts = []
    for path in sorted(glob.glob(os.path.join(DATA, "english", "*.txt")))[:8]:
        texts += read_lines(path)[:4000]
    for path in sorted(glob.glob(os.path.join(DATA, "multilingual", "*handbook.txt"))):
        texts += read_lines(path)[:600]
    texts += read_lines(os.path.join(DATA, "multilingual", "emoji-unicode.txt"))[:800]
    texts += [c for c in CODE.values()]
    manifest["sources"]["tiny_llama training text"] = (
        "first 4000 lines of the first 8 data/english files (sorted by name), first 600 lines of every "
        "data/multilingual/*handbook.txt, first 800 lines of data/multilingual/emoji-unicode.txt, the hand-written code samples")

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    # Words the merges never build, added to the vocabulary as a converted tiktoken vocabulary (Llama 3)
    # has them: only ignore_merges turns them into one id.
    trained = json.loads(tok.to_str())
    spell = bytes_to_unicode()
    for word in EXTRA_WORDS:
        spelled = "".join(spell[b] for b in word.encode())
        assert spelled not in trained["model"]["vocab"], word
        trained["model"]["vocab"][spelled] = len(trained["model"]["vocab"])
    tok = Tokenizer.from_str(json.dumps(trained))
    tok.add_special_tokens(TINY_SPECIALS)
    bos = tok.token_to_id(TINY_SPECIALS[0])
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{TINY_SPECIALS[0]} $A", pair=f"{TINY_SPECIALS[0]} $A {TINY_SPECIALS[0]} $B:1",
                                      special_tokens=[(TINY_SPECIALS[0], bos)]),
    ])
    j = compact_tokenizer_json(tok.to_str())
    assert j["model"]["ignore_merges"] is True
    size = write_json("tiny_llama.tokenizer.json", j)
    manifest["files"]["tiny_llama.tokenizer.json"] = (
        f"{size} bytes: byte-level BPE trained by HF tokenizers (BpeTrainer vocab {TINY_VOCAB}, min_frequency 2, the 256-byte "
        "initial alphabet), pre-tokenizer Split(Llama 3 regex, Isolated) + ByteLevel(use_regex=false), ignore_merges=true, "
        f"the words {EXTRA_WORDS} added to the vocabulary without merges (only ignore_merges makes them one id), special tokens {TINY_SPECIALS} appended after the vocabulary, post-processor ByteLevel + TemplateProcessing "
        "'<|begin_of_text|> $A' (adds BOS, as Llama 3)")
    committed = Tokenizer.from_file(os.path.join(OUT, "tiny_llama.tokenizer.json"))

    # the same tokenizer as GGUF metadata, for each pre-tokenizer name we read
    import gguf
    vocab = committed.get_vocab(with_added_tokens=True)
    n = len(vocab)
    by_id = [None] * n
    for token, i in vocab.items():
        by_id[i] = token
    assert None not in by_id
    specials = set(TINY_SPECIALS)
    types = [3 if t in specials else 1 for t in by_id]
    merges = j["model"]["merges"]
    for pre, name in [("llama-bpe", "tiny_llama.gguf")]:
        path = os.path.join(OUT, name)
        w = gguf.GGUFWriter(path, "llama")
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(by_id)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_bos_token_id(bos)
        w.add_eos_token_id(committed.token_to_id(TINY_SPECIALS[1]))
        w.add_add_bos_token(pre == "llama-bpe")
        w.add_add_eos_token(False)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        manifest["files"][name] = (
            f"{os.path.getsize(path)} bytes: GGUF v3 (no tensors) with the tiny_llama vocabulary as llama.cpp stores it: "
            f"tokenizer.ggml.model 'gpt2', pre '{pre}', tokens, token_type (3 = control for the 5 specials), merges, "
            f"bos {bos}, eos {committed.token_to_id(TINY_SPECIALS[1])}, add_bos_token {pre == 'llama-bpe'}")
    return committed, words_needing_ignore_merges(committed, j)


def words_needing_ignore_merges(tok, j):
    """Vocabulary tokens that are a whole pre-token but that the merges alone would not rebuild:
    with ignore_merges (Llama 3) they come out as one id, without it as several."""
    from tokenizers import Tokenizer, decoders
    variant = dict(j, model=dict(j["model"], ignore_merges=False))
    without = Tokenizer.from_str(json.dumps(variant))
    byte_decoder = decoders.ByteLevel()
    words = []
    for token, i in sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1]):
        text = byte_decoder.decode([token])
        if "\ufffd" in text or len(tok.pre_tokenizer.pre_tokenize_str(text)) != 1:
            continue
        if tok.encode(text, add_special_tokens=False).ids == [i] and len(without.encode(text, add_special_tokens=False).ids) > 1:
            words.append(text)
    return words


# --- Unicode classes as HF's regex engine sees them ---------------------------------------

def ranges(members):
    out = []
    for c in members:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def unicode_classes():
    from tokenizers import Regex, pre_tokenizers
    scalars = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    text = "".join(map(chr, scalars))

    def members(pattern):
        split = pre_tokenizers.Split(Regex(pattern), behavior="removed")
        return [ord(ch) for piece, _ in split.pre_tokenize_str(text) for ch in piece]

    result = {"L": ranges(members(r"[^\p{L}]+")), "N": ranges(members(r"[^\p{N}]+")), "S": ranges(members(r"[^\s]+"))}
    digits = pre_tokenizers.Digits(individual_digits=False)
    interleaved = "a".join(map(chr, scalars))
    numeric = sorted(ord(ch) for piece, _ in digits.pre_tokenize_str(interleaved) if "a" not in piece for ch in piece)
    result["D"] = ranges(numeric)
    size = write_json("unicode_classes.json", result)
    manifest["files"]["unicode_classes.json"] = (
        f"{size} bytes: [first, last] scalar ranges that HF tokenizers' regex engine (Oniguruma) matches with \\p{{L}} (L), "
        "\\p{N} (N) and \\s (S), and that the Digits pre-tokenizer isolates (D, Rust char::is_numeric), over all scalars")


# --- main ------------------------------------------------------------------------------------

def main():
    os.makedirs(OUT, exist_ok=True)
    for package in ["tokenizers", "transformers", "gguf", "numpy"]:
        manifest["versions"][package] = importlib.metadata.version(package)
    manifest["versions"]["python"] = sys.version.split()[0]
    rng = random.Random(SEED)

    smollm2, smollm2_transformers = smollm2_fixture()
    tiny, ignore_merges_words = tiny_llama_fixture(rng)
    cases = data_cases(rng) + hand_cases(rng)
    cases += [(f"hand:ignore-merges-{k}", w) for k, w in enumerate(ignore_merges_words[:40])]
    manifest["notes"].append(
        f"{len(ignore_merges_words)} tiny_llama vocabulary tokens are whole pre-tokens that its merges alone split "
        "(ignore_merges keeps them whole); the first 40 are cases hand:ignore-merges-*")
    seen, unique = set(), []
    for source, text in cases:
        if text not in seen:
            seen.add(text)
            unique.append((source, text))
    cases = unique
    manifest["sources"]["cases"] = (
        "data/english: 16 files chosen by the seed, 62 lines (<= 240 bytes) and 2 paragraphs of 2-6 lines (<= 500 bytes); "
        "data/multilingual: every file, 14 lines (<= 200 bytes) and a paragraph of 2-5 lines (<= 500 bytes); hand-written hard cases (hand:*) in this script. "
        "A case's source is FILE:LINE (FILE:LINE+ for a paragraph starting there). data/manifest.json names each file's origin.")

    out_cases = []
    differ_gpt2 = 0
    for source, text in cases:
        ids = smollm2.encode(text, add_special_tokens=False).ids
        ids_t = smollm2_transformers.encode(text, add_special_tokens=False).ids
        tiny_ids = tiny.encode(text, add_special_tokens=False).ids
        with_bos = tiny.encode(text, add_special_tokens=True).ids
        assert with_bos == [tiny.token_to_id(TINY_SPECIALS[0])] + tiny_ids
        case = {"source": source, "text": text, "smollm2": ids, "tiny_llama": tiny_ids}
        if ids_t != ids:
            case["smollm2_gpt2"] = ids_t
            differ_gpt2 += 1
        decoded = smollm2.decode(ids, skip_special_tokens=False)
        if decoded != text:
            case["smollm2_decoded"] = decoded
        decoded = tiny.decode(tiny_ids, skip_special_tokens=False)
        if decoded != text:
            case["tiny_llama_decoded"] = decoded
        out_cases.append(case)
    size = write_json("cases.json", {"cases": out_cases})
    n_bytes = sum(len(t.encode()) for _, t in cases)
    manifest["files"]["cases.json"] = (
        f"{size} bytes: {len(out_cases)} texts ({n_bytes} bytes of UTF-8) with the ids HF tokenizers gives "
        "(encode(text, add_special_tokens=False)) for smollm2.tokenizer.json ('smollm2') and tiny_llama.tokenizer.json "
        "('tiny_llama'); 'smollm2_gpt2': transformers' own tokenizer from the GGUF (plain GPT-2 ByteLevel split), only "
        "where it differs; '*_decoded': HF decode(ids, skip_special_tokens=False) where it is not the text")
    manifest["notes"].append(
        f"transformers {manifest['versions']['transformers']} builds the SmolLM2 GGUF tokenizer with the plain GPT-2 split "
        f"(it has no entry for pre 'smollm'); its ids differ from the digit-splitting tokenizer on {differ_gpt2} of "
        f"{len(out_cases)} cases (e.g. '  7': GPT-2 split gives 'Ġ','Ġ','7', digits first give 'ĠĠ','7').")

    # decoding random id sequences (byte soup): HF's lossy UTF-8 decoding
    decode_cases = []
    for name, tok in [("smollm2", smollm2), ("tiny_llama", tiny)]:
        n = tok.get_vocab_size(with_added_tokens=True)
        for _ in range(200):
            ids = [rng.randrange(n) for _ in range(rng.randint(1, 12))]
            decode_cases.append({"tokenizer": name, "ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                                 "text_skipping_special": tok.decode(ids, skip_special_tokens=True)})
    size = write_json("decode_cases.json", {"cases": decode_cases})
    manifest["files"]["decode_cases.json"] = (
        f"{size} bytes: 200 random id sequences per tokenizer and HF decode(ids) with skip_special_tokens False and True")

    # transformers on the tiny GGUF, for the record (not a reference)
    try:
        from transformers import AutoTokenizer
        t = AutoTokenizer.from_pretrained(OUT, gguf_file="tiny_llama.gguf").backend_tokenizer
        differ = [c["source"] for c in out_cases if t.encode(c["text"], add_special_tokens=False).ids != c["tiny_llama"]]
        extra = sorted(set(t.get_vocab(with_added_tokens=True)) - set(tiny.get_vocab(with_added_tokens=True)))
        manifest["notes"].append(
            f"transformers' tokenizer from tiny_llama.gguf (not a reference here) differs from tiny_llama.tokenizer.json on "
            f"{len(differ)} cases ({', '.join(differ)}): its GPT2Tokenizer adds tokens the GGUF does not have ({extra}) and "
            f"sets ignore_merges={json.loads(t.to_str())['model'].get('ignore_merges')} where llama.cpp's llama-bpe ignores merges")
    except Exception as e:  # noqa: BLE001 - only a note
        manifest["notes"].append(f"transformers could not load tiny_llama.gguf: {type(e).__name__}: {str(e)[:200]}")

    unicode_classes()
    with open(os.path.join(OUT, "MANIFEST.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(manifest, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
