"""hat's data plan in Python: the generator, Swift's shuffle and bounded draws (values printed by
Swift 6 with Sources/HATTensor/Random.swift and the standard library's shuffle), the document
split's rounding, the splitter's rule for bytes that are not UTF-8, rows and padded batches."""

import numpy as np
import pytest

from hat_torch.data import PaddedBatch, WordSplitter, WordStream, split_documents
from hat_torch.rng import MASK64, RandomGenerator, training_order


def test_training_order_equals_swift():
    assert training_order(10, 1, 0) == [3, 0, 4, 5, 1, 6, 2, 7, 9, 8]
    assert training_order(10, 1, 1) == [7, 4, 3, 5, 6, 2, 0, 9, 8, 1]
    assert training_order(7, 12345678901234, 3) == [4, 0, 6, 2, 1, 3, 5]
    order = training_order(1000, 1, 0)
    assert order[:12] == [387, 259, 256, 308, 291, 3, 14, 40, 826, 240, 657, 469]
    digest = 0
    for x in order:
        digest = (digest * 31 + x) & MASK64
    assert digest == 7977868936387878344


def test_bounded_draws_equal_swift():
    """A bound near 2^64/6 rejects often, so Lemire's retry path runs too."""
    rng = RandomGenerator(42)
    assert [rng.next_below(3_000_000_000_000_000_000) for _ in range(6)] == [
        251588913179646784, 1136940751988005919, 2040130233084418166, 2774078835976162808, 2975411742846308648,
        2309218381302727477]


def test_split_equals_swift():
    """Swift shuffled doc0…doc8 with seed 1 ^ 0x5EED5EED into doc4, doc7, doc6, …; validation is the
    first round(n·fraction) of that order, rounding halves away from zero (2.5 → 3)."""
    documents = [(f"doc{i}.txt", b"x") for i in range(9)]
    _, validation = split_documents(documents, 0.2, 1)                   # 1.8 → 2
    assert [name for name, _ in validation] == ["doc4.txt", "doc7.txt"]
    ten = [(f"doc{i}.txt", b"x") for i in range(10)]
    train, validation = split_documents(ten, 0.25, 1)                    # 2.5 → 3
    assert len(validation) == 3 and len(train) == 7
    train, validation = split_documents(ten, 0.01, 1)                    # at least one
    assert len(validation) == 1
    train, validation = split_documents(documents[:1], 0.5, 1)           # one document: all train
    assert validation == [] and len(train) == 1


def test_splitter_on_bytes_that_are_not_utf8():
    """WordSplitter.swift's rule: a byte that starts no character is a word of its own and splits
    the text around it; a character still arriving at the end stays with the word before it."""
    splitter = WordSplitter(100)
    text = "hello world".encode()
    assert splitter.ends(text) == [5, 11]
    assert splitter.ends(b"ab\xffcd") == [2, 3, 5]
    assert splitter.ends(b"hello \xc3") == [5, 7]                        # " \xc3": prefix joins the last word
    assert splitter.ends(b"\xe2\x82") == [2]
    assert splitter.ends(bytes([192]) + b"x") == [1, 2]


def test_splitter_cap():
    assert WordSplitter(4).ends("Hello world".encode()) == [4, 5, 9, 11]


def test_rows_respect_words_and_bytes():
    splitter = WordSplitter(100)
    stream = WordStream([("a", b"one two three four five six seven"), ("b", b"eight nine")], splitter, 192)
    # words: [eos] one _two _three _four _five _six _seven [eos] eight _nine
    rows = stream.rows(words_per_row=3, max_row_bytes=10)
    assert all(end - start <= 3 and stream.row_bytes((start, end)) <= 10 for start, end in rows)
    assert rows[0] == (0, 3) and rows[-1][1] == stream.word_count
    assert [r[0] for r in rows[1:]] == [r[1] for r in rows[:-1]]
    # A word longer than the byte budget still forms a row of its own.
    long = WordStream([("c", b"abcdefghijkl")], splitter, 192)
    assert long.rows(8, 5) == [(0, 1), (1, 2)]


def test_padded_batch_targets_and_words():
    rows = [(np.frombuffer(b"\xc0ab c", dtype=np.uint8), np.array([1, 3, 5])),
            (np.frombuffer(b"\xc0x", dtype=np.uint8), np.array([1, 2]))]
    batch = PaddedBatch(rows)
    assert batch.ids.shape == (2, 5) and batch.word_bytes.shape == (2, 3, 2)
    assert batch.targets[0].tolist() == [ord("a"), ord("b"), ord(" "), ord("c"), -100]
    assert batch.targets[1].tolist() == [ord("x"), -100, -100, -100, -100]
    assert batch.predicted == 5 and batch.byte_count == 7 and batch.word_count == 5
    assert batch.word_of_byte[0].tolist() == [0, 1, 1, 2, 2]
    assert batch.word_bytes[0].tolist() == [[0, 0], [1, 2], [3, 4]]
    assert batch.word_bytes_mask[0].tolist() == [[True, False], [True, True], [True, True]]
    assert batch.word_bytes_mask[1, 2].tolist() == [True, False]         # a padding word sees byte 0 only


def test_zero_bound_is_an_error():
    with pytest.raises(ValueError):
        RandomGenerator(1).next_below(0)
