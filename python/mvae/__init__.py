"""mvae — Python access to mvae's runs: train, load, encode, decode, sample, evaluate.

    import numpy as np, mvae
    res = mvae.train("experiments/quickstart.yaml", set=["train.epochs=2"], out="runs/qs", progress=True)
    run = mvae.load("runs/qs", checkpoint="best")
    q = run.encode({"image": images})                  # images: float32 [N, 28, 28] in [0, 1]
    probs = run.decode(q.mean)["label"]                # [N, 10] class probabilities
    s = run.sample(16, given={"label": "Sneaker"}, seed=1)   # s["image"]: [16, 1, 28, 28]
    metrics = run.evaluate({"image": images, "label": labels})

Every call goes through mvae's C API (core/include/mvae/api.h): no model is computed in Python.
Errors raise mvae.Error (subclasses by kind) carrying mvae's message. docs/python.md has the
whole story.
"""
import ctypes
import json
import os
import queue
import signal
import sys
import threading
from dataclasses import dataclass, field

import numpy as np

from . import _capi
from ._capi import check, cstr, lib, msg_buffer, string_array, take_string
from ._errors import (Error, FileError, FormatError, Interrupted, InvalidError, NumericError, OutOfMemoryError,
                      PluginError)

__all__ = ["Error", "InvalidError", "FileError", "FormatError", "PluginError", "NumericError", "OutOfMemoryError",
           "Interrupted", "Run", "Modality", "Posterior", "TrainResult", "Training", "load", "train", "resume", "train_iter", "resume_iter",
           "api_version",
           "set_log_level", "set_log_handler"]

__version__ = lib.mvae_api_library_version().decode()
library_path = _capi.LIBRARY_PATH


def api_version():
    """The running libmvae's C API version, (major, minor)."""
    return _capi.API_VERSION


