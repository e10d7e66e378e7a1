"""ctypes declarations of mvae/api.h (core/include/mvae/api.h) and the library lookup.

Nothing here knows a model: it loads libmvae, declares the C API's functions, checks the API
version and turns a failed call into the matching mvae.Error subclass with mvae's message.
"""
import ctypes
import ctypes.util
import os

from ._errors import error_for

# the API this package is written against: the library must have the same major, a minor >= this
API_MAJOR = 1
API_MINOR = 0
MSG_MAX = 1024

c_int, c_int64, c_uint64, c_size_t = ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_size_t
c_char_p, c_void_p, c_double = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_double
c_char_pp = ctypes.POINTER(ctypes.c_char_p)

BATCH_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, c_int64, c_int64, c_double)
EPOCH_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_char_p)
LOG_FN = ctypes.CFUNCTYPE(None, c_int, c_char_p, c_void_p)

RESUME, FORCE, QUIET = 1, 2, 4

# name: (restype, argtypes); a trailing msg buffer + its length is (c_void_p, c_size_t)
_SIGNATURES = {
    "mvae_api_version": (c_int, []),
    "mvae_api_library_version": (c_char_p, []),
    "mvae_api_free": (None, [c_void_p]),
    "mvae_api_status_name": (c_char_p, [c_int]),
    "mvae_api_set_log_level": (c_int, [c_int]),
    "mvae_api_set_log_sink": (None, [LOG_FN, c_void_p]),
    "mvae_api_train": (c_int, [c_char_p, c_char_pp, c_int, c_char_p, c_int, BATCH_FN, EPOCH_FN, c_void_p,
                               ctypes.POINTER(c_void_p), ctypes.POINTER(c_void_p), c_void_p, c_size_t]),
    "mvae_run_open": (c_int, [c_char_p, c_char_p, c_char_pp, c_int, c_int, ctypes.POINTER(c_void_p), c_void_p,
                              c_size_t]),
    "mvae_run_close": (None, [c_void_p]),
    "mvae_run_dir": (c_char_p, [c_void_p]),
    "mvae_run_checkpoint": (c_char_p, [c_void_p]),
    "mvae_run_epoch": (c_int64, [c_void_p]),
    "mvae_run_latent_dim": (c_int, [c_void_p]),
    "mvae_run_config": (c_void_p, [c_void_p]),
    "mvae_run_n_modalities": (c_int, [c_void_p]),
    "mvae_run_modality_name": (c_char_p, [c_void_p, c_int]),
    "mvae_run_n_inputs": (c_int, [c_void_p]),
    "mvae_run_input_name": (c_char_p, [c_void_p, c_int]),
    "mvae_run_type": (c_char_p, [c_void_p, c_char_p]),
    "mvae_run_shape": (c_int, [c_void_p, c_char_p, ctypes.POINTER(c_int64)]),
    "mvae_run_classes": (c_int, [c_void_p, c_char_p]),
    "mvae_run_class_name": (c_char_p, [c_void_p, c_char_p, c_int]),
    "mvae_run_encodable": (c_int, [c_void_p, c_char_p]),
    "mvae_run_likelihood": (c_char_p, [c_void_p, c_char_p]),
    "mvae_arrays_new": (c_int, [c_void_p, c_int64, ctypes.POINTER(c_void_p), c_void_p, c_size_t]),
    "mvae_arrays_free": (None, [c_void_p]),
    "mvae_arrays_size": (c_int64, [c_void_p]),
    "mvae_arrays_set": (c_int, [c_void_p, c_char_p, c_void_p, c_int64, c_void_p, c_size_t]),
    "mvae_arrays_set_present": (c_int, [c_void_p, c_char_p, c_void_p, c_int64, c_void_p, c_size_t]),
    "mvae_run_encode": (c_int, [c_void_p, c_void_p, c_char_p, c_uint64, c_void_p, c_void_p, c_void_p, c_void_p,
                                c_size_t]),
    "mvae_run_decode_size": (c_int64, [c_void_p, c_char_p]),
    "mvae_run_decode": (c_int, [c_void_p, c_void_p, c_int64, c_char_p, c_int, c_void_p, c_void_p, c_size_t]),
    "mvae_run_sample": (c_int, [c_void_p, c_void_p, c_char_p, c_int64, c_uint64, c_void_p, c_void_p, c_size_t]),
    "mvae_run_evaluate": (c_int, [c_void_p, c_void_p, c_int, ctypes.POINTER(c_void_p), c_void_p, c_size_t]),
}


def _candidates():
    """Where libmvae may be, in order: $MVAE_LIBRARY; the path recorded when the package was
    built or installed (_config.py, next to this file); the dynamic loader's search path."""
    env = os.environ.get("MVAE_LIBRARY")
    if env:
        return [env]
    out = []
    try:
        from . import _config
        lib = _config.LIBRARY
        if not os.path.isabs(lib):
            lib = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), lib))
        out.append(lib)
    except ImportError:
        pass
    out.append(ctypes.util.find_library("mvae") or "libmvae.so.0")
    return out


def _load():
    tried = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
            continue
        return lib, path
    raise ImportError("mvae: cannot load libmvae; tried " + "; ".join(tried) +
                      ". Build mvae (scripts/deps.sh build) and use PYTHONPATH=build/python, install it with "
                      "`cmake --install`, or set MVAE_LIBRARY to libmvae.so")


lib, LIBRARY_PATH = _load()
for _name, (_res, _args) in _SIGNATURES.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        raise ImportError(f"mvae: {LIBRARY_PATH} has no {_name}: it is older than this package "
                          f"(C API {API_MAJOR}.{API_MINOR} needed); rebuild or reinstall mvae") from None
    _f.restype = _res
    _f.argtypes = _args

_v = lib.mvae_api_version()
API_VERSION = (_v >> 16, _v & 0xFFFF)
if API_VERSION[0] != API_MAJOR or API_VERSION[1] < API_MINOR:
    raise ImportError(f"mvae: {LIBRARY_PATH} has C API {API_VERSION[0]}.{API_VERSION[1]}; this package needs "
                      f"{API_MAJOR}.x with x >= {API_MINOR}: install the package and the library from the same build")


def msg_buffer():
    return ctypes.create_string_buffer(MSG_MAX)


def check(rc, buf):
    """Raise the mvae.Error subclass of status rc with mvae's message (rc 0: nothing)."""
    if rc:
        text = buf.value.decode("utf-8", "replace") or lib.mvae_api_status_name(rc).decode()
        raise error_for(rc)(text, rc)


def cstr(s):
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode("utf-8")


def string_array(items):
    items = [cstr(s) for s in items]
    arr = (c_char_p * max(1, len(items)))(*items)
    return arr, len(items)


def take_string(ptr):
    """A malloc'd char * from the library as str, freed."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        lib.mvae_api_free(ptr)
