"""The plotting helpers draw what they promise (checked on the artists, Agg backend)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlcourse_utils import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_learning_curves_from_a_dict_pair_train_and_validation():
    fig = plotting.plot_learning_curves(
        {"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.5, 0.8, 0.9]}
    )
    loss_ax, acc_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["train loss", "validation loss"]
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), [1.1, 0.7, 0.6])
    assert len(acc_ax.lines) == 1 and acc_ax.get_ylabel() == "accuracy"


def test_learning_curves_accept_a_keras_style_history():
    class History:
        history = {"loss": [3.0, 2.0]}

    fig = plotting.plot_learning_curves(History(), logy=True)
    assert fig.axes[0].get_yscale() == "log"
    np.testing.assert_allclose(fig.axes[0].lines[0].get_xdata(), [1, 2])


def test_learning_curves_reject_unknown_metric_and_empty_history():
    with pytest.raises(KeyError, match="no curve named 'acc'"):
        plotting.plot_learning_curves({"loss": [1.0]}, metrics=["acc"])
    with pytest.raises(TypeError):
        plotting.plot_learning_curves({})


@pytest.mark.parametrize(
    "predict",
    [
        lambda P: (P[:, 0] > 0).astype(int),  # labels
        lambda P: 1 / (1 + np.exp(-10 * P[:, 0])),  # probability of class 1
        lambda P: np.column_stack([P[:, 0] <= 0, P[:, 0] > 0]).astype(float),  # class probabilities
    ],
)
def test_decision_boundary_shades_each_side_with_its_class(predict):
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-1.0, 1.0], [1.0, 1.0]])
    y = np.array([0, 1, 0, 1])
    ax = plotting.plot_decision_boundary(predict, X, y, resolution=50)
    contour = ax.collections[0]
    assert contour.get_array() is not None
    assert len(ax.collections) == 2  # filled regions + the scatter of the data


def test_decision_boundary_needs_two_features():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plotting.plot_decision_boundary(lambda P: P[:, 0], np.zeros((4, 3)), np.zeros(4))


def test_show_images_makes_a_grid_with_labels():
    images = np.random.default_rng(0).random((10, 28, 28, 1))
    fig = plotting.show_images(images, labels=list(range(10)), ncols=4)
    assert len(fig.axes) == 12  # 3 rows of 4
    assert [ax.get_title() for ax in fig.axes[:3]] == ["0", "1", "2"]
    assert len(fig.axes[11].images) == 0  # the unused cells stay empty


def test_show_images_rejects_mismatched_labels_and_bad_shapes():
    with pytest.raises(ValueError, match="2 labels"):
        plotting.show_images(np.zeros((3, 4, 4)), labels=[1, 2])
    with pytest.raises(ValueError, match="shape"):
        plotting.show_images(np.zeros((4, 4)))


def test_confusion_matrix_counts_rows_as_true_classes():
    ax = plotting.plot_confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], class_names=["a", "b", "c"])
    np.testing.assert_array_equal(ax.confusion_matrix, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert [t.get_text() for t in ax.texts][:3] == ["1", "1", "0"]


def test_normalised_confusion_matrix_shows_fractions_per_true_class():
    ax = plotting.plot_confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], normalize=True)
    assert [t.get_text() for t in ax.texts] == ["0.50", "0.50", "0.00", "1.00"]


def test_plot_function_draws_function_and_derivative():
    ax = plotting.plot_function(np.tanh, lambda x: 1 - np.tanh(x) ** 2, xlim=(-2, 2), num=11)
    labels = [line.get_label() for line in ax.lines]
    assert labels[:2] == ["tanh", "tanh'"]
    np.testing.assert_allclose(ax.lines[1].get_ydata()[5], 1.0)


def test_diagram_draws_every_box_and_arrow_and_names_a_missing_box():
    ax = plotting.draw_diagram(
        {"x": {"xy": (0, 0), "kind": "input"},
         "f": {"xy": (2, 0), "text": "layer\n$W x + b$"},
         "y": {"xy": (4, 0), "kind": "output", "shape": "circle"}},
        [("x", "f", "input"), ("f", "y", None, {"dashed": True, "rad": 0.3})],
        title="one layer",
    )
    assert set(ax.diagram_boxes) == {"x", "f", "y"}
    texts = [t.get_text() for t in ax.texts]
    assert "layer\n$W x + b$" in texts and "input" in texts and "y" in texts
    assert ax.get_title() == "one layer"
    arrows = [p for p in ax.patches if type(p).__name__ == "FancyArrowPatch"]
    assert len(arrows) == 2 and arrows[1].get_linestyle() == "--"
    with pytest.raises(KeyError, match="names 'z', which is not a box"):
        plotting.draw_diagram({"x": {"xy": (0, 0)}}, [("x", "z")])
