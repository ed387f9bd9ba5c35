"""Shared helpers of the hat_torch tests: paths, the fixture batch, a small generated corpus,
and the `hat` binary (HAT_BIN, else .build-torch/release/hat or .build/release/hat; tests that
need it are skipped when none is built)."""

import json
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON_DIR = os.path.join(ROOT, "python")
FIXTURE = os.path.join(ROOT, "Tests", "HATModelTests", "Fixtures", "hat-tiny")
sys.path.insert(0, PYTHON_DIR)


def fixture_rows():
    """The rows of the committed fixture batch: [(bytes uint8, word ends relative to the row)]."""
    with open(os.path.join(FIXTURE, "batch.json")) as f:
        batch = json.load(f)
    data = np.array(batch["bytes"], dtype=np.uint8)
    ends = np.array(batch["word_ends"], dtype=np.int64)
    rows, word, start = [], 0, 0
    for count in batch["row_words"]:
        row_ends = ends[word:word + count]
        rows.append((data[start:row_ends[-1]], row_ends - start))
        start, word = int(row_ends[-1]), word + count
    return rows


WORDS = ("the a of and to in is it that was he for on are with as his they be at one have this from or had by hot "
         "but some what there we can out other were all your when up use word how said an each she which do their "
         "time if will way about many then them would write like so these her long make thing see him two has look "
         "more day could go come did my sound no most number who over know water than call first people").split()


def make_corpus(directory, documents=12, seed=5):
    """Documents of English-like text with accents, digits, a subdirectory and one document with
    bytes that are not UTF-8 (so the splitter's fallback is on the path the engines must agree on)."""
    rng = random.Random(seed)
    os.makedirs(os.path.join(directory, "sub"), exist_ok=True)
    for i in range(documents):
        paragraphs = []
        for _ in range(rng.randint(3, 8)):
            sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
            paragraphs.append(sentence.capitalize() + ". Grüße, naïve café — " + str(rng.randint(0, 99999)) + "!")
        text = "\n\n".join(paragraphs).encode()
        if i == 3:
            text += b"\xff\xfe broken \xc3 bytes \xe2\x82"
        name = f"{'sub/' if i % 4 == 0 else ''}doc{i:02d}.txt"
        with open(os.path.join(directory, name), "wb") as f:
            f.write(text)
    return directory


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return make_corpus(str(tmp_path_factory.mktemp("corpus")))


def hat_binary():
    candidates = [os.environ.get("HAT_BIN"), os.path.join(ROOT, ".build-torch", "release", "hat"),
                  os.path.join(ROOT, ".build", "release", "hat")]
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="session")
def hat():
    path = hat_binary()
    if path is None:
        pytest.skip("no hat binary (build with `swift build -c release` or set HAT_BIN)")
    return path


def run(command, **kwargs):
    """Runs a command (niced), failing the test with its output when it fails."""
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(["nice", "-n", "10"] + list(command), capture_output=True, text=True, env=env, **kwargs)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def python_module(module, *args):
    return [sys.executable, "-m", module] + list(args)


def copy_run(source, target, keep_step):
    """A copy of a run directory holding only the checkpoints up to `keep_step`."""
    shutil.copytree(source, target)
    checkpoints = os.path.join(target, "checkpoints")
    for name in os.listdir(checkpoints):
        if name.startswith("step-") and int(name[5:]) > keep_step:
            shutil.rmtree(os.path.join(checkpoints, name))
    return target
