"""The budgeted-challenge harness (dlcourse_utils/checks/challenge.py) cannot be talked round.

A challenge's check hands ``train`` a TrainingData, blocks every data loader while it runs,
counts the examples it draws and the numbers the returned model stores, and times it. Each
way around a budget a learner might take by mistake (or on purpose) is tried here.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dlcourse_utils import data as datasets
from dlcourse_utils.checks import CheckFailed, challenge_data
from dlcourse_utils.checks.challenge import (
    Budget,
    BudgetExceeded,
    TrainingData,
    count_parameters,
    run_challenge,
    torch_module,
    validation_split,
)


def _data(n: int = 100, examples: int | None = 300) -> TrainingData:
    rng = np.random.default_rng(0)
    return TrainingData(rng.normal(size=(n, 2)), rng.integers(0, 2, size=n), budget=Budget(examples=examples))


def test_batches_cover_one_epoch_and_every_example_counts():
    data = _data(10, examples=25)
    sizes = [len(xb) for xb, _ in data.batches(4, shuffle=False)]
    assert sizes == [4, 4, 2] and data.examples_seen == 10 and data.examples_left == 15
    seen = np.concatenate([yb for _, yb in data.batches(3, seed=1)])
    assert sorted(seen.tolist()) == sorted(data._y.tolist())  # a shuffled epoch is a permutation
    assert data.examples_seen == 20
    with pytest.raises(BudgetExceeded, match="budget of 25 examples"):
        data.sample(6)
    assert data.exceeded and data.examples_seen == 20


def test_batches_are_copies_and_tensors_have_the_book_dtypes():
    data = _data()
    xb, yb = next(data.batches(8, tensors=True))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64
    x_np, _ = data.sample(4)
    x_np[:] = 99.0  # changing a batch changes nothing the check keeps
    assert not np.any(data._X == 99.0)
    with pytest.raises(ValueError):
        data._X[0, 0] = 1.0  # read-only underneath


def test_the_data_refuses_to_be_read_without_counting():
    data = _data()
    with pytest.raises(TypeError, match="data.batches"):
        np.asarray(data)
    with pytest.raises(TypeError, match="data.batches"):
        iter(data)


def test_validation_split_is_a_disjoint_part_of_the_training_examples():
    (Xt, yt), (Xv, yv) = validation_split(np.arange(50), np.arange(50), 0.2, seed=3)
    assert len(Xv) == 10 and len(Xt) == 40
    assert set(Xt.tolist()).isdisjoint(Xv.tolist()) and set(Xt.tolist()) | set(Xv.tolist()) == set(range(50))


class _Memoriser(nn.Module):
    """Zero parameters, and the training set kept as a buffer and as a plain tensor attribute."""

    def __init__(self, X: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("images", torch.as_tensor(X))
        self.labels = torch.zeros(len(X))


def test_count_parameters_counts_buffers_kept_tensors_closures_and_globals():
    model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.Linear(16, 1))
    expected = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    assert count_parameters(model) == expected
    assert count_parameters(_Memoriser(np.zeros((100, 2)))) == 300

    def make_predict():
        W, b = np.zeros((2, 16)), np.zeros(16)
        return lambda X: X @ W + b

    assert count_parameters(make_predict()) == 48
    shared = np.zeros(10)
    assert count_parameters({"a": shared, "b": [shared, (shared,)]}) == 10  # each array once
    data = _data(100)
    assert count_parameters(lambda X: data) == 300  # keeping the training data is storing it


def test_count_parameters_counts_a_trained_keras_model_once_with_the_arrays_it_keeps():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((8, 4)), np.zeros((8, 2)), epochs=1, verbose=0)  # trained: TF tracking attached
    assert count_parameters(model) == model.count_params() == 4 * 8 + 8 + 8 * 2 + 2
    model.memory = np.zeros((100, 4))
    assert count_parameters(model) == 58 + 400


_KEPT_GLOBALLY = np.zeros((500, 2))


def test_count_parameters_sees_arrays_a_function_reads_from_the_notebook():
    def predict(X):
        return _KEPT_GLOBALLY[:len(X)]

    assert count_parameters(predict) == 1000


def _honest(data):
    model = nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        for xb, yb in data.batches(32, tensors=True):
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def test_an_honest_train_within_budget_runs_and_is_reported():
    model, report = run_challenge(_honest, _data(), Budget(examples=300, parameters=10, seconds=60))
    assert isinstance(model, nn.Linear)
    assert report.examples == 200 and report.parameters == 6 and report.seconds < 60
    assert "200 examples drawn" in str(report)


@pytest.mark.parametrize("train, words", [
    (lambda data: [list(data.batches(10)) for _ in range(4)] and nn.Linear(2, 2), "more than its budget of 300"),
    (lambda data: (list(data.batches(10)), nn.Linear(2, 200))[1], "stores 600 numbers"),
    (lambda data: (list(data.batches(10)), _Memoriser(np.zeros((100, 2))))[1], "do not keep training examples"),
    (lambda data: nn.Linear(2, 2), "drew no training examples"),
    (lambda data: list(data.batches(10)) and None, "returned None"),
    (lambda data: datasets.load_mnist(progress=False), "never load a data set itself"),
    (lambda data: datasets.ensure_nltk("stopwords"), "not allowed here"),
])
def test_each_way_around_the_budget_is_refused_with_a_message_naming_it(train, words):
    with pytest.raises(CheckFailed, match=words):
        run_challenge(train, _data(), Budget(examples=300, parameters=100, seconds=60), name="train")


def test_the_budget_exceeded_failure_advises_the_next_hint():
    with pytest.raises(CheckFailed) as failure:
        run_challenge(lambda data: [list(data.batches(10)) for _ in range(4)], _data(), Budget(examples=300))
    assert "epochs" in failure.value.advice


def test_wall_time_over_budget_is_refused():
    def slow(data):
        list(data.batches(50))
        import time
        time.sleep(0.3)
        return nn.Linear(2, 2)

    with pytest.raises(CheckFailed, match=r"took 0\.\d s; the budget is 0.1 s"):
        run_challenge(slow, _data(), Budget(seconds=0.1))


def test_loaders_work_again_after_the_challenge(tmp_path, monkeypatch):
    with datasets.loaders_blocked("a test"):
        with pytest.raises(datasets.DataError, match="a test"):
            datasets.fetch_dataset("mnist", progress=False)
    assert datasets._BLOCKED_BECAUSE is None


def test_challenge_data_names_the_challenges_for_an_unknown_id():
    with pytest.raises(KeyError, match="not a training challenge; the challenges are"):
        challenge_data("1.1")


def test_a_trained_model_passed_instead_of_the_function_is_named_and_the_return_type_checked():
    with pytest.raises(CheckFailed, match="pass the function train itself, not a trained model"):
        run_challenge(nn.Linear(2, 2), _data(), Budget(), name="train")
    with pytest.raises(CheckFailed, match="should return the trained PyTorch model"):
        run_challenge(lambda data: list(data.batches(50)) and (lambda X: X), _data(), Budget(),
                      name="train", check_model=torch_module("train"))
