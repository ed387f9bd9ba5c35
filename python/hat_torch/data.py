"""Data as hat forms it (Sources/HATModel/{Corpus,WordStream,Batch}.swift), so that a run
continued by the other engine sees the same rows in the same order:

- documents: a file is one document; a directory contributes every *.txt under it (any depth,
  relative paths sorted), named by its path relative to the directory;
- split by document: names sorted, shuffled by hat's generator seeded with seed ^ 0x5EED5EED,
  the first round(n·fraction) (at least 1, at most n − 1) are validation; both sorted by name;
  with fewer than two documents or fraction 0 everything trains, in the order given;
- word stream: each document opened by the end-of-sequence word (one byte, eos_token_id), then
  its words as hat-splitter cuts them with the max_word_size cap (bytes that are not UTF-8
  follow hat's rule, WordSplitter.swift);
- rows: consecutive whole words, at most words_per_row words and max_row_bytes bytes;
- training order: a permutation of the rows per epoch from (seed, epoch) (rng.training_order);
  a step takes rows_per_batch rows per micro-batch, `accumulation` micro-batches;
- a batch: one padded tensor row per hat row (positions restart per row); the target of byte t
  is byte t + 1 of the same row.
"""

import os

import numpy as np
import torch

from .rng import RandomGenerator, training_order


class DataError(ValueError):
    pass


# ---------------------------------------------------------------------------- documents

def read_documents(paths):
    """[(name, bytes)] of files and directories of *.txt, in hat's order."""
    documents = []
    for path in paths:
        if os.path.isdir(path):
            names = []
            for directory, _, files in os.walk(path):
                for file in files:
                    if file.endswith(".txt"):
                        names.append(os.path.relpath(os.path.join(directory, file), path).replace(os.sep, "/"))
            if not names:
                raise DataError(f"no .txt files in directory {path}")
            for name in sorted(names):
                documents.append((name, _read(os.path.join(path, name))))
        elif os.path.exists(path):
            documents.append((os.path.basename(path), _read(path)))
        else:
            raise DataError(f"data path not found: {path}")
    return documents


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error}") from None


def split_documents(documents, validation_fraction, seed):
    """(train, validation) as Corpus.split."""
    if len(documents) < 2 or validation_fraction <= 0:
        return list(documents), []
    order = sorted(documents, key=lambda d: d[0])
    RandomGenerator((seed ^ 0x5EED5EED) & ((1 << 64) - 1)).shuffle(order)
    wanted = int(np.floor(len(documents) * validation_fraction + 0.5))    # Swift's .rounded(): halves away from 0
    count = min(max(1, wanted), len(documents) - 1)
    validation = sorted(order[:count], key=lambda d: d[0])
    names = {d[0] for d in validation}
    train = sorted((d for d in documents if d[0] not in names), key=lambda d: d[0])
    return train, validation


# ---------------------------------------------------------------------------- words

def _char_length(data, i):
    """Length of the well-formed UTF-8 character at i (Unicode Table 3-7), −1 when none starts
    there, 0 when a well-formed prefix reaches the end of the data."""
    b = data[i]
    if b < 0x80:
        return 1
    if 0xC2 <= b <= 0xDF:
        need, lo, hi = 1, 0x80, 0xBF
    elif b == 0xE0:
        need, lo, hi = 2, 0xA0, 0xBF
    elif 0xE1 <= b <= 0xEC or 0xEE <= b <= 0xEF:
        need, lo, hi = 2, 0x80, 0xBF
    elif b == 0xED:
        need, lo, hi = 2, 0x80, 0x9F
    elif b == 0xF0:
        need, lo, hi = 3, 0x90, 0xBF
    elif 0xF1 <= b <= 0xF3:
        need, lo, hi = 3, 0x80, 0xBF
    elif b == 0xF4:
        need, lo, hi = 3, 0x80, 0x8F
    else:
        return -1
    for k in range(1, need + 1):
        if i + k >= len(data):
            return 0
        c = data[i + k]
        if not ((lo <= c <= hi) if k == 1 else (0x80 <= c <= 0xBF)):
            return -1
    return need + 1