def set_log_level(level):
    """mvae's log level: "debug", "info", "warn", "error" (or 0..3). Returns the previous one (int)."""
    levels = {"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3}
    return lib.mvae_api_set_log_level(levels[level] if isinstance(level, str) else int(level))


_log_keep = None


def set_log_handler(handler):
    """Send mvae's log lines to handler(level: int, message: str) instead of stderr; None restores
    stderr. E.g. mvae.set_log_handler(lambda lvl, m: logging.getLogger("mvae").log(10 * (lvl + 1), m))."""
    global _log_keep
    if handler is None:
        lib.mvae_api_set_log_sink(_capi.LOG_FN(), None)
        _log_keep = None
        return

    def sink(level, msg, user):
        try:
            handler(level, msg.decode("utf-8", "replace"))
        except Exception:  # a log handler must not unwind through C
            pass

    _log_keep = _capi.LOG_FN(sink)
    lib.mvae_api_set_log_sink(_log_keep, None)


@dataclass(frozen=True)
class Modality:
    """A modality of the model (or an input of its dataset)."""
    name: str
    type: str            # "image", "binary", "categorical", "tokens", "audio", "real"
    shape: tuple         # per sample, e.g. (1, 28, 28) or (1,) for a class
    classes: int         # categorical: classes; tokens: vocabulary; else 0
    class_names: tuple   # the dataset's names of the classes, () when it has none
    encodable: bool      # q(z | .) can be given it (False: decoder-only)
    likelihood: str      # "bernoulli", "gaussian", "laplace", "categorical"; None for a pure input

    @property
    def is_index(self):
        return self.type in ("categorical", "tokens")


@dataclass
class Posterior:
    """q(z | given) for N samples: mean and log-variance [N, latent_dim] (logvar None for a
    mixture of several components, e.g. moe given two modalities), and one draw z [N, latent_dim]."""
    mean: np.ndarray
    logvar: np.ndarray
    z: np.ndarray


@dataclass
class TrainResult:
    run_dir: str
    metrics: dict = None                        # metrics.json of the finished run (None when stopped)
    history: list = field(default_factory=list)  # each epoch's metrics.jsonl line seen in this call
    stopped: bool = False                       # a progress callback returned False


def _set_list(sets):
    """--set strings: one string or a sequence of them."""
    return [sets] if isinstance(sets, str) else list(sets)


class Run:
    """A trained run directory, opened with mvae.load(). Holds the model (with its checkpoint
    loaded) until close() (or the end of a `with` block)."""

    def __init__(self, run_dir, checkpoint="last", set=(), force=False):
        sets, n = string_array(_set_list(set))
        h = ctypes.c_void_p()
        buf = msg_buffer()
        check(lib.mvae_run_open(cstr(run_dir), cstr(checkpoint), sets, n, int(bool(force)), ctypes.byref(h), buf,
                                len(buf)), buf)
        self._h = h
        self._open_args = (run_dir, checkpoint, _set_list(set), force)
        names = [lib.mvae_run_modality_name(h, k).decode() for k in range(lib.mvae_run_n_modalities(h))]
        self.modalities = {nm: self._describe(nm) for nm in names}
        self.inputs = {}
        for i in range(lib.mvae_run_n_inputs(h)):
            nm = lib.mvae_run_input_name(h, i).decode()
            self.inputs[nm] = self.modalities.get(nm) or self._describe(nm)

    def _describe(self, name):
        h, b = self._h, name.encode()
        shape = (ctypes.c_int64 * 3)()
        ndim = lib.mvae_run_shape(h, b, shape)
        classes = lib.mvae_run_classes(h, b)
        cls = []
        for c in range(classes if lib.mvae_run_class_name(h, b, 0) else 0):
            cls.append(lib.mvae_run_class_name(h, b, c).decode())
        lik = lib.mvae_run_likelihood(h, b)
        return Modality(name, lib.mvae_run_type(h, b).decode(), tuple(shape[:ndim]), classes, tuple(cls),
                        lib.mvae_run_encodable(h, b) == 1, lik.decode() if lik else None)

    # ---- the handle ----
    def close(self):
        if getattr(self, "_h", None):
            lib.mvae_run_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def _handle(self):
        if not self._h:
            raise InvalidError("this run is closed", 1)
        return self._h

    def __repr__(self):
        return f"<mvae.Run {self.dir!r} epoch {self.epoch}, modalities {list(self.modalities)}>"

    @property
    def dir(self):
        return lib.mvae_run_dir(self._handle()).decode()

    @property
    def checkpoint(self):
        """The checkpoint file loaded (RUN/last.ckpt or RUN/best.ckpt)."""
        return lib.mvae_run_checkpoint(self._handle()).decode()

    @property
    def epoch(self):
        """Epochs the loaded checkpoint has trained."""
        return lib.mvae_run_epoch(self._handle())

    @property
    def latent_dim(self):
        return lib.mvae_run_latent_dim(self._handle())

    @property
    def config(self):
        """The resolved experiment (YAML text, as config.yaml with any eval.* overrides)."""
        return take_string(lib.mvae_run_config(self._handle()))

    # ---- arrays in ----
    def _as_input(self, name, value, n=None):
        """value as the flat float32 / int32 array the C API copies, its number of samples and
        its per-sample presence (None: all present). Images: [N, *shape], [N, H, W] (one channel)
        or [N, numel]; classes: [N] or [N, 1] integers or class names; a numpy masked array marks
        masked samples as missing; n broadcasts a scalar (given= of sample)."""
        mod = self.inputs.get(name)
        if mod is None:
            return None, None, None  # the C API names the problem (with a hint)
        mask = None
        if np.ma.isMaskedArray(value):  # masked samples: missing data
            mask = np.ma.getmaskarray(value)
            value = value.filled(0)
        a = np.asarray(value)
        numel = int(np.prod(mod.shape))
        if mod.is_index:
            if a.dtype.kind in "USO":  # class names
                lookup = {c.lower(): k for k, c in enumerate(mod.class_names)}

                def index(s):
                    if str(s).lower() not in lookup:
                        raise InvalidError(f"'{name}': no class named {str(s)!r}; classes: "
                                           f"{', '.join(mod.class_names) or '(the dataset names none)'}", 1)
                    return lookup[str(s).lower()]

                a = np.asarray(np.vectorize(index, otypes=[np.int64])(a))
            if a.dtype.kind not in "iub":
                raise InvalidError(f"'{name}' is {mod.type}: give integer indices (got dtype {a.dtype})", 1)
            if a.size and (a.min() < np.iinfo(np.int32).min or a.max() > np.iinfo(np.int32).max):
                raise InvalidError(f"'{name}': values outside int32", 1)
            a = a.astype(np.int32)
        else:
            if a.dtype.kind not in "fiub":
                raise InvalidError(f"'{name}' is {mod.type}: give numbers (got dtype {a.dtype})", 1)
            a = a.astype(np.float32)
        if n is not None and a.ndim == 0:
            a = np.broadcast_to(a, (n,) + ((numel,) if numel > 1 else ()))
        if a.ndim == 0:
            raise InvalidError(f"'{name}': give an array with the samples along the first axis", 1)
        N = a.shape[0]
        tail = tuple(a.shape[1:])
        squeezed = tuple(d for d in mod.shape if d != 1)
        if tail not in (tuple(mod.shape), squeezed, (numel,)) and not (numel == 1 and tail == ()):
            forms = sorted({f"[N, {', '.join(map(str, s))}]" if s else "[N]" for s in
                            (tuple(mod.shape), squeezed, (numel,))} | ({"[N]"} if numel == 1 else set()))
            raise InvalidError(f"'{name}' has shape {list(a.shape)}; a {mod.type} of shape {list(mod.shape)} is given as "
                               f"{' or '.join(forms)}", 1)
        present = None
        if mask is not None and mask.any():
            present = np.ascontiguousarray(~mask.reshape(N, -1).any(axis=1), dtype=np.uint8)
        return np.ascontiguousarray(a.reshape(N, numel)), N, present

    def _arrays(self, data, n=None):
        """An mvae_arrays handle holding data (name -> array); the caller frees it."""
        if not isinstance(data, dict) or not data:
            raise InvalidError("give the data as a dict {modality: array}, e.g. {\"image\": images}", 1)
        conv, pres, N = {}, {}, n
        for name, v in data.items():
            a, k, p = self._as_input(name, v, n)
            if a is not None:
                if N is not None and k != N:
                    raise InvalidError(f"'{name}' has {k} samples, the other arrays {N}", 1)
                N = k
            conv[name] = a
            if p is not None:
                pres[name] = p
        buf = msg_buffer()
        h = ctypes.c_void_p()
        check(lib.mvae_arrays_new(self._handle(), N if N is not None else 1, ctypes.byref(h), buf, len(buf)), buf)
        try:
            for name, a in conv.items():
                data_p, count = (a.ctypes.data, a.size) if a is not None else (None, 0)
                check(lib.mvae_arrays_set(h, cstr(name), data_p, count, buf, len(buf)), buf)
            for name, p in pres.items():
                check(lib.mvae_arrays_set_present(h, cstr(name), p.ctypes.data, p.size, buf, len(buf)), buf)
        except BaseException:
            lib.mvae_arrays_free(h)
            raise
        return h, N

    def _given(self, data, given):
        if given is None:
            given = [m for m in data if m in self.modalities and self.modalities[m].encodable]
            if not given:
                raise InvalidError("none of the arrays is a modality with an encoder; modalities: "
                                   + ", ".join(f"{m} ({'encoder' if d.encodable else 'decoder-only'})"
                                               for m, d in self.modalities.items()), 1)
        return given if isinstance(given, str) else ",".join(given)

    # ---- inference ----
    def encode(self, data, given=None, seed=0):
        """q(z | given) for each sample of data ({modality: array}). given: the modalities to
        condition on ("image", ["image", "label"]); default every array of a modality with an
        encoder. Returns Posterior(mean, logvar, z) with arrays [N, latent_dim]; z is one draw
        (seeded: the same seed gives the same draws)."""
        x, N = self._arrays(data)
        try:
            g = self._given(data, given)
            D = self.latent_dim
            mean, z = np.empty((N, D), np.float32), np.empty((N, D), np.float32)
            logvar = np.empty((N, D), np.float32)
            buf = msg_buffer()
            rc = lib.mvae_run_encode(self._h, x, cstr(g), int(seed), mean.ctypes.data, logvar.ctypes.data,
                                     z.ctypes.data, buf, len(buf))
            if rc == 1 and b"no single log-variance" in buf.value:  # a mixture: mean and draws only
                logvar = None
                rc = lib.mvae_run_encode(self._h, x, cstr(g), int(seed), mean.ctypes.data, None, z.ctypes.data, buf,
                                         len(buf))
            check(rc, buf)
            return Posterior(mean, logvar, z)
        finally:
            lib.mvae_arrays_free(x)

    def decode(self, z, modalities=None, raw=False):
        """Decode z [N, latent_dim] into each modality (default all but token sequences):
        {name: array}. Images and vectors: the distribution's mean, [N, *shape] (bernoulli:
        probabilities); classes: probabilities [N, classes]. raw=True: the decoder's output
        itself (logits for bernoulli and categorical)."""
        z = np.ascontiguousarray(np.asarray(z, dtype=np.float32))
        D = self.latent_dim
        if z.ndim == 1 and z.shape[0] == D:
            z = z[None, :]
        if z.ndim != 2 or z.shape[1] != D or z.shape[0] < 1:
            raise InvalidError(f"z has shape {list(z.shape)}; give [N, {D}]", 1)
        if modalities is None:
            modalities = [m for m in self.modalities if lib.mvae_run_decode_size(self._handle(), m.encode()) >= 0]
        elif isinstance(modalities, str):
            modalities = [modalities]
        out = {}
        buf = msg_buffer()
        for name in modalities:
            E = lib.mvae_run_decode_size(self._handle(), cstr(name))
            o = np.empty((z.shape[0], max(E, 1)), np.float32)
            check(lib.mvae_run_decode(self._h, z.ctypes.data, z.shape[0], cstr(name), int(bool(raw)), o.ctypes.data,
                                      buf, len(buf)), buf)
            mod = self.modalities[name]
            out[name] = o if mod.type == "categorical" else o.reshape((z.shape[0],) + tuple(mod.shape))
        return out

    def sample(self, n=None, given=None, seed=1, modalities=None):
        """Generate, as `mvae sample` does: z ~ q(z | given) (given={"label": 3}, {"label":
        "Sneaker"}, {"label": np.array([...])} or any inputs as arrays) or z ~ N(0, I) without
        given; then decode z into each modality. Returns {"z": [n, D], name: decoded, ...}. With the
        same seed and n, the draws are `mvae sample --seed S -n N --given label=V`'s."""
        if given is None:
            n = 64 if n is None else n
            z = np.empty((int(n), self.latent_dim), np.float32)
            buf = msg_buffer()
            check(lib.mvae_run_sample(self._handle(), None, None, int(n), int(seed), z.ctypes.data, buf, len(buf)), buf)
        else:
            if n is None:
                n = next((len(np.asarray(v)) for v in given.values() if np.asarray(v).ndim > 0), 64)
            x, N = self._arrays(given, n=int(n))
            try:
                z = np.empty((N, self.latent_dim), np.float32)
                buf = msg_buffer()
                check(lib.mvae_run_sample(self._h, x, cstr(self._given(given, list(given))), N, int(seed),
                                          z.ctypes.data, buf, len(buf)), buf)
            finally:
                lib.mvae_arrays_free(x)
        out = {"z": z}
        out.update(self.decode(z, modalities))
        return out

    def evaluate(self, data, set=(), quiet=True):
        """The run's evaluation (`mvae eval`, as its config's eval: section says) with data
        ({modality: array}, every modality of the model) as the test split: {"elbo": ..,
        "log_p": {..}, "accuracy": {..}, "accuracy_mean_z": {..}, ...} as metrics.json's "test".
        set: eval.* overrides for this call (`mvae eval --set`), e.g.
        ["eval.log_likelihood.samples=1000", "eval.probe.enabled=false"]: the run is opened again
        with them. The linear probe and the coherence classifier still train on the run's
        training split."""
        if set:
            run_dir, checkpoint, sets, force = self._open_args
            self._handle()
            with Run(run_dir, checkpoint, sets + _set_list(set), force) as other:
                return other.evaluate(data, quiet=quiet)
        x, _ = self._arrays(data)
        try:
            out = ctypes.c_void_p()
            buf = msg_buffer()
            check(lib.mvae_run_evaluate(self._h, x, int(bool(quiet)), ctypes.byref(out), buf, len(buf)), buf)
            return json.loads(take_string(out.value))["test"]
        finally:
            lib.mvae_arrays_free(x)


def load(run_dir, checkpoint="last", set=(), force=False):
    """Open a run directory as `mvae eval`/`mvae sample` do: config.yaml (set: eval.* overrides,
    e.g. ["eval.log_likelihood.samples=100"]), the plugins found as the command finds them, and
    checkpoint "last" or "best" (force: load one whose experiment fingerprint differs)."""
    return Run(run_dir, checkpoint, set, force)


def _print_epoch(ep):
    terms = " ".join(f"[{k}]={v:.2f}" for k, v in ep.get("terms", {}).items())
    print(f"epoch {ep['epoch']}: loss {ep['loss']:.4f} {terms} ({ep['seconds']:.1f} s, "
          f"{ep['samples_per_sec']:.0f} samples/s)", flush=True)


def _train(experiment, sets, out, flags, progress, on_batch):
    history, pending, interrupted = [], [], []
    stopped = [False]
    check_signals = ctypes.pythonapi.PyErr_CheckSignals

    def batch_hook(user, epoch, batch, n_batches, loss):
        try:
            check_signals()  # runs a pending SIGINT's handler (below): it sets `interrupted`
            if interrupted:
                return 1
            if on_batch is not None and on_batch(epoch, batch, n_batches, loss) is False:
                stopped[0] = True
                return 1
            return 0
        except BaseException as e:  # nothing may unwind through C
            pending.append(e)
            return 1

    def epoch_hook(user, line):
        try:
            ep = json.loads(line.decode())
            history.append(ep)
            if progress is True:
                _print_epoch(ep)
            elif callable(progress) and progress(ep) is False:
                stopped[0] = True
                return 1
            return 1 if interrupted else 0
        except BaseException as e:
            pending.append(e)
            return 1

    # Ctrl-C while the C trainer runs: Python's default handler would raise KeyboardInterrupt
    # wherever the next bytecode runs -- possibly on entering a callback, outside any try, where
    # ctypes could only print it and go on. For the call, a handler that only records it; the
    # next hook then stops the trainer and KeyboardInterrupt is raised here once the C call is
    # back. (Another thread than the main one, or a handler of the user's own: left alone.)
    own_handler = (threading.current_thread() is threading.main_thread()
                   and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if own_handler:
        signal.signal(signal.SIGINT, lambda signum, frame: interrupted.append(True))
    bh, eh = _capi.BATCH_FN(batch_hook), _capi.EPOCH_FN(epoch_hook)
    set_arr, n = string_array(_set_list(sets))
    run_dir, metrics = ctypes.c_void_p(), ctypes.c_void_p()
    buf = msg_buffer()
    try:
        rc = lib.mvae_api_train(cstr(experiment), set_arr, n, cstr(out), flags, bh, eh, None, ctypes.byref(run_dir),
                                ctypes.byref(metrics), buf, len(buf))
    finally:
        if own_handler:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    run_dir = take_string(run_dir.value)
    metrics = take_string(metrics.value)
    message = buf.value.decode("utf-8", "replace")
    if interrupted and not pending:
        pending.append(KeyboardInterrupt())
        if not rc:
            message = f"the run had finished when the interrupt was seen: {run_dir} is complete"
    if pending:  # KeyboardInterrupt or the callback's own exception, with mvae's word on the run
        e = pending[0]
        if message and hasattr(e, "add_note"):
            e.add_note("mvae: " + message)
        raise e
    if rc == 7 and stopped[0]:
        return TrainResult(run_dir, None, history, True)
    check(rc, buf)
    return TrainResult(run_dir, json.loads(metrics) if metrics else None, history, False)


def train(experiment, set=(), out=None, progress=None, on_batch=None, quiet=True):
    """`mvae train EXPERIMENT --set ... --out OUT`: train, evaluate, write the run directory.

    set: overrides ["train.epochs=2", "latent_dim=32"]; out: the run directory (default
    runs/<name>-<date>-<time>). progress: True prints a line per epoch; a callable gets each
    epoch's metrics.jsonl line as a dict and may return False to stop after that epoch (the run
    resumes with mvae.resume). on_batch(epoch, batch, n_batches, loss) is called after every
    step and may return False to stop. quiet=False shows mvae's own progress on stderr.
    Ctrl-C (KeyboardInterrupt) stops at the next step: the run directory keeps its last
    completed epoch and resumes from it. Returns TrainResult(run_dir, metrics, history, stopped)."""
    return _train(experiment, set, out, _capi.QUIET if quiet else 0, progress, on_batch)


def resume(run_dir, set=(), force=False, progress=None, on_batch=None, quiet=True):
    """`mvae train --resume RUN_DIR`: continue an interrupted run (set: eval.* overrides only)."""
    flags = _capi.RESUME | (_capi.FORCE if force else 0) | (_capi.QUIET if quiet else 0)
    return _train(None, set, run_dir, flags, progress, on_batch)


class Training:
    """Training as an iterator of epochs (mvae.train_iter): the C trainer runs in a thread of
    its own and each epoch's metrics.jsonl line (a dict) is yielded as it is written.

        t = mvae.train_iter("exp.yaml", set=["train.epochs=20"], out="runs/x")
        for ep in t:
            print(ep["epoch"], ep["loss"])     # plot, early-stop with `break`, ...
        t.result                               # TrainResult once the loop has ended

    Leaving the loop early (break, an exception, Ctrl-C) stops the trainer at its next step and
    waits for it: the run directory keeps its last completed epoch and mvae.resume continues it
    (t.result.stopped is then True). An error of the trainer is raised by the loop."""

    def __init__(self, experiment, sets, out, flags):
        self._args = (experiment, sets, out, flags)
        self._queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="mvae-train", daemon=True)
        self._error = None
        self._used = False
        self.result = None

    def _work(self):
        experiment, sets, out, flags = self._args
        try:
            self.result = _train(experiment, sets, out, flags, self._queue.put,
                                 lambda *a: False if self._stop.is_set() else None)
        except BaseException as e:  # raised again by the loop
            self._error = e

    def stop(self):
        """Ask the trainer to stop at its next step (from any thread)."""
        self._stop.set()

    def __iter__(self):
        if self._used:
            raise InvalidError("a Training is iterated once; start another with mvae.train_iter or mvae.resume_iter", 1)
        self._used = True
        self._thread.start()
        try:
            while self._thread.is_alive() or not self._queue.empty():
                try:
                    yield self._queue.get(timeout=0.05)
                except queue.Empty:
                    pass
        except BaseException:  # break (GeneratorExit), KeyboardInterrupt, the consumer's own error
            self._stop.set()
            self._thread.join()
            raise
        self._thread.join()
        if self._error is not None:
            raise self._error


def train_iter(experiment, set=(), out=None, quiet=True):
    """mvae.train as an iterator of epochs: see Training."""
    return Training(experiment, _set_list(set), out, _capi.QUIET if quiet else 0)


def resume_iter(run_dir, set=(), force=False, quiet=True):
    """mvae.resume as an iterator of epochs: see Training."""
    flags = _capi.RESUME | (_capi.FORCE if force else 0) | (_capi.QUIET if quiet else 0)
    return Training(None, _set_list(set), run_dir, flags)
