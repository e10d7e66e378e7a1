# The worked example of docs/python.md, as notebook cells (`# %%`: Jupyter, VS Code, or plain
# `python3 examples/python/quickstart.py` from the source tree after building).
#   PYTHONPATH=build/python /usr/bin/python3 examples/python/quickstart.py [RUN_DIR]
# Trains the README's quickstart experiment (real Fashion-MNIST) for 2 epochs instead of 5 and
# without the coherence judge (a shorter run), unless RUN_DIR already holds a finished run.
# %%
import gzip
import os
import sys

import numpy as np

import mvae

print("mvae", mvae.__version__, "C API", mvae.api_version(), "from", mvae.library_path)

# %% 1. Train the quickstart run: stop after epoch 1 (as Ctrl-C would), then resume it
out = sys.argv[1] if len(sys.argv) > 1 else "runs/py-quickstart"
if not os.path.exists(os.path.join(out, "metrics.json")):
    def first_epoch_only(ep):
        print(f"epoch {ep['epoch']}: loss {ep['loss']:.2f}, {ep['samples_per_sec']:.0f} samples/s, terms {ep['terms']}")
        return False  # stop here; the run directory keeps epoch 1

    res = mvae.train("experiments/quickstart.yaml", out=out, progress=first_epoch_only,
                     set=["train.epochs=2", "eval.coherence.enabled=false"])
    print("stopped:", res.stopped, "run directory:", res.run_dir)
    res = mvae.resume(out, progress=True)  # epoch 2, then the evaluation
    print("test accuracy image->label:", res.metrics["test"]["accuracy"])


# %% 2. The Fashion-MNIST test split as numpy arrays (the dataset's own files)
def idx(path):
    with gzip.open(path) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


fm = "/usr/share/datasets/fashion-mnist"
# [10000, 28, 28] in [0, 1], scaled as the dataset plugin scales (x / 255 differs in the last bit for some x)
images = idx(f"{fm}/t10k-images-idx3-ubyte.gz").astype(np.float32) * np.float32(1 / 255)
labels = idx(f"{fm}/t10k-labels-idx1-ubyte.gz").astype(np.int64)          # [10000]
print(images.shape, images.dtype, labels[:10])

# %% 3. Load the run: config + best checkpoint + plugins, as `mvae eval` does
run = mvae.load(out, checkpoint="best")
print(run)
for m in run.modalities.values():
    print(f"  {m.name}: {m.type} {m.shape} likelihood {m.likelihood}, encoder: {m.encodable}")
print("classes:", run.modalities["label"].class_names)

# %% 4. Encode: q(z | image), q(z | label), q(z | image, label)
q_img = run.encode({"image": images[:1000]})
q_lab = run.encode({"label": labels[:1000]})
q_both = run.encode({"image": images[:1000], "label": labels[:1000]})
print("mean", q_img.mean.shape, "logvar", q_img.logvar.shape, "z", q_img.z.shape)
for name, q in (("image", q_img), ("label", q_lab), ("image,label", q_both)):
    print(f"  q(z | {name}): average standard deviation {np.exp(0.5 * q.logvar).mean():.3f}")

# %% 5. Decode: the label from z = mean of q(z | image) -- the evaluator's accuracy_mean_z
pred = run.decode(q_img.mean, "label")["label"].argmax(axis=1)
print("accuracy from the image on 1000 test images:", (pred == labels[:1000]).mean())
recon = run.decode(q_both.mean, "image")["image"]
print("reconstruction", recon.shape, "mean |x - x^|:", float(np.abs(recon[:, 0] - images[:1000]).mean()))

# %% 6. Sample 8 sneakers, as `mvae sample --given label=Sneaker -n 8 --seed 1`
s = run.sample(8, given={"label": "Sneaker"}, seed=1)
print("z", s["z"].shape, "image", s["image"].shape)
print("the label decoder reads them back as:", [run.modalities["label"].class_names[k] for k in s["label"].argmax(1)])
for row in s["image"][0, 0, ::2, ::2]:  # a coarse look at the first one (14 x 14)
    print("".join(" .:-=+*#%@"[min(9, int(v * 10))] for v in row))

# %% 7. The run's metrics on arrays we pass in: the first 2000 test images
metrics = run.evaluate({"image": images[:2000], "label": labels[:2000]})
print({k: metrics[k] for k in ("elbo", "log_p", "accuracy", "accuracy_mean_z", "probe")})

# %% 8. The same evaluation as `mvae eval` (the whole test split: identical numbers)
import json, subprocess  # noqa: E401
cli = json.loads(subprocess.run(["build/mvae", "eval", out, "--checkpoint", "best", "--quiet"],
                                capture_output=True, text=True, check=True).stdout)["test"]
ours = run.evaluate({"image": images, "label": labels})
same = {k: ours[k] == cli[k] for k in cli if k != "seconds"}
print("equal to mvae eval:", same)
print("elbo", ours["elbo"], "accuracy", ours["accuracy"], "log p", ours["log_p"])

# %% 9. Errors carry mvae's message
try:
    run.encode({"image": images[:10] * 255})
except mvae.InvalidError as e:
    print(type(e).__name__, "->", e)
try:
    mvae.train("experiments/quickstart.yaml", set=["train.epoch=3"])
except mvae.Error as e:
    print(type(e).__name__, "->", e)
run.close()
