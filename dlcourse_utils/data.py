"""Download, verify and load the book's data sets.

Every file the book uses is listed in :data:`DATASETS` with its SHA-256 hash.
:func:`fetch` finds a file in this order and never hands back an unverified one:

1. the per-user cache (``$DLCOURSE_CACHE``, default ``pooch.os_cache("dlcourse")``);
2. a local mirror folder named by ``$DLCOURSE_DATA_MIRROR`` (used in place, not copied),
   laid out like the cache: ``mnist/train-images-idx3-ubyte.gz``,
   ``tinyshakespeare/input.txt``, ``nltk_data/corpora/stopwords`` ...;
3. the original download URLs, tried in order, into the cache.

>>> from dlcourse_utils.data import load_mnist
>>> (x_train, y_train), (x_test, y_test) = load_mnist()
>>> x_train.shape, x_train.dtype
((60000, 28, 28), dtype('uint8'))

This module imports only NumPy at load time; ``pooch``, ``requests`` and ``nltk`` are
imported on first use.
"""
from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CACHE_ENV",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "MIRROR_ENV",
    "NLTK_CORPORA",
    "DataError",
    "RemoteFile",
    "cache_dir",
    "data_status",
    "ensure_nltk",
    "fetch",
    "fetch_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_movie_reviews",
    "load_tiny_shakespeare",
    "mirror_dir",
    "read_idx",
]

#: Environment variable naming a local folder laid out like the cache (an offline mirror).
MIRROR_ENV = "DLCOURSE_DATA_MIRROR"
#: Environment variable that overrides the per-user cache folder.
CACHE_ENV = "DLCOURSE_CACHE"

# A refused or unreachable host must fail fast (a learner offline should get the
# "set the mirror" message in seconds); a slow but live server may still stream.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 60.0

_SHA256_RE = re.compile(r"[0-9a-f]{64}")

# (images, labels): (N, 28, 28) and (N,) uint8 arrays.
Split = tuple[np.ndarray, np.ndarray]


class DataError(RuntimeError):
    """A data file is missing, cannot be downloaded, or does not match its hash."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: where it lives and what its bytes must hash to.

    Parameters
    ----------
    path : str
        Relative path inside the cache and the mirror, e.g.
        ``"mnist/train-images-idx3-ubyte.gz"``.
    sha256 : str
        Expected SHA-256 of the file, 64 lower-case hex digits.
    urls : tuple of str
        Download URLs, tried in order.
    """

    path: str
    sha256: str
    urls: tuple[str, ...]

    def __post_init__(self) -> None:
        parts = Path(self.path).parts
        if not parts or Path(self.path).is_absolute() or ".." in parts:
            raise ValueError(f"RemoteFile.path must be a relative path, got {self.path!r}")
        if not _SHA256_RE.fullmatch(self.sha256):
            raise ValueError(
                f"RemoteFile.sha256 must be 64 lower-case hex digits, got {self.sha256!r}"
            )
        # Accept a list for convenience but store a tuple so the object stays hashable.
        object.__setattr__(self, "urls", tuple(self.urls))

    @property
    def name(self) -> str:
        """The file name without its folder, e.g. ``"input.txt"``."""
        return Path(self.path).name


_MNIST_URLS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)


def _registry(
    folder: str, bases: tuple[str, ...], hashes: dict[str, str]
) -> dict[str, RemoteFile]:
    return {
        name: RemoteFile(f"{folder}/{name}", sha, tuple(base + name for base in bases))
        for name, sha in hashes.items()
    }