class WordSplitter:
    """Word ends of any bytes: hat-splitter on UTF-8 with the byte cap; bytes that are not
    UTF-8 as hat's WordSplitter: a byte that starts no well-formed character is a one-byte word
    and the text on each side is split on its own; a character still arriving at the end stays
    with the word before it (or is a word of its own)."""

    def __init__(self, max_word_bytes):
        from hat_splitter import HATSplitter
        self.splitter = HATSplitter()
        self.cap = max_word_bytes

    def _split_valid(self, data, start, end, ends):
        if end > start:
            position = start
            for word in self.splitter.split_with_limit(data[start:end].decode("utf-8"), self.cap):
                position += len(word)
                ends.append(position)

    def ends(self, data):
        """Word ends (one past each word's last byte) of `data`."""
        ends = []
        try:
            data.decode("utf-8")
            self._split_valid(data, 0, len(data), ends)
            return ends
        except UnicodeDecodeError:
            pass
        i = run = 0
        n = len(data)
        while i < n:
            length = _char_length(data, i)
            if length > 0:
                i += length
                continue
            self._split_valid(data, run, i, ends)
            if length < 0:
                ends.append(i + 1)
                i += 1
                run = i
            else:
                if i > run:
                    ends[-1] = n
                else:
                    ends.append(n)
                return ends
        self._split_valid(data, run, n, ends)
        return ends


class WordStream:
    """Documents as one byte array and the end of every word; each document opened by the
    end-of-sequence word."""

    def __init__(self, documents, splitter, eos):
        chunks, ends, base = [], [], 0
        self.document_first_word = []
        for _, text in documents:
            self.document_first_word.append(len(ends))
            chunks.append(bytes([eos]))
            base += 1
            ends.append(base)
            chunks.append(text)
            ends.extend(base + e for e in splitter.ends(text))
            base += len(text)
        self.bytes = np.frombuffer(b"".join(chunks), dtype=np.uint8)
        self.ends = np.asarray(ends, dtype=np.int64)

    @property
    def word_count(self):
        return len(self.ends)

    @property
    def byte_count(self):
        return len(self.bytes)

    def word_start(self, i):
        return 0 if i == 0 else int(self.ends[i - 1])

    def rows(self, words_per_row, max_row_bytes):
        """[(first word, end word)]: consecutive whole words, as WordStream.rows."""
        rows, start, n = [], 0, self.word_count
        while start < n:
            first_byte = self.word_start(start)
            by_bytes = int(np.searchsorted(self.ends, first_byte + max_row_bytes, side="right"))
            end = min(start + words_per_row, n, by_bytes)
            if end <= start:
                end = start + 1           # a single word over the byte budget still forms a row
            rows.append((start, end))
            start = end
        return rows

    def row_bytes(self, row):
        return int(self.ends[row[1] - 1]) - self.word_start(row[0])

    def row_data(self, row):
        """(bytes, word ends relative to the row's first byte) of a row."""
        first = self.word_start(row[0])
        last = int(self.ends[row[1] - 1])
        return self.bytes[first:last], self.ends[row[0]:row[1]] - first


# ---------------------------------------------------------------------------- batches

