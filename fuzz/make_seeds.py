#!/usr/bin/env python3
"""Write the committed seed corpora under fuzz/corpus/<harness>/ (run from anywhere; deterministic).
The checkpoint seed is written by the harness itself (fuzz_checkpoint with MVAE_FUZZ_WRITE_SEED),
see scripts/fuzz.sh --seeds."""
import glob, gzip, os, shutil, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
C = os.path.join(HERE, "corpus")


def put(h, name, data):
    d = os.path.join(C, h)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


# experiment: every experiment file, and a few small documents
for p in sorted(glob.glob(os.path.join(SRC, "experiments", "*.yaml"))):
    put("experiment", os.path.basename(p), open(p, "rb").read())
put("experiment", "minimal.yaml", "name: m\ndataset: {plugin: fashion_mnist}\nmodalities:\n  image:\n"
    "    encoder: {plugin: mlp}\n    decoder: {plugin: mlp}\nfusion: {plugin: poe}\n")
put("experiment", "typo.yaml", "name: t\nlaten_dim: 3\n")
put("experiment", "flow.yaml", "{name: f, seed: 2, train: {epochs: 1, optimizer: {sgd: {lr: 0.1, momentum: 0.9}}}}\n")
put("experiment", "anchor.yaml", "a: &x 1\nb: *x\n")

# cfg_set: base experiment index (sorted experiments/*.yaml), then one assignment per line
sets = ["train.epochs=2", "latent_dim=32\nfusion.plugin=moe", "train.optimizer={adam: {lr: 1e-3}}",
        "modalities.image.encoder.hidden=[64,128]", "name='a b'\nseed=7", "eval.log_likelihood.samples=5",
        "dataset.paired_fraction=0.5\ntrain.objective.random_subsets=2", "modalities.label.weight=50.0",
        "train.batch_size=0", "modalities.image=null"]
for i, s in enumerate(sets):
    put("cfg_set", "set%02d" % i, bytes([i]) + s.encode())

# json
for i, s in enumerate(['{"test": {"elbo": -231.5, "log_p": {"image": -230.1}}, "throughput": 1e4}',
                       '[1, 2.5e-3, -0, true, false, null, "a\\u00e9\\ud83d\\ude00\\n"]',
                       '{"a": {"a": [[[]]]}, "a": NaN, "b": -Infinity, "c": inf}', '"\\"\\\\\\/\\b\\f\\r\\t"',
                       '{"epoch": 3, "best": -231.5}\n', '  0  ']):
    put("json", "j%02d.json" % i, s)


# idx: flag byte, then train-images, train-labels, t10k-images, t10k-labels separated by --8<--
def idx_images(n):
    return struct.pack(">IIII", 0x803, n, 28, 28) + bytes((i * 7 + j) % 256 for i in range(n) for j in range(784))


def idx_labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))


SEP = b"--8<--"
parts = [idx_images(2), idx_labels(2), idx_images(1), idx_labels(1)]
put("idx", "raw_disk", bytes([0]) + SEP.join(parts))
put("idx", "raw_memory_binarize", bytes([3]) + SEP.join(parts))
put("idx", "gzip_by_harness", bytes([4]) + SEP.join(parts))
put("idx", "gzip_in_input", bytes([1]) + SEP.join(gzip.compress(p, 9, mtime=0) for p in parts))
put("idx", "labels_only", bytes([1]) + SEP + idx_labels(1))


# mo: gettext catalogs (header entry + messages), little- and big-endian
def mo(entries, be=False):
    entries = sorted(entries)
    e = ">" if be else "<"
    n = len(entries)
    O, T = 28, 28 + 8 * n
    data = 28 + 16 * n
    otab, ttab, blob = b"", b"", b""
    for k, v in entries:
        otab += struct.pack(e + "II", len(k), data + len(blob)); blob += k + b"\0"
    for k, v in entries:
        ttab += struct.pack(e + "II", len(v), data + len(blob)); blob += v + b"\0"
    return struct.pack(e + "IIIIIII", 0x950412DE, 0, n, O, T, 0, 0) + otab + ttab + blob


pairs = [(b"", b"Content-Type: text/plain; charset=UTF-8\n"),
         (b"Open the file now", "M\u1edf t\u1ec7p ngay".encode()),
         (b"Save the file now", "L\u01b0u t\u1ec7p ngay".encode()),
         (b"Close the window now", "\u0110\u00f3ng c\u1eeda s\u1ed5 ngay".encode()),
         (b"Display the compiler's version.", "Hi\u1ec3n th\u1ecb phi\u00ean b\u1ea3n.".encode()),
         (b"one\0many things here", b"mot\0nhieu"), (b"ctx\x04Open the file", b"Mo"),
         (b"Print %s and exit", b"In %s"), (b"Use <b>bold</b> text", b"Dung chu dam"),
         (b"_Open the menu", b"_Mo menu")]
put("mo", "vi_le.mo", mo(pairs))
put("mo", "vi_be.mo", mo(pairs[:5], be=True))
put("mo", "header_only.mo", mo(pairs[:1]))


# png: tiny images of each colour type / depth
def png(w, h, ctype, depth, rows, plte=None, trns=None):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, 0))
    if plte: out += chunk(b"PLTE", plte)
    if trns: out += chunk(b"tRNS", trns)
    raw = b"".join(b"\0" + r for r in rows)
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


put("png", "gray1x1.png", png(1, 1, 0, 8, [b"\x80"]))
put("png", "gray2x2_1bit.png", png(2, 2, 0, 1, [b"\x80", b"\x40"]))
put("png", "rgb2x2.png", png(2, 2, 2, 8, [b"\xff\0\0\0\xff\0", b"\0\0\xff\xff\xff\xff"]))
put("png", "rgba2x1_16bit.png", png(2, 1, 6, 16, [bytes(range(16))]))
put("png", "gray_alpha.png", png(1, 2, 4, 8, [b"\x10\x20", b"\x30\x40"]))
# regression: the header claims 30000x30000 RGBA (fuzz/crashes-found/, tests/test_image.c)
put("png", "regress-30000x30000-header.png", b"\x89PNG\r\n\x1a\n" + png(30000, 30000, 6, 8, [])[8:33]
    + (lambda d: struct.pack(">I", len(d)) + b"IDAT" + d + struct.pack(">I", zlib.crc32(b"IDAT" + d) & 0xFFFFFFFF))(zlib.compress(b"\0" * 100))
    + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))
put("png", "palette_trns.png", png(3, 1, 3, 8, [b"\0\1\2"], plte=b"\xff\0\0\0\xff\0\0\0\xff", trns=b"\x80"))

# cli: argv after "mvae", NUL-separated
for i, a in enumerate([["validate", "exp.yaml"], ["validate", "exp.yaml", "--set", "latent_dim=4", "--set", "fusion.plugin=moe"],
                       ["validate", "bad.yaml"], ["validate", "notyaml.yaml"], ["validate"], ["plugins", "-v"], ["plugins"],
                       ["--help"], ["--version"], ["trian"], ["eval", "run", "--checkpoint", "best"],
                       ["sample", ".", "-n", "3", "--given", "label=3"], ["translate", "run", "--from", "en", "--to", "vi", "hi"],
                       ["report", "."], ["train", "--help"], ["sweep", "-h"], ["eval", "--set"], ["validate", "-x"]]):
    put("cli", "args%02d" % i, "\0".join(a))
