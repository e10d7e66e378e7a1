"""The Python package against the C library and the `mvae` command, on the tiny data set."""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest

import mvae
from conftest import BINARY_DIR, run_cli


def read_png_grey(path):
    """8-bit greyscale PNG (as mvae writes its grids) -> uint8 [H, W]."""
    blob = open(path, "rb").read()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(blob):
        n, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        body = blob[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, colour = struct.unpack(">IIBB", body[:10])
            assert (depth, colour) == (8, 0), "grey 8-bit expected"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    out = np.zeros((h, w), np.int64)
    prev = np.zeros(w, np.int64)
    for y in range(h):
        f, line = raw[y * (w + 1)], np.frombuffer(raw[y * (w + 1) + 1:(y + 1) * (w + 1)], np.uint8).astype(np.int64)
        cur = np.zeros(w, np.int64)
        for x in range(w):
            a = cur[x - 1] if x else 0
            b, c = prev[x], (prev[x - 1] if x else 0)
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + p) & 255
        out[y], prev = cur, cur
    return out.astype(np.uint8)


def to_bytes(v):
    """mvae's PNG quantisation (core/src/image.c): clamp to [0, 1], round half to even of v * 255."""
    v = np.asarray(v, np.float32)
    return np.where(v > 0, np.where(v >= 1, 255, np.rint(v * np.float32(255.0))), 0).astype(np.uint8)


def test_version_and_library():
    assert mvae.api_version()[0] == 1
    assert mvae.__version__.count(".") == 2
    # the build tree's library, found through the generated _config.py (PYTHONPATH only)
    assert os.path.realpath(mvae.library_path).startswith(os.path.realpath(BINARY_DIR))
    if os.environ.get("MVAE_SANITIZE"):  # the ASan build: its runtime is loaded (LD_PRELOAD), so checks run
        with open("/proc/self/maps") as f:
            assert "libasan" in f.read()