#: Every downloadable file, by data set and file name. Hashes are those of the
#: canonical files (the mirror's ``MANIFEST.tsv`` lists the same values).
DATASETS: dict[str, dict[str, RemoteFile]] = {
    "mnist": _registry(
        "mnist",
        _MNIST_URLS,
        {
            "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        },
    ),
    "fashion-mnist": _registry(
        "fashion-mnist",
        _FASHION_URLS,
        {
            "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        },
    ),
    "tinyshakespeare": {
        "input.txt": RemoteFile(
            "tinyshakespeare/input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            (
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/"
                "data/tinyshakespeare/input.txt",
            ),
        ),
    },
}

#: Fashion-MNIST class names; ``FASHION_MNIST_CLASSES[y]`` names label ``y``.
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: The NLTK corpora the book uses; ``ensure_nltk()`` with no argument makes all available.
NLTK_CORPORA: tuple[str, ...] = ("stopwords", "movie_reviews", "wordnet")


def _import_pooch() -> Any:
    """Import pooch without tqdm's "IProgress not found" warning.

    pooch imports ``tqdm.auto``, which in a Jupyter kernel without ipywidgets warns,
    with the path of the Python installation, into the notebook's output.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import pooch
    return pooch


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """Return the per-user cache folder (``$DLCOURSE_CACHE`` if set); it may not exist yet."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser().resolve()
    pooch = _import_pooch()

    return Path(pooch.os_cache("dlcourse")).expanduser().resolve()


def mirror_dir() -> Path | None:
    """Return the mirror folder named by ``$DLCOURSE_DATA_MIRROR``, or ``None`` if unset."""
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    return Path(value).expanduser().resolve()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- fetching


#: Why loading data is refused right now (set by :func:`loaders_blocked`), else None.
_BLOCKED_BECAUSE: str | None = None


@contextlib.contextmanager
def loaders_blocked(reason: str):
    """Refuse every data set load inside the block, with ``reason`` in the error.

    A budgeted training challenge runs the learner's ``train`` function inside this
    block: it trains on the examples the check hands it, and cannot load the test split.
    """
    global _BLOCKED_BECAUSE
    before, _BLOCKED_BECAUSE = _BLOCKED_BECAUSE, reason
    try:
        yield
    finally:
        _BLOCKED_BECAUSE = before


def _refuse_if_blocked(what: str) -> None:
    if _BLOCKED_BECAUSE is not None:
        raise DataError(f"loading {what} is not allowed here: {_BLOCKED_BECAUSE}")


def fetch(remote: RemoteFile, *, progress: bool = True) -> Path:
    """Return a local path to ``remote`` whose SHA-256 has been checked.

    Looks in the cache, then in the mirror (``$DLCOURSE_DATA_MIRROR``, used in place),
    then downloads each of ``remote.urls`` in turn into the cache.

    Parameters
    ----------
    remote : RemoteFile
        The file to get.
    progress : bool, default True
        Show a download progress bar on stderr (only on a terminal or in Jupyter,
        and never when ``TQDM_DISABLE`` is set).

    Returns
    -------
    pathlib.Path
        The verified file, inside the cache or inside the mirror.

    Raises
    ------
    DataError
        If the mirror copy has the wrong hash, or every URL fails.
    """
    _refuse_if_blocked(remote.path)
    cached = cache_dir() / remote.path
    if cached.is_file():
        actual = _sha256(cached)
        if actual == remote.sha256:
            return cached
        warnings.warn(
            f"Cached file {cached} is corrupt (sha256 {actual}, expected {remote.sha256}); "
            "deleting it and fetching it again.",
            stacklevel=2,
        )
        with contextlib.suppress(FileNotFoundError):
            cached.unlink()

    mirror = mirror_dir()
    if mirror is not None:
        mirrored = mirror / remote.path
        if mirrored.is_file():
            actual = _sha256(mirrored)
            if actual != remote.sha256:
                raise DataError(
                    f"Mirror file {mirrored} does not match its registered hash: "
                    f"expected sha256 {remote.sha256}, got {actual}. "
                    f"Replace it with an intact copy or unset {MIRROR_ENV}."
                )
            return mirrored

    return _download(remote, cache_dir(), mirror, progress=progress)


def _download(remote: RemoteFile, root: Path, mirror: Path | None, *, progress: bool) -> Path:
    pooch = _import_pooch()

    target = root / remote.path
    show_bar = _progress_allowed(progress)
    downloader = pooch.HTTPDownloader(
        progressbar=show_bar, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
    )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Cannot create the cache folder {root} ({exc}); set {CACHE_ENV} to a "
            f"writable folder, or set {MIRROR_ENV} to a folder that holds {remote.path}."
        ) from exc

    failures: list[str] = []
    logger = pooch.get_logger()
    old_level = logger.level
    logger.setLevel(logging.WARNING)  # its "Downloading ... to <temp path>" would mislead
    try:
        for url in remote.urls:
            # Download into a private staging folder and move the verified file into
            # place: an interrupted or wrong-hash download can leave nothing behind.
            staging = Path(tempfile.mkdtemp(prefix=".download-", dir=root))
            try:
                if show_bar:
                    print(f"Downloading {remote.path} from {url}", file=sys.stderr)
                pooch.retrieve(
                    url,
                    known_hash=f"sha256:{remote.sha256}",
                    fname=remote.name,
                    path=staging,
                    downloader=downloader,
                    progressbar=show_bar,
                )
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / remote.name, target)
                return target
            except Exception as exc:  # any failure: note it, try the next URL
                failures.append(f"  {url}: {_describe(exc)}")
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        logger.setLevel(old_level)

    if mirror is None:
        where = f"{MIRROR_ENV} is not set"
    else:
        where = f"{mirror / remote.path} does not exist"
    tried = "\n".join(failures) if failures else "  (no download URL registered)"
    raise DataError(
        f"Could not get {remote.path}: {where}, and every download failed:\n{tried}\n"
        f"Fix: set {MIRROR_ENV} to a folder that holds {remote.path}, "
        "or connect to the internet."
    )


