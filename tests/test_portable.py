"""Stored outputs pass on any machine, and what is not compared as text is still asserted.

- The numeric comparison nbval uses (tests/nbval_numbers.py) accepts what differs between
  machines and rejects what a regression would change.
- Every cell excluded from output comparison is listed here, per notebook, and asserts its
  result against a band in its own source: nothing is ignored silently.
- The simulated other machine of ``make test-portable`` really moves each framework onto
  another floating-point path (if it did not, the second pass would prove nothing).
- Opening a notebook in JupyterLab does not modify it.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import nbformat
import pytest

import notebooks
from nbval_numbers import numbers_agree, texts_agree

ROOT = notebooks.ROOT
COMPARED = sorted(p for folder in ("chapters", "solutions") for p in (ROOT / folder).glob("*.ipynb"))
ALL = sorted(p for folder in ("chapters", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb"))
IGNORE_TAGS = {"nbval-ignore-output", "nbval-skip"}
IGNORE_COMMENTS = {"# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP"}

#: Code cells (nbval's numbering: the n-th code cell) whose output is not compared as text,
#: per notebook, with what each one asserts instead. Adding a cell here is a decision a
#: reviewer sees; each must assert its result against a measured band in its own source.
EXCLUDED: dict[str, dict[int, str]] = {
    "chapters/01_single_neuron.ipynb": {},
    "chapters/02_math_foundations.ipynb": {},
    "chapters/03_neural_networks.ipynb": {},
    "chapters/04_training.ipynb": {
        5: "Keras MLP: training loss falls every epoch to below 0.03, final validation accuracy in [0.97, 0.99]",
        7: "PyTorch MLP: training loss falls every epoch to below 0.04, final validation accuracy in [0.97, 0.99]",
        9: "test accuracy of the Keras and the PyTorch MLP each in [0.975, 0.99]; both have 235,146 parameters",
        12: "learning curves: 4-unit net still falling at 20 epochs, fits 1,000 digits when trained longer while its "
            "validation accuracy stays in [0.64, 0.76]; 2-unit net flat near 1 and underfits; 64-unit net > 10x lower",
        18: "regulariser table over 3 seeds: mean validation accuracy of each in [0.85, 0.95], augmentation best; "
            "augmentation and batch norm significant and in their bands, dropout not; the prose's ratios and norms",
        19: "mean validation accuracy over 3 seeds: baseline in [0.86, 0.91], augmentation in [0.90, 0.95], >= 0.02 higher",
        23: "initialisations: N(0, 0.01²) stays at ln 10, He loss < 0.15 and accuracy in [0.80, 0.95], N(0, 1) nan",
        32: "learning-rate range test: lowest smoothed loss at a rate in [1e-2, 4e-2], below 0.7; blows up before lr 1",
        35: "confusion matrix: matches scikit-learn and the test accuracy, macro F1 in [0.975, 0.99], every F1 >= 0.95",
    },
    "chapters/05_cnns.ipynb": {
        16: "PyTorch LeNet training: final training loss below 0.04, training accuracy at least 0.985",
        18: "misclassified test digits (Keras LeNet): between 1 and 99",
        20: "active share of the feature maps: conv1 in [0.35, 0.60], conv2 in [0.15, 0.35] and below conv1",
        22: "Fashion-MNIST test accuracy: linear baseline in [0.82, 0.86], CNN in [0.87, 0.91], CNN ahead by >= 0.03",
        23: "Fashion-MNIST recall: the 2 hardest are upper-body garments, Shirt hardest (< 0.8), easy classes >= 0.8",
        28: "plain vs residual training accuracy: residual-20 ahead of plain-20 by >= 0.08, plain-20 <= plain-4 + 0.02, "
            "plain-20 in [0.45, 0.65], residual-20 in [0.6, 0.8]",
    },
    "chapters/06_rnns_nlp.ipynb": {
        37: "LSTM training run: best validation accuracy in [0.70, 0.85], test accuracy in [0.70, 0.84], "
            "final training accuracy above validation by > 0.1",
        39: "headline accuracies: TF-IDF baseline in [0.870, 0.878], LSTM in [0.70, 0.84] and below the baseline",
        40: "McNemar comparison: the baseline wins on more reviews, p < 0.01",
    },
    "chapters/07_autoencoders.ipynb": {
        9: "denoising MSEs: vanilla in [0.055, noisy inputs), denoiser in [0.024, PCA), on clean digits above vanilla",
        12: "5-NN accuracy of the maps: PCA in [0.40, 0.45], 2-number code above PCA up to 0.52, t-SNE at least 0.78",
        14: "K-means: codes' NMI in [0.50, 0.57], above sparse and denoising codes; PCA within 0.05 of the pixels",
        15: "metrics: codes' NMI in [0.50, 0.57], ARI in [0.39, 0.49], both above the pixels'; MSEs ordered",
    },
    "chapters/08_generative.ipynb": {
        5: "judge's scores: real share in [0.85, 0.95], spread >= 3.2 bits; 1s >= 0.95, <= 0.3 bits; noise <= 0.35, "
           "80% or more in two classes; independent pixels <= 0.1",
        10: "VAE training: test negative ELBO in [150, independent pixels - 40] nats, KL term in [4, 6.5] nats",
        14: "VAE samples: confident share in [0.15, 0.32], class spread >= 2.9 bits",
        21: "GAN training: share climbs from step 100 to 250, in [0.32, 0.56] from step 500, spread >= 2.9 bits "
            "from step 250",
        24: "GAN samples: share in [0.32, 0.56], spread >= 2.9 bits, every class >= 1%, 1s < half the real share, "
            "3s and 7s > 1.25x the real share",
        25: "provoked mode collapse: median spread over 8 checkpoints <= 1.5 bits and >= 1.5 bits below the healthy "
            "GAN's; at some checkpoint >= 70% of samples in one class",
        29: "DDPM training: mean MSE of the first 50 steps in [0.3, 1.2], of the last 200 in [0.05, 0.16]",
        30: "DDPM samples: real digits at 14 x 14 share in [0.8, 0.92]; diffusion share in [0.15, 0.45], spread >= 2.8",
        31: "conv VAE: test negative ELBO in [95, 2-D VAE's - 20] nats, class spread >= 2.8 bits",
        33: "fair comparison: every spread >= 2.8 bits; novelty: median distance 0.75-2.2x the test digits', "
            "<= 5% near-copies; GAN share >= 0.03 above conv VAE and diffusion, conv VAE >= 0.03 above the "
            "2-D VAE; training seconds of the three within 4x",
        34: "metrics: judge accuracy in [0.96, 0.99], VAE negative ELBO in [150, 165], VAE share in [0.15, 0.32], "
            "GAN share in [0.32, 0.56], GAN spread >= 2.9 bits, collapsed median spread <= 1.5, diffusion share in "
            "[0.15, 0.45], real share in [0.85, 0.95]",
    },
    "chapters/09_transformers.ipynb": {
        28: "sampling: own NLL rises with temperature, greedy < 1.2 and T=1 in (1.7, 2.4), distinct 4-grams greedy "
            "< 0.2 and T=1.5 > 0.75, top-k and top-p below T=1",
        30: "KV cache: logits match the full forward to < 1e-4, speed-up > 2.5x at 512 tokens and growing",
        33: "seq2seq: exact match on 1,000 held-out strings in [0.95, 1.0], final training loss < 0.1",
        34: "cross-attention: mean weight on the mirrored source letter in [0.5, 1.0]",
        38: "encoding timing: embeddings of shape (1500, 384) and (500, 384), all finite",
        43: "LoRA: review loss at least 0.2 below the base's, full fine-tuning within 0.1 of LoRA or better, LoRA "
            "forgets less Shakespeare than full fine-tuning, merged logits within 1e-4",
        47: "random search: every candidate's validation accuracy >= 0.5, the best in [0.8, 0.95], its test "
            "accuracy within 0.05 of it",
    },
    "chapters/10_deployment.ipynb": {
        18: "timings: int8 a third of float32 or less, .keras above 2.5x ONNX, ONNX < Keras call < predict",
        22: "service (model hash): 200, the three digits right with p > 0.9, same as ONNX Runtime, version = hash",
        24: "service latency: one image under 100 ms, a batch of 32 slower per request, throughput above 1.5x",
        25: "a temporary path: it is the exported .onnx file",
        29: "CNN after one epoch: test accuracy in [0.95, 0.99], ONNX parity below 1e-4",
        33: "metrics page lines (counts include health polls): the service reports itself ready",
        35: "load test: 0 errors both ways, 1,000 model calls without batching, fewer with",
        36: "throughput and latency: both above 50 requests/s, ratio within 0.2-3x, > 1.5 images per call",
        39: "bf16 vs float32: accuracy in [0.95, 0.99] and within 0.01 of float32, speed ratio in 0.2-5x",
        41: "DDP wall time (process start-up): under 120 s",
        43: "run record (time, commit, model hash): run.json holds it, hashes match the file, accuracy >= 0.95",
        44: "hashes: the training data's is edc0d1098aa497be, the model's is its file's; the record's fields",
    },
    "solutions/01_single_neuron_solutions.ipynb": {},
    "solutions/02_math_foundations_solutions.ipynb": {},
    "solutions/03_neural_networks_solutions.ipynb": {},
    "solutions/04_training_solutions.ipynb": {},
    "solutions/05_cnns_solutions.ipynb": {},
    "solutions/06_rnns_nlp_solutions.ipynb": {},
    "solutions/07_autoencoders_solutions.ipynb": {},
    "solutions/08_generative_solutions.ipynb": {},
    "solutions/09_transformers_solutions.ipynb": {},
    "solutions/10_deployment_solutions.ipynb": {},
}


def rel(path) -> str:
    return path.relative_to(ROOT).as_posix()


# --------------------------------------------------------------------------- the comparison rules
@pytest.mark.parametrize(
    "stored, fresh",
    [
        ("3.2e-15", "3.7e-15"),        # a gradient-check error: the size matters, not its digits
        ("5.7e-06", "4.8e-06"),        # framework parity in float32
        ("2.2e-16", "1.1e-15"),        # within a factor of ten
        ("0.0e+00", "4.4e-16"),        # exact on one machine, rounding noise on another
        ("0.9077", "0.9078"),          # a rounding flip in the last printed digit
        ("-0.0000", "0.0000"),
        ("3.5e+06", "3.6e+06"),        # a large size: one unit of its mantissa
        ("85822", "85822"),
    ],
)
def test_numbers_that_differ_only_by_the_machine_agree(stored, fresh):
    assert numbers_agree(stored, fresh)


@pytest.mark.parametrize(
    "stored, fresh",
    [
        ("0.9077", "0.9080"),          # a training result: three units apart is a different run
        ("3.2e-15", "4.1e-13"),        # a hundred times worse: a real change
        ("3.2e-15", "-3.2e-15"),       # a sign is never noise
        ("0.0e+00", "2.0e-09"),
        ("85822", "85823"),            # counts are exact
        ("1e-07", "0.0001"),           # parity lost
        ("3.5e+06", "3.8e+06"),
        ("0.5", "0.52"),
    ],
)
def test_numbers_that_a_regression_would_change_disagree(stored, fresh):
    assert not numbers_agree(stored, fresh)


def test_texts_agree_only_when_the_words_agree():
    stored = "Keras Sequential  loss 0.6665383246, max relative gradient error 3.7e-15\n[ 0.12 -0.50]"
    assert texts_agree(stored, stored.replace("3.7e-15", "3.2e-15").replace("0.12 -0.50", "0.12  -0.50"))
    assert not texts_agree(stored, stored.replace("Sequential", "Functional"))
    assert not texts_agree(stored, stored.replace("0.6665383246", "0.6665383260"))
    assert not texts_agree(stored, stored + "\nextra line")
    assert not texts_agree("shape (28, 28)", "shape (28, 27)")
    assert not texts_agree("a 3x3 kernel", "a 3x4 kernel")


# --------------------------------------------------------------------------- excluded cells
def excluded_cells(path) -> dict[int, nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    return {
        number: cell for number, cell in enumerate(code)
        if IGNORE_TAGS & set(cell.metadata.get("tags", []))
        or any(line.strip() in IGNORE_COMMENTS for line in cell.source.splitlines())
    }


def asserts_in(source: str) -> list[ast.Assert]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return [node for node in ast.walk(ast.parse("\n".join(lines))) if isinstance(node, ast.Assert)]


@pytest.mark.parametrize("path", COMPARED, ids=rel)
def test_every_excluded_cell_is_listed_and_asserts_a_band(path):
    found = excluded_cells(path)
    listed = EXCLUDED.get(rel(path), {})
    assert sorted(found) == sorted(listed), (
        f"{rel(path)}: cells excluded from output comparison {sorted(found)}, listed in "
        f"tests/test_portable.py {sorted(listed)}; list each with what it asserts instead"
    )
    for number, cell in found.items():
        checks = asserts_in(cell.source)
        assert checks, f"{rel(path)} code cell {number} is not compared but asserts nothing"
        assert any(isinstance(c.test, ast.Compare) for c in checks), (
            f"{rel(path)} code cell {number}: assert its result against a band (a comparison)"
        )


def test_the_exclusion_list_names_real_notebooks():
    assert set(EXCLUDED) <= {rel(p) for p in COMPARED}


# --------------------------------------------------------------------------- the second machine
PROBE = r"""
import hashlib, json, os
import numpy as np
def h(a): return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()
rng = np.random.default_rng(0)
A = rng.standard_normal((400, 400))
out = {"numpy matmul": h(A @ A)}
import torch
torch.manual_seed(0)
out["torch randn"] = h(torch.randn(1000).numpy())
t = torch.randn(256, 256)
out["torch matmul"] = h((t @ t).numpy())
import keras, tensorflow as tf
keras.utils.set_random_seed(0)
tf.config.experimental.enable_op_determinism()
x = rng.standard_normal((1024, 784)).astype("float32")
y = rng.integers(0, 10, 1024)
model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, y, epochs=1, batch_size=128, verbose=0, shuffle=False)
out["keras training"] = h(model.layers[0].kernel.numpy())
print(json.dumps(out))
"""


def probe(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in notebooks.OTHER_MACHINE_ENV}
    env.update(notebooks.EXECUTION_ENV)
    env.update(extra)
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_simulated_other_machine_moves_every_framework():
    here, other = probe({}), probe(notebooks.OTHER_MACHINE_ENV)
    same = [name for name in here if here[name] == other[name]]
    assert not same, f"OTHER_MACHINE_ENV leaves these bit-identical, so it would not test them: {same}"


# --------------------------------------------------------------------------- opening a notebook
@pytest.mark.parametrize("path", ALL, ids=rel)
def test_notebooks_store_the_metadata_jupyterlab_writes(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec == notebooks.KERNELSPEC, (
        f"{rel(path)}: JupyterLab would rewrite the kernelspec on opening; run `make headers`"
    )


def test_the_stored_kernelspec_is_the_installed_kernels():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert spec.display_name == notebooks.KERNELSPEC["display_name"]
    assert spec.language == notebooks.KERNELSPEC["language"]
