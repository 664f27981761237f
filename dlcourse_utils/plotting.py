"""Plots the book draws again and again: learning curves, decision boundaries,
image grids, confusion matrices, functions with their derivatives, and
block diagrams (boxes joined by arrows) for architectures and systems.

Every function takes NumPy arrays (or plain Python containers), draws on the
``ax`` it is given or on a new figure, and returns what it drew on, so a
notebook can add titles or save the figure. Nothing here imports a framework:
a Keras ``History`` is read through its ``.history`` attribute.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "plot_learning_curves",
    "plot_decision_boundary",
    "show_images",
    "plot_confusion_matrix",
    "plot_function",
    "draw_diagram",
]

#: Fill colours for diagram boxes, by role; any Matplotlib colour works too.
DIAGRAM_COLOURS = {
    "input": "#dbeafe",     # data coming in
    "layer": "#fef3c7",     # a learned transformation
    "op": "#f3f4f6",        # a fixed operation (add, softmax, sample, ...)
    "output": "#dcfce7",    # what comes out
    "loss": "#fee2e2",      # a loss or a signal used for training
    "store": "#ede9fe",     # a store, a service or a monitor
}


def _axes(ax: Any = None, figsize: tuple[float, float] = (5.0, 3.5)) -> Any:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_learning_curves(
    history: Any,
    metrics: Sequence[str] | None = None,
    *,
    title: str | None = None,
    logy: bool = False,
) -> Any:
    """Plot training (and validation) curves, one panel per metric.

    Parameters
    ----------
    history : keras.callbacks.History or Mapping[str, Sequence[float]]
        A Keras ``History`` (its ``.history`` dict is used) or a dict such as
        ``{"loss": [...], "val_loss": [...], "accuracy": [...]}``.
    metrics : sequence of str, optional
        Base names to plot (default: every key that does not start with ``val_``).
        ``val_<name>`` is drawn in the same panel when present.
    title : str, optional
        Figure title.
    logy : bool
        Use a logarithmic y axis (useful for losses that fall over decades).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    curves: Mapping[str, Sequence[float]] = getattr(history, "history", history)
    if not isinstance(curves, Mapping) or not curves:
        raise TypeError("history must be a Keras History or a non-empty dict of name -> list of values")
    names = list(metrics) if metrics else [k for k in curves if not k.startswith("val_")]
    missing = [n for n in names if n not in curves]
    if missing:
        raise KeyError(f"no curve named {missing[0]!r}; available: {sorted(curves)}")
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        values = np.asarray(curves[name], dtype=float)
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, values, marker="o", markersize=3, label=f"train {name}")
        if f"val_{name}" in curves:
            val = np.asarray(curves[f"val_{name}"], dtype=float)
            ax.plot(np.arange(1, len(val) + 1), val, marker="s", markersize=3, label=f"validation {name}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        if logy:
            ax.set_yscale("log")
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_decision_boundary(
    predict: Callable[[np.ndarray], Any],
    X: np.ndarray,
    y: np.ndarray,
    *,
    ax: Any = None,
    resolution: int = 200,
    margin: float = 0.5,
    title: str | None = None,
) -> Any:
    """Shade the regions a 2-D classifier assigns to each class, with the data on top.

    Parameters
    ----------
    predict : callable
        Maps an array of points, shape ``(N, 2)``, to class labels ``(N,)``,
        to probabilities of class 1 ``(N,)`` or ``(N, 1)``, or to class
        probabilities ``(N, K)``.
    X : np.ndarray, shape (N, 2)
        The data points.
    y : np.ndarray, shape (N,)
        Their integer labels.
    ax : matplotlib Axes, optional
        Where to draw (a new figure if omitted).
    resolution : int
        Grid points per axis.
    margin : float
        Extra space around the data.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y).ravel()
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (N, 2), got {X.shape}")
    ax = _axes(ax, (4.5, 4.0))
    x0 = np.linspace(X[:, 0].min() - margin, X[:, 0].max() + margin, resolution)
    x1 = np.linspace(X[:, 1].min() - margin, X[:, 1].max() + margin, resolution)
    g0, g1 = np.meshgrid(x0, x1)
    grid = np.column_stack([g0.ravel(), g1.ravel()])  # (resolution**2, 2)
    out = np.asarray(predict(grid), dtype=float)
    if out.ndim == 2 and out.shape[1] > 1:
        labels = out.argmax(axis=1)
    else:
        out = out.reshape(-1)
        is_labels = np.all(np.equal(np.mod(out, 1), 0))
        labels = out if is_labels else (out >= 0.5).astype(int)
    ax.contourf(g0, g1, labels.reshape(g0.shape), alpha=0.25, cmap="coolwarm", levels=np.unique(y).size)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=18, linewidths=0.5)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return ax


def show_images(
    images: np.ndarray,
    labels: Sequence[Any] | None = None,
    *,
    ncols: int = 8,
    cmap: str = "gray",
    title: str | None = None,
    size: float = 1.3,
) -> Any:
    """Show images in a grid, optionally with a label above each.

    Parameters
    ----------
    images : np.ndarray, shape (N, H, W) or (N, H, W, C)
        Pixel values, any numeric range (each image is scaled for display).
    labels : sequence, optional
        One label per image (numbers or strings).
    ncols : int
        Images per row.
    cmap : str
        Colour map for single-channel images.
    title : str, optional
        Figure title.
    size : float
        Inches per image.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    n = len(images)
    if labels is not None and len(labels) != n:
        raise ValueError(f"got {n} images but {len(labels)} labels")
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if title else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap if images.ndim == 3 else None)
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    normalize: bool = False,
    ax: Any = None,
    title: str | None = None,
) -> Any:
    """Draw the confusion matrix of integer labels: rows are true, columns predicted.

    Parameters
    ----------
    y_true, y_pred : np.ndarray, shape (N,)
        True and predicted class labels in ``0 .. K-1``.
    class_names : sequence of str, optional
        Tick labels (default: the numbers).
    normalize : bool
        Show each row as fractions of that true class.
    ax : matplotlib Axes, optional
        Where to draw.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes
        With the matrix itself stored as ``ax.confusion_matrix``.
    """
    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    k = int(max(y_true.max(), y_pred.max()) + 1) if class_names is None else len(class_names)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y_true, y_pred), 1)
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    ax = _axes(ax, (0.5 * k + 2.5, 0.5 * k + 2.0))
    ax.imshow(shown, cmap="Blues")
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right" if max(map(len, names)) > 2 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = shown.max() / 2
    for i in range(k):
        for j in range(k):
            text = f"{shown[i, j]:.2f}" if normalize else str(cm[i, j])
            ax.text(j, i, text, ha="center", va="center", fontsize=8,
                    color="white" if shown[i, j] > threshold else "black")
    if title:
        ax.set_title(title)
    ax.confusion_matrix = cm
    return ax