def _progress_allowed(progress: bool) -> bool:
    if not progress:
        return False
    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return False
    stream = sys.stderr
    is_tty = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
    return is_tty or "ipykernel" in sys.modules


def _describe(exc: BaseException) -> str:
    """One line naming what went wrong, without urllib3's nested wrappers."""
    # requests wraps urllib3's MaxRetryError, whose ``reason`` is the real cause.
    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", None)
    shown = reason if isinstance(reason, BaseException) else exc
    text = " ".join(str(shown).split()) or repr(shown)
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(shown).__name__}: {text}"


def fetch_dataset(name: str, *, progress: bool = True) -> dict[str, Path]:
    """Fetch every file of one data set in :data:`DATASETS`.

    Parameters
    ----------
    name : str
        ``"mnist"``, ``"fashion-mnist"`` or ``"tinyshakespeare"``.
    progress : bool, default True
        Passed on to :func:`fetch`.

    Returns
    -------
    dict of str to pathlib.Path
        Verified local path of each file, keyed by file name.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return {key: fetch(remote, progress=progress) for key, remote in DATASETS[name].items()}


# --------------------------------------------------------------------------- IDX files

# IDX type byte -> big-endian NumPy dtype (http://yann.lecun.com/exdb/mnist/).
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not.

    Parameters
    ----------
    path : str or path-like
        The file; gzip is detected from its first bytes.

    Returns
    -------
    numpy.ndarray
        Array of the shape stored in the header, e.g. ``(N, 28, 28)`` for images
        or ``(N,)`` for labels, in native byte order (``uint8`` for MNIST).

    Raises
    ------
    DataError
        If the file is truncated, not gzip-decodable, or not an IDX file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"Cannot read IDX file {path}: {type(exc).__name__}: {exc}") from exc

    if len(raw) < 4:
        raise DataError(f"{path} is not an IDX file: only {len(raw)} bytes")
    zero1, zero2, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero1 != 0 or zero2 != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path} is not an IDX file: bad magic number {raw[:4].hex(' ')} "
            "(expected 00 00 <type 08/09/0b/0c/0d/0e> <number of dimensions>)"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"IDX file {path} is truncated inside its header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        problem = "truncated" if actual < expected else "longer than its header says"
        raise DataError(
            f"IDX file {path} is {problem}: header shape {shape} needs {expected} "
            f"bytes of data, found {actual}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a writable, native-order copy


# --------------------------------------------------------------------------- loaders


def _load_idx_pair(name: str, progress: bool) -> tuple[Split, Split]:
    files = fetch_dataset(name, progress=progress)
    splits = []
    for prefix in ("train", "t10k"):
        x = read_idx(files[f"{prefix}-images-idx3-ubyte.gz"])  # (N, 28, 28)
        y = read_idx(files[f"{prefix}-labels-idx1-ubyte.gz"])  # (N,)
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise DataError(f"{name} {prefix}: images {x.shape} do not match labels {y.shape}")
        splits.append((x, y))
    return splits[0], splits[1]


def load_mnist(*, progress: bool = True) -> tuple[Split, Split]:
    """Load MNIST exactly as ``keras.datasets.mnist.load_data()`` returns it.

    Parameters
    ----------
    progress : bool, default True
        Show a progress bar if a file has to be downloaded.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuple of numpy.ndarray
        ``uint8`` arrays of shapes ``(60000, 28, 28)``, ``(60000,)``,
        ``(10000, 28, 28)`` and ``(10000,)``; pixels in 0..255, labels in 0..9.
    """
    return _load_idx_pair("mnist", progress)


def load_fashion_mnist(*, progress: bool = True) -> tuple[Split, Split]:
    """Load Fashion-MNIST exactly as ``keras.datasets.fashion_mnist.load_data()`` does.

    Parameters
    ----------
    progress : bool, default True
        Show a progress bar if a file has to be downloaded.

    Returns
    -------
    (x_train, y_train), (x_test, y_test) : tuple of tuple of numpy.ndarray
        ``uint8`` arrays of shapes ``(60000, 28, 28)``, ``(60000,)``,
        ``(10000, 28, 28)`` and ``(10000,)``; label ``y`` is named
        ``FASHION_MNIST_CLASSES[y]``.
    """
    return _load_idx_pair("fashion-mnist", progress)


def load_tiny_shakespeare(*, progress: bool = True) -> str:
    """Load the tiny-shakespeare corpus (Karpathy's char-rnn) as one string.

    Parameters
    ----------
    progress : bool, default True
        Show a progress bar if the file has to be downloaded.

    Returns
    -------
    str
        The whole text, 1,115,394 characters.
    """
    path = fetch(DATASETS["tinyshakespeare"]["input.txt"], progress=progress)
    return path.read_text(encoding="utf-8")


def load_movie_reviews(
    *, test_fraction: float = 0.25, seed: int = 0
) -> tuple[tuple[list[str], np.ndarray], tuple[list[str], np.ndarray]]:
    """Load NLTK's movie-review polarity corpus (2,000 reviews) with a fixed split.

    The split is stratified and seeded, so every chapter that compares sentiment
    models (bag of words, LSTM, a pretrained encoder) uses the same held-out reviews.

    Parameters
    ----------
    test_fraction : float, default 0.25
        Share of each class held out for testing.
    seed : int, default 0
        Seed of the shuffle that picks the test reviews.

    Returns
    -------
    (texts_train, y_train), (texts_test, y_test) : tuple of tuple
        Lists of raw review texts and ``int64`` label arrays of the same length,
        ``1`` for a positive review and ``0`` for a negative one. With the
        defaults: 1,500 training and 500 test reviews, half of each positive.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie between 0 and 1, got {test_fraction}")
    ensure_nltk("movie_reviews")
    from nltk.corpus import movie_reviews

    rng = np.random.default_rng(seed)
    train: list[tuple[str, int]] = []
    test: list[tuple[str, int]] = []
    for label, category in ((0, "neg"), (1, "pos")):
        fileids = sorted(movie_reviews.fileids(category))
        order = rng.permutation(len(fileids))
        num_test = round(test_fraction * len(fileids))
        for rank, index in enumerate(order):
            (test if rank < num_test else train).append((movie_reviews.raw(fileids[index]), label))
    # Interleave the classes reproducibly so neither split is sorted by label.
    train = [train[i] for i in rng.permutation(len(train))]
    test = [test[i] for i in rng.permutation(len(test))]
    return (
        ([text for text, _ in train], np.array([y for _, y in train], dtype=np.int64)),
        ([text for text, _ in test], np.array([y for _, y in test], dtype=np.int64)),
    )


# --------------------------------------------------------------------------- NLTK


def _split_nltk_resource(resource: str) -> tuple[str, str]:
    """``"stopwords"`` -> ``("corpora", "stopwords")``; ``"tokenizers/punkt_tab"`` kept."""
    resource = resource.strip("/")
    category, _, name = resource.rpartition("/")
    name = name.removesuffix(".zip")
    return (category or "corpora"), name


def _nltk_found(category: str, name: str) -> bool:
    import nltk

    # A zipped corpus is found as "corpora/wordnet.zip/wordnet/", an unzipped one as
    # "corpora/wordnet"; nltk's corpus loaders accept either.
    for candidate in (f"{category}/{name}", f"{category}/{name}.zip/{name}/"):
        try:
            nltk.data.find(candidate)
        except LookupError:
            continue
        return True
    return False


def _prepend_nltk_path(folder: Path) -> None:
    import nltk

    entry = str(folder)
    if entry not in nltk.data.path:
        nltk.data.path.insert(0, entry)


def ensure_nltk(*resources: str) -> None:
    """Make NLTK resources loadable, from the mirror if possible, else by download.

    Parameters
    ----------
    *resources : str
        Corpus names such as ``"stopwords"``, ``"movie_reviews"``, ``"wordnet"``, or
        ``"category/name"`` for other kinds (``"tokenizers/punkt_tab"``).
        With none given, the book's corpora :data:`NLTK_CORPORA`.

    Raises
    ------
    DataError
        If a resource is in neither the mirror nor any NLTK data folder and
        cannot be downloaded.

    Examples
    --------
    >>> ensure_nltk("stopwords")
    >>> from nltk.corpus import stopwords
    >>> "the" in stopwords.words("english")
    True
    """
    _refuse_if_blocked("NLTK data")
    mirror = mirror_dir()
    local = cache_dir() / "nltk_data"
    for resource in resources or NLTK_CORPORA:
        category, name = _split_nltk_resource(resource)
        if mirror is not None:
            base = mirror / "nltk_data" / category
            if (base / name).is_dir() or (base / f"{name}.zip").is_file():
                _prepend_nltk_path(mirror / "nltk_data")
                if _nltk_found(category, name):
                    continue
        if local.is_dir():
            _prepend_nltk_path(local)
        if _nltk_found(category, name):  # already installed (cache, ~/nltk_data ...)
            continue

        report = _nltk_download(name, local)
        if _nltk_found(category, name):
            continue
        in_mirror = (
            f"{MIRROR_ENV} is not set"
            if mirror is None
            else f"{mirror / 'nltk_data' / category} has neither {name}/ nor {name}.zip"
        )
        raise DataError(
            f"NLTK resource {category}/{name} is not available: {in_mirror}, "
            f"and nltk.download({name!r}) failed: {report}\n"
            f"Fix: set {MIRROR_ENV} to a folder that holds nltk_data/{category}/{name} "
            f"(or {name}.zip), or connect to the internet."
        )


def _nltk_download(name: str, download_dir: Path) -> str:
    """Run ``nltk.download`` quietly; return its chatter condensed to one line."""
    import nltk

    download_dir.mkdir(parents=True, exist_ok=True)
    chatter = io.StringIO()
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(contextlib.redirect_stdout(chatter))
            stack.enter_context(contextlib.redirect_stderr(chatter))
            stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("ignore")
            ok = nltk.download(
                name, download_dir=str(download_dir), quiet=True, print_error_to=chatter
            )
    except Exception as exc:  # nltk raises on some network errors, returns False on others
        return _describe(exc)
    finally:
        _prepend_nltk_path(download_dir)
    text = " ".join(chatter.getvalue().replace("[nltk_data]", " ").split())
    return text or ("no error reported" if ok else "nltk.download returned False")


# --------------------------------------------------------------------------- status


def data_status(*, verify: bool = True) -> list[dict[str, Any]]:
    """Say where each registered file and NLTK corpus would be loaded from.

    Parameters
    ----------
    verify : bool, default True
        Check SHA-256 hashes of registered files (reads about 45 MB).

    Returns
    -------
    list of dict
        One dict per file with keys ``"dataset"``, ``"path"`` (relative),
        ``"status"`` (``"cache"``, ``"mirror"``, ``"corrupt"`` or ``"missing"``) and
        ``"location"`` (absolute path as ``str``, or ``None`` when missing).
    """
    cache = cache_dir()
    mirror = mirror_dir()
    rows: list[dict[str, Any]] = []
    for dataset, files in DATASETS.items():
        for remote in files.values():
            status, location = "missing", None
            candidates = [("cache", cache / remote.path)]
            if mirror is not None:
                candidates.append(("mirror", mirror / remote.path))
            for where, candidate in candidates:
                if not candidate.is_file():
                    continue
                if verify and _sha256(candidate) != remote.sha256:
                    status, location = "corrupt", str(candidate)
                    continue  # fetch() would skip a corrupt cache copy too
                status, location = where, str(candidate)
                break
            rows.append(
                {"dataset": dataset, "path": remote.path, "status": status, "location": location}
            )
    for name in NLTK_CORPORA:
        status, location = "missing", None
        candidates = [("cache", cache / "nltk_data" / "corpora")]
        if mirror is not None:
            candidates.insert(0, ("mirror", mirror / "nltk_data" / "corpora"))
        for where, base in candidates:
            found = [p for p in (base / name, base / f"{name}.zip") if p.exists()]
            if found:
                status, location = where, str(found[0])
                break
        rows.append(
            {
                "dataset": "nltk",
                "path": f"nltk_data/corpora/{name}",
                "status": status,
                "location": location,
            }
        )
    return rows