def test_train_writes_the_run_and_reports_epochs(trained):
    res, out = trained
    assert res.run_dir == out and not res.stopped
    assert [e["epoch"] for e in res.history] == [1, 2]
    with open(os.path.join(out, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    assert lines == res.history  # the callback saw exactly what the run directory records
    assert all(np.isfinite(e["loss"]) for e in res.history)
    assert res.history[1]["loss"] < res.history[0]["loss"]
    with open(os.path.join(out, "metrics.json")) as f:
        assert json.load(f) == res.metrics
    assert np.isfinite(res.metrics["test"]["elbo"])


def test_load_describes_the_run(trained):
    with mvae.load(trained[1], checkpoint="best") as run:
        assert run.epoch in (1, 2) and run.checkpoint.endswith("best.ckpt")
        assert run.latent_dim == 8
        assert list(run.modalities) == ["image", "label"] and list(run.inputs) == ["image", "label"]
        img, lab = run.modalities["image"], run.modalities["label"]
        assert (img.type, img.shape, img.likelihood, img.encodable) == ("image", (1, 28, 28), "bernoulli", True)
        assert (lab.type, lab.shape, lab.classes) == ("categorical", (1,), 10)
        assert lab.class_names[7] == "Sneaker"
        assert "latent_dim: 8" in run.config
        assert "epoch" in repr(run)
    with pytest.raises(mvae.InvalidError, match="this run is closed"):
        run.latent_dim


def test_encode_shapes_forms_and_seeds(trained, tiny):
    images, labels = tiny[2], tiny[3]
    run = mvae.load(trained[1])
    q = run.encode({"image": images})
    assert q.mean.shape == q.logvar.shape == q.z.shape == (100, 8)
    assert q.mean.dtype == np.float32
    # [N, 28, 28], [N, 784], [N, 1, 28, 28] and float64 are the same input
    for form in (images.reshape(100, 784), images.reshape(100, 1, 28, 28), images.astype(np.float64)):
        np.testing.assert_array_equal(run.encode({"image": form}).mean, q.mean)
    # labels as [N], [N, 1], class names; encode given a subset of the arrays
    ql = run.encode({"label": labels})
    np.testing.assert_array_equal(run.encode({"label": labels.reshape(-1, 1)}).mean, ql.mean)
    names = np.array([run.modalities["label"].class_names[c] for c in labels])
    np.testing.assert_array_equal(run.encode({"label": names}).mean, ql.mean)
    both = {"image": images, "label": labels}
    np.testing.assert_array_equal(run.encode(both, given="image").mean, q.mean)
    qb = run.encode(both)  # default: every given modality with an encoder
    np.testing.assert_array_equal(run.encode(both, given=["image", "label"]).mean, qb.mean)
    assert not np.array_equal(qb.mean, q.mean)
    # PoE with the prior expert: precision adds, so q(z | image, label) is narrower than either
    assert np.all(qb.logvar < q.logvar) and np.all(qb.logvar < ql.logvar)
    # draws: seeded, about mean +- sigma
    np.testing.assert_array_equal(run.encode(both, seed=4).z, run.encode(both, seed=4).z)
    assert not np.array_equal(run.encode(both, seed=4).z, run.encode(both, seed=5).z)
    u = (qb.z - qb.mean) / np.exp(0.5 * qb.logvar)
    assert 0.6 < u.var() < 1.5
    run.close()


def test_encode_and_evaluate_agree_with_mvae_eval(trained, tiny):
    """The C evaluator on arrays = `mvae eval` on the run's test split; encode's mean decoded to the
    label gives exactly the evaluator's accuracy_mean_z."""
    images, labels = tiny[2], tiny[3]
    out = trained[1]
    cli = json.loads(run_cli("eval", out, "--checkpoint", "last", "--quiet"))["test"]
    with mvae.load(out) as run:
        ours = run.evaluate({"image": images, "label": labels})
        q = run.encode({"image": images})
        pred = run.decode(q.mean, "label")["label"].argmax(axis=1)
    for k in ("seconds",):
        cli.pop(k, None), ours.pop(k, None)
    assert ours == cli
    acc = float((pred == labels).mean())
    assert acc == pytest.approx(ours["accuracy_mean_z"]["image->label"], abs=1e-6)
    assert acc > 0.3  # trained: well above chance (0.1)


def test_evaluate_reads_the_arrays(trained, tiny):
    images, labels = tiny[2], tiny[3]
    with mvae.load(trained[1]) as run:
        full = run.evaluate({"image": images, "label": labels})
        wrong = run.evaluate({"image": images, "label": (labels + 1) % 10})
        part = run.evaluate({"image": images[:40], "label": labels[:40]})
        assert wrong["accuracy_mean_z"]["image->label"] < full["accuracy_mean_z"]["image->label"]
        assert wrong["log_p"]["image,label"] < full["log_p"]["image,label"]
        assert part["test_points"] == 40 and full["test_points"] == 100
        k4 = run.evaluate({"image": images, "label": labels}, set=["eval.log_likelihood.samples=4"])
        assert k4["log_p_samples"] == 4 and full["log_p_samples"] == 16
        assert k4["log_p"] != full["log_p"] and k4["accuracy_mean_z"] == full["accuracy_mean_z"]
        with pytest.raises(mvae.InvalidError, match="only eval.\\* settings"):
            run.evaluate({"image": images, "label": labels}, set=["seed=2"])


def test_missing_data_as_masked_arrays(trained, tiny):
    """A masked sample lacks that modality: it is encoded from the others (C: presence flags)."""
    images, labels = tiny[2][:30], tiny[3][:30]
    missing = np.arange(30) % 3 == 0
    with mvae.load(trained[1]) as run:
        q = run.encode({"image": images, "label": np.ma.masked_array(labels, mask=missing)})
        qi = run.encode({"image": images})
        qb = run.encode({"image": images, "label": labels})
        np.testing.assert_allclose(q.mean[missing], qi.mean[missing], atol=1e-6)
        np.testing.assert_allclose(q.mean[~missing], qb.mean[~missing], atol=1e-6)
        masked_images = np.ma.masked_array(images, mask=np.broadcast_to(missing[:, None, None], images.shape))
        q2 = run.encode({"image": masked_images, "label": labels})
        np.testing.assert_allclose(q2.mean[missing], run.encode({"label": labels}).mean[missing], atol=1e-6)
        with pytest.raises(mvae.InvalidError, match="'label' is missing for 10 of 30 samples"):
            run.evaluate({"image": images, "label": np.ma.masked_array(labels, mask=missing)})


def test_encode_with_a_mixture_fusion(tiny, tmp_path):
    """moe: q(z | image, label) is a mixture: a mean and draws, no log-variance (None)."""
    images, labels = tiny[2][:20], tiny[3][:20]
    out = str(tmp_path / "moe")
    mvae.train(tiny[0], set=["train.epochs=1", "fusion.plugin=moe"], out=out)
    with mvae.load(out, set="eval.batch_size=7") as run:  # one override as a plain string
        q = run.encode({"image": images, "label": labels})
        qi, ql = run.encode({"image": images}), run.encode({"label": labels})
    assert q.logvar is None and q.z.shape == (20, 8) and qi.logvar is not None
    np.testing.assert_allclose(q.mean, (qi.mean + ql.mean) / 2, atol=1e-5)


def test_decode_values(trained):
    with mvae.load(trained[1]) as run:
        z = np.random.default_rng(0).standard_normal((7, 8)).astype(np.float32)
        d = run.decode(z)
        assert d["image"].shape == (7, 1, 28, 28) and d["label"].shape == (7, 10)
        assert d["image"].min() >= 0 and d["image"].max() <= 1
        np.testing.assert_allclose(d["label"].sum(axis=1), 1, atol=1e-5)
        raw = run.decode(z, ["image", "label"], raw=True)
        np.testing.assert_allclose(1 / (1 + np.exp(-raw["image"].astype(np.float64))), d["image"], atol=1e-5)
        sm = np.exp(raw["label"] - raw["label"].max(axis=1, keepdims=True))
        np.testing.assert_allclose(sm / sm.sum(axis=1, keepdims=True), d["label"], atol=1e-5)
        # one z as a vector; a batch of one may round differently in the GEMM (an ulp)
        np.testing.assert_allclose(run.decode(z[0])["label"], d["label"][:1], rtol=1e-5)


def test_sample_is_mvae_sample(trained, tmp_path):
    """sample(given=..., seed=S) decodes to `mvae sample --given label=3 --seed S`'s picture."""
    out = trained[1]
    png = str(tmp_path / "s.png")
    for given, cli_given in ((None, []), ({"label": 3}, ["--given", "label=3"])):
        run_cli("sample", out, "-n", "9", "--seed", "5", "-o", png, *cli_given)
        grid = read_png_grey(png)
        with mvae.load(out) as run:
            s = run.sample(9, given=given, seed=5)
        assert s["z"].shape == (9, 8) and s["image"].shape == (9, 1, 28, 28)
        for i in range(9):
            r, c = divmod(i, 3)
            tile = grid[r * 30:r * 30 + 28, c * 30:c * 30 + 28]
            np.testing.assert_array_equal(tile, to_bytes(s["image"][i, 0]))


def test_sample_given_forms_and_seeds(trained):
    with mvae.load(trained[1]) as run:
        a = run.sample(8, given={"label": 3}, seed=2)
        np.testing.assert_array_equal(a["z"], run.sample(given={"label": np.full(8, 3)}, seed=2)["z"])
        np.testing.assert_array_equal(a["z"], run.sample(8, given={"label": "dress"}, seed=2)["z"])  # class 3
        assert not np.array_equal(a["z"], run.sample(8, given={"label": 3}, seed=3)["z"])
        mixed = run.sample(given={"label": np.array([0, 9])}, seed=2)
        assert mixed["z"].shape == (2, 8)
        assert a["label"].shape == (8, 10) and a["image"].shape == (8, 1, 28, 28)
        prior = run.sample(5, seed=1, modalities="label")
        assert set(prior) == {"z", "label"} and prior["label"].shape == (5, 10)


def test_errors_carry_mvae_messages(trained, tiny, tmp_path):
    exp, _, images, labels = tiny
    with pytest.raises(mvae.FileError, match="'/nonexistent' is not a run directory") as e:
        mvae.load("/nonexistent")
    assert e.value.status == 2 and isinstance(e.value, mvae.Error)
    with pytest.raises(mvae.InvalidError, match="only eval.\\* settings"):
        mvae.load(trained[1], set=["latent_dim=4"])
    with pytest.raises(mvae.InvalidError, match="did you mean 'batch_size'"):
        mvae.load(trained[1], set=["eval.batch_sise=4"])
    run = mvae.load(trained[1])
    with pytest.raises(mvae.InvalidError, match=r"'imag' is not an input of dataset 'fashion_mnist' \(did you mean 'image'\?\)"):
        run.encode({"imag": images})
    with pytest.raises(ValueError, match=r"'image' has shape \[100, 27, 28\]"):  # InvalidError is a ValueError
        run.encode({"image": images[:, 1:]})
    with pytest.raises(mvae.InvalidError, match="holds [0-9.]+; image values are in \\[0, 1\\] \\(8-bit pixels: divide by 255\\)"):
        run.encode({"image": images * 255})
    with pytest.raises(mvae.InvalidError, match=f"'label' sample 0 holds {labels[0] + 12}; classes are in 0..9"):
        run.encode({"label": labels + 12})
    with pytest.raises(mvae.InvalidError, match="give integer indices"):
        run.encode({"label": labels.astype(np.float32)})
    with pytest.raises(mvae.InvalidError, match="no class named 'Sneakers'"):
        run.sample(2, given={"label": "Sneakers"})
    with pytest.raises(mvae.InvalidError, match="'label' has 50 samples, the other arrays 100"):
        run.encode({"image": images, "label": labels[:50]})
    with pytest.raises(mvae.InvalidError, match="'image' is given but the arrays hold no 'image'"):
        run.encode({"label": labels}, given="image")
    with pytest.raises(mvae.InvalidError, match="the arrays hold no 'label'"):
        run.evaluate({"image": images})
    with pytest.raises(mvae.InvalidError, match=r"decode: 'lable' is not a modality of this model \(did you mean 'label'\?\)"):
        run.decode(np.zeros((1, 8)), "lable")
    with pytest.raises(mvae.InvalidError, match=r"z has shape \[1, 7\]; give \[N, 8\]"):
        run.decode(np.zeros((1, 7)))
    run.close()
    with pytest.raises(mvae.InvalidError, match="unknown key 'epochz'.*did you mean 'epochs'"):
        mvae.train(exp, set=["train.epochz=2"], out=str(tmp_path / "x"))
    with pytest.raises(mvae.InvalidError, match="already holds a trained run"):
        mvae.train(exp, out=trained[1])


def jsonl_epochs(d):
    with open(os.path.join(d, "metrics.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f]


def test_stop_then_resume(tiny, tmp_path):
    out = str(tmp_path / "stopped")
    res = mvae.train(tiny[0], out=out, progress=lambda ep: ep["epoch"] < 1)  # False after epoch 1
    assert res.stopped and res.metrics is None and [e["epoch"] for e in res.history] == [1]
    assert jsonl_epochs(out) == [1]
    with mvae.load(out) as run:
        assert run.epoch == 1
    seen, logged = [], []
    mvae.set_log_handler(lambda lvl, m: logged.append((lvl, m)))  # mvae's log lines to Python
    try:
        res = mvae.resume(out, progress=seen.append, on_batch=lambda *a: None, quiet=False)
    finally:
        mvae.set_log_handler(None)
    assert (1, f"resuming {out} after epoch 1") in logged
    assert not res.stopped and [e["epoch"] for e in seen] == [2, 3]
    assert jsonl_epochs(out) == [1, 2, 3] and np.isfinite(res.metrics["test"]["elbo"])


def test_keyboard_interrupt_leaves_a_resumable_run(tiny, tmp_path):
    """Ctrl-C (a real SIGINT, sent by another thread while the C trainer runs): KeyboardInterrupt,
    the run keeps its completed epochs and resumes from them."""
    out = str(tmp_path / "interrupted")
    epoch_done = threading.Event()

    def ctrl_c():
        epoch_done.wait(60)
        time.sleep(0.02)  # the trainer is back in C, in epoch 2 or later
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=ctrl_c)
    t.start()
    try:
        with pytest.raises(KeyboardInterrupt) as e:
            mvae.train(tiny[0], set=["train.epochs=100000"], out=out, progress=lambda ep: epoch_done.set())
    finally:
        t.join()
    notes = " ".join(getattr(e.value, "__notes__", []))
    assert "continue with `mvae train --resume " + out + "`" in notes
    done = jsonl_epochs(out)
    assert len(done) >= 1 and done == list(range(1, len(done) + 1))
    with mvae.load(out) as run:
        assert run.epoch == len(done)
    # the lock was released and the checkpoint is whole: resume, stopping after one more epoch
    res = mvae.resume(out, progress=lambda ep: False)
    assert res.stopped and [ep["epoch"] for ep in res.history] == [len(done) + 1]
    assert jsonl_epochs(out) == list(range(1, len(done) + 2))


def test_interrupt_inside_a_callback(tiny, tmp_path):
    """A KeyboardInterrupt raised while Python code of the progress callback runs stops as well."""
    out = str(tmp_path / "interrupted_cb")

    def ctrl_c_after_epoch_1(ep):
        if ep["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as e:
        mvae.train(tiny[0], out=out, progress=ctrl_c_after_epoch_1)
    assert "training stopped after epoch 1 of 3" in " ".join(getattr(e.value, "__notes__", []))
    assert jsonl_epochs(out) == [1]
    assert [ep["epoch"] for ep in mvae.resume(out).history] == [2, 3]


def test_train_iter_yields_epochs_and_stops_on_break(trained, tiny, tmp_path):
    out = str(tmp_path / "iter")
    t = mvae.train_iter(tiny[0], out=out)
    epochs = []
    with mvae.load(trained[1]) as other:  # another run used while this one trains in its thread
        ref = other.encode({"image": tiny[2]}).mean
        for ep in t:
            epochs.append(ep["epoch"])
            np.testing.assert_array_equal(other.encode({"image": tiny[2]}).mean, ref)
    assert epochs == [1, 2, 3]
    assert t.result.metrics is not None and not t.result.stopped and jsonl_epochs(out) == [1, 2, 3]
    with pytest.raises(mvae.InvalidError, match="iterated once"):
        list(t)
    # break after the first epoch: the trainer stops at its next step, the run resumes
    out2 = str(tmp_path / "iter_break")
    t = mvae.train_iter(tiny[0], set="train.epochs=100000", out=out2)
    for ep in t:
        break
    assert t.result.stopped and t.result.metrics is None
    done = jsonl_epochs(out2)
    assert len(done) >= 1 and done == list(range(1, len(done) + 1))
    t2, seen = mvae.resume_iter(out2), []
    for ep in t2:  # stop() from the loop: the trainer may finish an epoch more before it looks
        seen.append(ep["epoch"])
        t2.stop()
    assert seen and seen == list(range(len(done) + 1, len(done) + 1 + len(seen)))
    assert t2.result.stopped and jsonl_epochs(out2) == list(range(1, seen[-1] + 1))
    # the trainer's error is raised by the loop
    with pytest.raises(mvae.InvalidError, match="did you mean 'epochs'"):
        for ep in mvae.train_iter(tiny[0], set="train.epochz=1", out=str(tmp_path / "bad")):
            pass


def test_callback_exception_stops_training_and_propagates(tiny, tmp_path):
    out = str(tmp_path / "boom")

    def boom(epoch, batch, n, loss):
        if epoch == 2 and batch == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        mvae.train(tiny[0], out=out, on_batch=boom)
    assert jsonl_epochs(out) == [1]
    assert mvae.resume(out).metrics is not None


@pytest.mark.skipif(not shutil.which("cmake"), reason="cmake is not on PATH")
def test_install_into_a_prefix(trained, tmp_path):
    """`cmake --install` puts the package where the prefix's Python finds it, with a libmvae of its
    own (not the build tree's) that finds the installed plugins."""
    prefix = tmp_path / "prefix"
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "PYTHONPATH", "MVAE_LIBRARY")}
    p = subprocess.run(["cmake", "--install", BINARY_DIR, "--prefix", str(prefix)], capture_output=True, text=True,
                       env=env)
    assert p.returncode == 0, p.stderr
    pkg = os.environ.get("MVAE_PYTHON_INSTALL_DIR", "")
    if os.path.isabs(pkg):
        pytest.skip(f"MVAE_PYTHON_INSTALL_DIR is absolute ({pkg}): the package does not go into the prefix")
    assert pkg and os.path.isfile(prefix / pkg / "mvae" / "__init__.py")
    env = dict(os.environ, PYTHONPATH=str(prefix / pkg))
    env.pop("MVAE_LIBRARY", None)
    code = ("import mvae, sys; r = mvae.load(sys.argv[1]); "
            "print(mvae.library_path); print(r.encode({'label': [1, 2]}).mean.shape)")
    p = subprocess.run([sys.executable, "-c", code, trained[1]], capture_output=True, text=True, env=env,
                       cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    lib, shape = p.stdout.split("\n")[:2]
    assert os.path.realpath(lib).startswith(os.path.realpath(prefix)), lib
    assert shape == "(2, 8)"