def plot_function(
    f: Callable[[np.ndarray], np.ndarray],
    df: Callable[[np.ndarray], np.ndarray] | None = None,
    *,
    xlim: tuple[float, float] = (-5.0, 5.0),
    num: int = 400,
    ax: Any = None,
    label: str | None = None,
) -> Any:
    """Plot ``f`` (solid) and, when given, its derivative ``df`` (dashed) on ``xlim``.

    Parameters
    ----------
    f, df : callable
        Vectorised functions of a 1-D array.
    xlim : tuple of float
        The x range.
    num : int
        Number of sample points.
    ax : matplotlib Axes, optional
        Where to draw.
    label : str, optional
        Name used in the legend (default: ``f.__name__``).

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    x = np.linspace(*xlim, num)
    name = label or getattr(f, "__name__", "f")
    ax.plot(x, f(x), label=name)
    if df is not None:
        ax.plot(x, df(x), linestyle="--", label=f"{name}'")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.axvline(0, color="grey", linewidth=0.6)
    ax.set_xlabel("x")
    ax.legend()
    return ax


def draw_diagram(
    boxes: Mapping[str, Mapping[str, Any]],
    arrows: Sequence[Sequence[Any]] = (),
    *,
    ax: Any = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.0, 3.5),
    fontsize: float = 9.0,
) -> Any:
    """Draw a block diagram: labelled boxes at given positions joined by arrows.

    One helper for every architecture and system picture in the book, so they share
    a style: the attention block, an LSTM cell, a VAE, the GAN loop, a deployment.

    Parameters
    ----------
    boxes : mapping of name -> dict
        Each box: ``xy`` (centre, in data units, the canvas spans what the boxes
        need), ``text`` (label, may contain newlines and ``$math$``; default the
        name), optional ``kind`` (a key of :data:`DIAGRAM_COLOURS`, default
        ``"layer"``), ``color`` (overrides ``kind``), ``size`` (width, height;
        default (1.6, 0.6)) and ``shape`` (``"box"`` or ``"circle"``).
    arrows : sequence of (source, target) or (source, target, label) or
        (source, target, label, options)
        ``options`` is a dict with ``style`` (``"-|>"`` default, ``"<|-|>"``,
        ``"-"``), ``rad`` (curvature, 0 = straight), ``dashed`` (bool) and
        ``color``.
    ax : matplotlib Axes, optional
        Where to draw (a new figure otherwise).
    title : str, optional
        Axes title.
    figsize : tuple of float
        Size of a new figure, in inches.
    fontsize : float
        Size of the box labels.

    Returns
    -------
    matplotlib.axes.Axes
        With ``ax.diagram_boxes`` (name -> patch) for tests and annotations.

    Raises
    ------
    KeyError
        If an arrow names a box that is not in ``boxes``.
    """
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    ax = _axes(ax, figsize)
    patches: dict[str, Any] = {}
    xs: list[float] = []
    ys: list[float] = []
    for name, spec in boxes.items():
        x, y = spec["xy"]
        w, h = spec.get("size", (1.6, 0.6))
        colour = spec.get("color", DIAGRAM_COLOURS.get(spec.get("kind", "layer"), spec.get("kind")))
        if spec.get("shape", "box") == "circle":
            patch = Circle((x, y), radius=h / 2, facecolor=colour, edgecolor="#374151", linewidth=1.0)
            w = h
        else:
            patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                   facecolor=colour, edgecolor="#374151", linewidth=1.0)
        ax.add_patch(patch)
        ax.text(x, y, spec.get("text", name), ha="center", va="center", fontsize=fontsize)
        patches[name] = patch
        xs += [x - w / 2, x + w / 2]
        ys += [y - h / 2, y + h / 2]
    for arrow in arrows:
        source, target, *rest = arrow
        label = rest[0] if rest else None
        options = rest[1] if len(rest) > 1 else {}
        for end in (source, target):
            if end not in patches:
                raise KeyError(f"arrow {source!r} -> {target!r} names {end!r}, which is not a box "
                               f"(boxes: {', '.join(patches)})")
        rad = options.get("rad", 0.0)
        line = FancyArrowPatch(
            posA=_centre(patches[source]), posB=_centre(patches[target]),
            patchA=patches[source], patchB=patches[target],
            arrowstyle=options.get("style", "-|>"), mutation_scale=12,
            connectionstyle=f"arc3,rad={rad}", color=options.get("color", "#374151"),
            linestyle="--" if options.get("dashed") else "-", linewidth=1.1,
        )
        ax.add_patch(line)
        if label:
            (x0, y0), (x1, y1) = _centre(patches[source]), _centre(patches[target])
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            # Put the label on the curve: arc3 bends towards the midpoint + rad * (dy, -dx).
            mx, my = mx + rad * (y1 - y0) / 2, my - rad * (x1 - x0) / 2
            ax.text(mx, my, label, ha="center", va="center", fontsize=fontsize - 1, color="#1f2937",
                    bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor="none", alpha=0.85))
    if xs:
        pad = 0.3
        ax.set_xlim(min(xs) - pad, max(xs) + pad)
        ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    ax.diagram_boxes = patches
    return ax


def _centre(patch: Any) -> tuple[float, float]:
    if hasattr(patch, "center"):
        return tuple(patch.center)
    return (patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2)
