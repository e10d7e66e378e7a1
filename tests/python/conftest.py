"""Fixtures of the Python package's tests (CTest "python", python/CMakeLists.txt): the tiny
Fashion-MNIST look-alike of tests/tiny_data.h written as gzipped IDX files, its experiment, and a
run trained on it once per session through mvae.train."""
import gzip
import os
import struct
import subprocess

import numpy as np
import pytest

import mvae

BINARY_DIR = os.environ.get("MVAE_BINARY_DIR", "")
MVAE = os.path.join(BINARY_DIR, "mvae")


def tiny_labels(split, n):
    return (np.arange(n) * 7 + split * 3) % 10


def tiny_pixels(split, n):
    """tests/tiny_data.h's tiny_pixel: class c has a bright bar on rows 2c+4..2c+7 over noise."""
    i = np.arange(n, dtype=np.int64)[:, None]
    k = np.arange(784, dtype=np.int64)[None, :]
    h = (split * 7919 + i * 104729 + k * 31337).astype(np.uint32)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0x5BD1E995)
    h ^= h >> np.uint32(15)
    noise = (h % np.uint32(40)).astype(np.int64)
    c = tiny_labels(split, n)[:, None]
    row = k // 28
    bar = (row >= 2 * c + 4) & (row < 2 * c + 8)
    return np.where(bar, 215 + noise, noise).astype(np.uint8)


def write_split(d, prefix, split, n):
    with gzip.open(os.path.join(d, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + tiny_pixels(split, n).tobytes())
    with gzip.open(os.path.join(d, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + tiny_labels(split, n).astype(np.uint8).tobytes())


TINY_YAML = """name: tiny
seed: 3
dataset: {{plugin: fashion_mnist, path: "{data}"}}
latent_dim: 8
modalities:
  image:
    encoder: {{plugin: mlp, hidden: [32]}}
    decoder: {{plugin: mlp, hidden: [32]}}
    likelihood: bernoulli
  label:
    encoder: {{plugin: mlp, embed: 16, hidden: [32]}}
    decoder: {{plugin: mlp, hidden: [32]}}
    likelihood: categorical
    weight: 50.0
fusion: {{plugin: poe}}
train:
  epochs: 3
  batch_size: 50
  threads: 1
  progress: none
  optimizer: {{adam: {{lr: 1.0e-2}}}}
eval:
  batch_size: 50
  log_likelihood: {{samples: 16, max_test: 20, terms: ["image", "image,label", "image|label"]}}
  accuracy: {{from: image, predict: label}}
"""


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(experiment file, data directory, test images float32 [100, 28, 28] in [0, 1], labels [100])"""
    root = tmp_path_factory.mktemp("tiny")
    data = root / "data"
    data.mkdir()
    write_split(str(data), "train", 0, 300)
    write_split(str(data), "t10k", 1, 100)
    exp = root / "tiny.yaml"
    exp.write_text(TINY_YAML.format(data=data))
    # as the dataset plugin reads them: byte * (1/255) in float32
    images = tiny_pixels(1, 100).astype(np.float32).reshape(100, 28, 28) * np.float32(1.0 / 255.0)
    return str(exp), str(data), images, tiny_labels(1, 100)


@pytest.fixture(scope="session")
def trained(tiny, tmp_path_factory):
    """A run trained for 2 epochs by mvae.train: (TrainResult, run directory)."""
    exp = tiny[0]
    out = str(tmp_path_factory.mktemp("runs") / "tiny2")
    res = mvae.train(exp, set=["train.epochs=2"], out=out)
    return res, out


def run_cli(*args):
    """The `mvae` command of this build: stdout (fails the test on a nonzero exit)."""
    p = subprocess.run([MVAE, *args], capture_output=True, text=True)
    assert p.returncode == 0, f"mvae {' '.join(args)}: {p.stderr}"
    return p.stdout