class PaddedBatch:
    """hat rows as padded tensors. B rows, T bytes (longest row), W words (most words in a row),
    S bytes (longest word).

    ids [B, T]            byte values (0 in padding)
    targets [B, T]        next byte of the same row; −100 at a row's last byte and in padding
    word_of_byte [B, T]   the word of each byte (0 in padding)
    word_bytes [B, W, S]  byte index of the s-th byte of word w (0 past the word's end)
    word_bytes_mask       [B, W, S] true for real bytes; a padding word sees byte 0 (never read)
    """

    def __init__(self, rows):
        self.rows = len(rows)
        t = max(len(data) for data, _ in rows)
        w = max(len(ends) for _, ends in rows)
        s = max(int(np.diff(np.concatenate(([0], ends))).max()) for _, ends in rows)
        ids = np.zeros((self.rows, t), dtype=np.int64)
        targets = np.full((self.rows, t), -100, dtype=np.int64)
        word_of_byte = np.zeros((self.rows, t), dtype=np.int64)
        word_bytes = np.zeros((self.rows, w, s), dtype=np.int64)
        mask = np.zeros((self.rows, w, s), dtype=bool)
        mask[:, :, 0] = True
        self.byte_count = 0
        self.word_count = 0
        for r, (data, ends) in enumerate(rows):
            n = len(data)
            ids[r, :n] = data
            targets[r, :n - 1] = data[1:]
            starts = np.concatenate(([0], ends[:-1]))
            lengths = ends - starts
            word_of_byte[r, :n] = np.repeat(np.arange(len(ends)), lengths)
            offsets = np.arange(s)[None, :]
            inside = offsets < lengths[:, None]
            word_bytes[r, :len(ends)] = np.where(inside, starts[:, None] + offsets, 0)
            mask[r, :len(ends)] = inside
            self.byte_count += n
            self.word_count += len(ends)
        self.predicted = self.byte_count - self.rows
        self.ids = torch.from_numpy(ids)
        self.targets = torch.from_numpy(targets)
        self.word_of_byte = torch.from_numpy(word_of_byte)
        self.word_bytes = torch.from_numpy(word_bytes)
        self.word_bytes_mask = torch.from_numpy(mask)
        self.word_count_max = w

    def to(self, device):
        for name in ("ids", "targets", "word_of_byte", "word_bytes", "word_bytes_mask"):
            setattr(self, name, getattr(self, name).to(device, non_blocking=True))
        return self


def batch_of(stream, rows):
    return PaddedBatch([stream.row_data(row) for row in rows])


# ---------------------------------------------------------------------------- the data of a run

class RunData:
    """Train and validation streams and rows of a run's options (options.json keys), as hat's
    Trainer builds them."""

    def __init__(self, options, config):
        documents = read_documents(options["data"])
        train, validation = split_documents(documents, options.get("validation_fraction", 0.05),
                                            options.get("seed", 1))
        splitter = WordSplitter(config.max_word_size)
        self.train_stream = WordStream(train, splitter, config.eos_token_id)
        self.validation_stream = WordStream(validation, splitter, config.eos_token_id)
        wpr, mrb = options.get("words_per_row", 256), options.get("max_row_bytes", 2048)
        self.train_rows = self.train_stream.rows(wpr, mrb)
        rows = self.validation_stream.rows(wpr, mrb)
        limit = options.get("validation_rows")
        self.validation_rows = rows[:limit] if limit is not None else rows
        self.train_names = [name for name, _ in train]
        self.validation_names = [name for name, _ in validation]
        self.seed = options.get("seed", 1)
        self.rows_per_batch = options.get("rows_per_batch", 8)
        if len(self.train_rows) < self.rows_per_batch:
            raise DataError(f"only {len(self.train_rows)} training rows, fewer than one batch of {self.rows_per_batch}")
        self._orders = {}

    def order(self, epoch):
        if epoch not in self._orders:
            self._orders = {epoch: training_order(len(self.train_rows), self.seed, epoch)}
        return self._orders[epoch]

    def next_rows(self, epoch, cursor):
        """The next micro-batch from (epoch, cursor): ([row], epoch, cursor) after it (Trainer.nextBatch)."""
        rows = []
        for _ in range(self.rows_per_batch):
            order = self.order(epoch)
            if cursor >= len(order):
                epoch, cursor = epoch + 1, 0
                order = self.order(epoch)
            rows.append(self.train_rows[order[cursor]])
            cursor += 1
        return rows, epoch, cursor
