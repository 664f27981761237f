"""Tests for dlcourse_utils.data: caching, mirror, downloads, IDX parsing, real data.

Downloads are exercised against a real HTTP server on 127.0.0.1; no test contacts any
other address. Tests on the real data sets need ``DLCOURSE_DATA_MIRROR`` and skip without it.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dlcourse_utils import data
from dlcourse_utils.data import DataError, RemoteFile

# Read before any fixture touches the environment: the real mirror, if the run has one.
REAL_MIRROR = os.environ.get(data.MIRROR_ENV)

needs_real_mirror = pytest.mark.skipif(
    not REAL_MIRROR,
    reason=f"{data.MIRROR_ENV} is not set, so the real data files are not available offline",
)


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def files_under(folder: Path) -> list[Path]:
    """Every file (not folder) below ``folder``, hidden and temporary ones included."""
    if not folder.exists():
        return []
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A private cache, no mirror, no proxy (so 127.0.0.1 is reached directly), no bars."""
    cache = tmp_path / "cache"
    monkeypatch.setenv(data.CACHE_ENV, str(cache))
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    return cache


@pytest.fixture
def cache(isolated_env: Path) -> Path:
    return isolated_env


class LocalServer:
    """Serves ``root`` over HTTP on 127.0.0.1 and records every requested path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def do_HEAD(self) -> None:
                server.requests.append(self.path)
                super().do_HEAD()

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def publish(self, name: str, content: bytes) -> str:
        (self.root / name).write_bytes(content)
        return self.url(name)


@pytest.fixture
def server(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()
    srv = LocalServer(root)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


PAYLOAD = b"hello dlcourse\n" * 1000


def served_hello(server: LocalServer) -> RemoteFile:
    """Publish PAYLOAD on the server and describe it as ``toy/hello.txt``."""
    return RemoteFile("toy/hello.txt", sha256_of(PAYLOAD), (server.publish("hello.txt", PAYLOAD),))


# --------------------------------------------------------------------------- downloads


def test_download_verifies_hash_stores_in_cache_and_second_fetch_uses_cache(server, cache):
    remote = served_hello(server)

    path = data.fetch(remote, progress=False)

    assert path == cache / "toy" / "hello.txt"
    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["/hello.txt"]
    assert files_under(cache) == [path]  # no staging or temp file left next to it

    again = data.fetch(remote, progress=False)
    assert again == path
    assert server.requests == ["/hello.txt"], "a cached, intact file must not be downloaded again"


def test_wrong_checksum_raises_and_leaves_nothing_in_cache(server, cache):
    url = server.publish("hello.txt", PAYLOAD)
    wrong = sha256_of(b"something else")
    remote = RemoteFile("toy/hello.txt", wrong, (url,))

    with pytest.raises(DataError) as info:
        data.fetch(remote, progress=False)

    message = str(info.value)
    assert "toy/hello.txt" in message
    assert wrong in message and sha256_of(PAYLOAD) in message  # pooch's mismatch, one line
    assert server.requests == ["/hello.txt"]
    assert files_under(cache) == []
    assert not (cache / "toy").exists()
    assert [p.name for p in cache.iterdir()] == []  # not even an empty staging folder


def test_next_url_is_tried_when_the_first_one_fails(server, cache):
    good = server.publish("mirror2.txt", PAYLOAD)
    remote = RemoteFile("toy/hello.txt", sha256_of(PAYLOAD), (server.url("missing.txt"), good))

    path = data.fetch(remote, progress=False)

    assert path.read_bytes() == PAYLOAD
    assert server.requests == ["/missing.txt", "/mirror2.txt"]


def test_all_urls_failing_reports_each_url_on_its_own_line(server):
    urls = (server.url("gone1.txt"), server.url("gone2.txt"))
    remote = RemoteFile("toy/hello.txt", sha256_of(PAYLOAD), urls)

    with pytest.raises(DataError) as info:
        data.fetch(remote, progress=False)

    lines = str(info.value).splitlines()
    for url in urls:
        matching = [line for line in lines if url in line]
        assert len(matching) == 1 and "404" in matching[0]


def test_corrupt_cache_file_is_warned_about_and_replaced_by_fresh_download(server, cache):
    remote = served_hello(server)
    path = data.fetch(remote, progress=False)
    damaged = bytearray(PAYLOAD)
    damaged[10] ^= 0xFF
    path.write_bytes(bytes(damaged))

    with pytest.warns(UserWarning, match="corrupt"):
        again = data.fetch(remote, progress=False)

    assert again == path
    assert sha256_of(again.read_bytes()) == remote.sha256
    assert server.requests == ["/hello.txt", "/hello.txt"]
    assert files_under(cache) == [path]


def test_unreachable_host_without_mirror_fails_fast_and_names_the_mirror_variable(
    closed_port, cache
):
    urls = (f"http://127.0.0.1:{closed_port}/a.gz", f"http://127.0.0.1:{closed_port}/b.gz")
    remote = RemoteFile("toy/a.gz", sha256_of(PAYLOAD), urls)

    start = time.monotonic()
    with pytest.raises(DataError) as info:
        data.fetch(remote, progress=False)
    elapsed = time.monotonic() - start

    assert elapsed < 10, f"an unreachable host took {elapsed:.1f} s to fail"
    message = str(info.value)
    assert data.MIRROR_ENV in message
    assert "toy/a.gz" in message and "connect to the internet" in message
    assert all(url in message for url in urls)
    assert files_under(cache) == []


# --------------------------------------------------------------------------- mirror


def test_mirror_file_with_right_hash_is_returned_in_place_and_not_copied(
    server, cache, tmp_path, monkeypatch
):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "hello.txt").write_bytes(PAYLOAD)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    remote = served_hello(server)

    path = data.fetch(remote, progress=False)

    assert path == mirror / "toy" / "hello.txt"
    assert server.requests == []
    assert files_under(cache) == []


def test_relative_mirror_path_is_resolved_from_the_working_directory(tmp_path, monkeypatch, cache):
    mirror = tmp_path / "shared" / "data"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "hello.txt").write_bytes(PAYLOAD)
    workdir = tmp_path / "main"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv(data.MIRROR_ENV, "../shared/data")  # how CI sets it
    remote = RemoteFile("toy/hello.txt", sha256_of(PAYLOAD), ())

    path = data.fetch(remote, progress=False)

    assert path.is_absolute()
    assert path.read_bytes() == PAYLOAD
    assert path.resolve() == (mirror / "toy" / "hello.txt").resolve()


def test_mirror_file_with_wrong_hash_raises_naming_file_and_both_hashes(
    server, cache, tmp_path, monkeypatch
):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    bad = b"tampered" + PAYLOAD
    (mirror / "toy" / "hello.txt").write_bytes(bad)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    remote = served_hello(server)

    with pytest.raises(DataError) as info:
        data.fetch(remote, progress=False)

    message = str(info.value)
    assert str(mirror / "toy" / "hello.txt") in message
    assert remote.sha256 in message and sha256_of(bad) in message
    assert server.requests == [], "a bad mirror file must be reported, not papered over"
    assert files_under(cache) == []


def test_mirror_without_the_file_falls_back_to_download(server, cache, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    remote = served_hello(server)

    path = data.fetch(remote, progress=False)

    assert path == cache / "toy" / "hello.txt"
    assert server.requests == ["/hello.txt"]
    assert files_under(mirror) == []


def test_cached_copy_is_preferred_over_the_mirror(server, cache, tmp_path, monkeypatch):
    remote = served_hello(server)
    cached = data.fetch(remote, progress=False)
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "hello.txt").write_bytes(PAYLOAD)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))

    assert data.fetch(remote, progress=False) == cached


def test_fetch_dataset_returns_every_file_by_name(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    files = {"a.bin": b"first", "b.bin": b"second"}
    for name, content in files.items():
        (mirror / "toy" / name).write_bytes(content)
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))
    monkeypatch.setitem(
        data.DATASETS,
        "toy",
        {name: RemoteFile(f"toy/{name}", sha256_of(c), ()) for name, c in files.items()},
    )

    paths = data.fetch_dataset("toy", progress=False)

    assert {name: p.read_bytes() for name, p in paths.items()} == files
    with pytest.raises(ValueError, match="mnist"):
        data.fetch_dataset("no-such-dataset")


def test_remote_file_rejects_malformed_hash_and_paths_outside_the_cache():
    good = "0" * 64
    RemoteFile("ok/file.bin", good, ())  # accepted
    with pytest.raises(ValueError, match="sha256"):
        RemoteFile("ok/file.bin", "abc", ())
    with pytest.raises(ValueError, match="sha256"):
        RemoteFile("ok/file.bin", "A" * 64, ())
    with pytest.raises(ValueError, match="relative"):
        RemoteFile("/etc/passwd", good, ())
    with pytest.raises(ValueError, match="relative"):
        RemoteFile("../outside.bin", good, ())
    assert RemoteFile("x/y.bin", good, ["u"]).urls == ("u",)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- data_status


def test_data_status_reports_cache_mirror_corrupt_and_missing(tmp_path, monkeypatch, cache):
    mirror = tmp_path / "mirror"
    contents = {name: name.encode() * 10 for name in ("cached", "mirrored", "broken", "absent")}
    monkeypatch.setitem(
        data.DATASETS,
        "toy",
        {n: RemoteFile(f"toy/{n}.bin", sha256_of(c), ()) for n, c in contents.items()},
    )
    (cache / "toy").mkdir(parents=True)
    (mirror / "toy").mkdir(parents=True)
    (cache / "toy" / "cached.bin").write_bytes(contents["cached"])
    (mirror / "toy" / "mirrored.bin").write_bytes(contents["mirrored"])
    (mirror / "toy" / "broken.bin").write_bytes(b"not the right bytes")
    monkeypatch.setenv(data.MIRROR_ENV, str(mirror))

    rows = {row["path"]: row for row in data.data_status() if row["dataset"] == "toy"}

    assert rows["toy/cached.bin"]["status"] == "cache"
    assert rows["toy/cached.bin"]["location"] == str(cache / "toy" / "cached.bin")
    assert rows["toy/mirrored.bin"]["status"] == "mirror"
    assert rows["toy/broken.bin"]["status"] == "corrupt"
    assert rows["toy/absent.bin"] == {
        "dataset": "toy", "path": "toy/absent.bin", "status": "missing", "location": None
    }
    unverified = {r["path"]: r["status"] for r in data.data_status(verify=False)}
    assert unverified["toy/broken.bin"] == "mirror"
    assert {r["path"] for r in data.data_status() if r["dataset"] == "nltk"} == {
        f"nltk_data/corpora/{name}" for name in data.NLTK_CORPORA
    }


# --------------------------------------------------------------------------- read_idx


def idx_bytes(array: np.ndarray, type_code: int) -> bytes:
    header = bytes([0, 0, type_code, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


IMAGES = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gzip"])
def test_read_idx_round_trips_a_small_uint8_file(tmp_path, compressed):
    content = idx_bytes(IMAGES, 0x08)
    path = tmp_path / ("images.idx.gz" if compressed else "images.idx")
    path.write_bytes(gzip.compress(content) if compressed else content)

    array = data.read_idx(path)

    assert array.dtype == np.uint8
    assert array.shape == (2, 3, 4)
    np.testing.assert_array_equal(array, IMAGES)
    array[0, 0, 0] = 7  # writable, like keras' arrays


def test_read_idx_detects_gzip_by_content_and_reads_big_endian_types(tmp_path):
    values = np.array([[-1, 2, 300_000], [4, -5, 6]], dtype=np.int32)
    path = tmp_path / "labels.idx"  # no .gz suffix, yet gzip-compressed
    path.write_bytes(gzip.compress(idx_bytes(values, 0x0C)))

    array = data.read_idx(path)

    assert array.dtype == np.dtype("int32") and array.dtype.isnative
    np.testing.assert_array_equal(array, values)


def test_read_idx_rejects_truncated_payload(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(idx_bytes(IMAGES, 0x08)[:-5])

    with pytest.raises(DataError, match="truncated") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_truncated_gzip_stream(tmp_path):
    compressed = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8), 0x08))
    path = tmp_path / "cut.idx.gz"
    path.write_bytes(compressed[: len(compressed) // 2])

    with pytest.raises(DataError) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_bad_magic_number(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x01" + (3).to_bytes(4, "big") + b"abc")

    with pytest.raises(DataError, match="magic") as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_rejects_unknown_type_code_and_trailing_bytes(tmp_path):
    unknown = tmp_path / "unknown.idx"
    unknown.write_bytes(b"\x00\x00\x42\x01" + (1).to_bytes(4, "big") + b"x")
    with pytest.raises(DataError, match="magic"):
        data.read_idx(unknown)

    longer = tmp_path / "longer.idx"
    longer.write_bytes(idx_bytes(IMAGES, 0x08) + b"extra")
    with pytest.raises(DataError, match="longer"):
        data.read_idx(longer)


def test_read_idx_rejects_header_cut_short(tmp_path):
    path = tmp_path / "header.idx"
    path.write_bytes(b"\x00\x00\x08\x03" + (2).to_bytes(4, "big"))
    with pytest.raises(DataError, match="header"):
        data.read_idx(path)


# --------------------------------------------------------------------------- NLTK (offline)


@pytest.fixture
def nltk_path(monkeypatch):
    """Give each test its own copy of ``nltk.data.path`` so prepended folders do not leak."""
    nltk = pytest.importorskip("nltk")
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    return nltk


def forbid_download(monkeypatch, nltk) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("nltk.download must not run when the mirror has the corpus")

    monkeypatch.setattr(nltk, "download", fail)


def test_ensure_nltk_uses_mirror_folder_and_zip_and_adds_path_once(
    nltk_path, tmp_path, monkeypatch
):
    nltk = nltk_path
    corpora = tmp_path / "mirror" / "nltk_data" / "corpora"
    (corpora / "toyfolder").mkdir(parents=True)
    (corpora / "toyfolder" / "README").write_text("folder corpus")
    with zipfile.ZipFile(corpora / "toyzip.zip", "w") as archive:
        archive.writestr("toyzip/README", "zipped corpus")
    monkeypatch.setenv(data.MIRROR_ENV, str(tmp_path / "mirror"))
    forbid_download(monkeypatch, nltk)

    data.ensure_nltk("toyfolder", "toyzip")
    data.ensure_nltk("toyfolder")

    entry = str(tmp_path / "mirror" / "nltk_data")
    assert nltk.data.path[0] == entry
    assert nltk.data.path.count(entry) == 1
    with nltk.data.find("corpora/toyfolder/README").open() as f:
        assert f.read() == b"folder corpus"
    with nltk.data.find("corpora/toyzip.zip/toyzip/README").open() as f:
        assert f.read() == b"zipped corpus"


def test_ensure_nltk_without_mirror_downloads_into_cache_then_raises_naming_mirror_variable(
    nltk_path, cache, monkeypatch
):
    nltk = nltk_path
    calls = []

    def offline_download(name, download_dir=None, quiet=False, print_error_to=None, **kwargs):
        calls.append((name, download_dir))
        print("[nltk_data] Error loading", name, ": <urlopen error offline>", file=print_error_to)
        return False

    monkeypatch.setattr(nltk, "download", offline_download)

    with pytest.raises(DataError) as info:
        data.ensure_nltk("dlcourse_no_such_corpus")

    assert calls == [("dlcourse_no_such_corpus", str(cache / "nltk_data"))]
    message = str(info.value)
    assert data.MIRROR_ENV in message
    assert "nltk_data/corpora/dlcourse_no_such_corpus" in message
    assert "urlopen error offline" in message
    assert str(cache / "nltk_data") in nltk.data.path


def test_ensure_nltk_finds_a_corpus_downloaded_into_the_cache(nltk_path, cache, monkeypatch):
    nltk = nltk_path

    def fake_download(name, download_dir=None, **kwargs):
        target = Path(download_dir) / "corpora" / name
        target.mkdir(parents=True)
        (target / "README").write_text("downloaded")
        return True

    monkeypatch.setattr(nltk, "download", fake_download)

    data.ensure_nltk("toydownloaded")

    found = Path(nltk.data.find("corpora/toydownloaded"))
    assert found == cache / "nltk_data" / "corpora" / "toydownloaded"


# --------------------------------------------------------------------------- import cost


def test_importing_the_data_module_loads_no_heavy_or_network_packages():
    code = (
        "import sys, dlcourse_utils, dlcourse_utils.data; "
        "print(sorted(m for m in ('pooch', 'requests', 'nltk', 'torch', 'tensorflow') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- real data


@pytest.fixture
def real_mirror(monkeypatch) -> Path:
    monkeypatch.setenv(data.MIRROR_ENV, REAL_MIRROR)
    return Path(REAL_MIRROR).resolve()


@needs_real_mirror
def test_load_mnist_matches_keras_shapes_dtypes_and_first_labels(real_mirror, cache):
    (x_train, y_train), (x_test, y_test) = data.load_mnist(progress=False)

    assert (x_train.shape, y_train.shape) == ((60000, 28, 28), (60000,))
    assert (x_test.shape, y_test.shape) == ((10000, 28, 28), (10000,))
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert y_train[:4].tolist() == [5, 0, 4, 1]
    assert y_test[:4].tolist() == [7, 2, 1, 0]
    assert set(np.unique(y_train).tolist()) == set(range(10))
    assert set(np.unique(y_test).tolist()) == set(range(10))
    assert x_train.min() == 0 and x_train.max() == 255
    assert files_under(cache) == []  # read from the mirror in place


@needs_real_mirror
def test_load_fashion_mnist_matches_keras_shapes_and_class_names(real_mirror):
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(progress=False)

    assert (x_train.shape, y_train.shape) == ((60000, 28, 28), (60000,))
    assert (x_test.shape, y_test.shape) == ((10000, 28, 28), (10000,))
    assert x_train.dtype == y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert len(data.FASHION_MNIST_CLASSES) == 10
    assert data.FASHION_MNIST_CLASSES[y_train[0]] == "Ankle boot"


@needs_real_mirror
def test_load_tiny_shakespeare_returns_the_whole_text(real_mirror):
    text = data.load_tiny_shakespeare(progress=False)

    assert isinstance(text, str)
    assert len(text) == 1_115_394
    assert text.startswith("First Citizen")


@needs_real_mirror
def test_ensure_nltk_makes_the_books_corpora_usable_from_the_mirror(
    real_mirror, nltk_path, monkeypatch
):
    forbid_download(monkeypatch, nltk_path)

    data.ensure_nltk("stopwords", "movie_reviews", "wordnet")

    from nltk.corpus import movie_reviews, stopwords, wordnet
    from nltk.stem import WordNetLemmatizer

    english = stopwords.words("english")
    assert "the" in english and len(english) > 100
    assert len(movie_reviews.fileids()) == 2000
    assert set(movie_reviews.categories()) == {"neg", "pos"}
    assert WordNetLemmatizer().lemmatize("running", "v") == "run"
    assert wordnet.synsets("dog")


@needs_real_mirror
def test_registry_hashes_equal_the_mirror_manifest(real_mirror):
    manifest: dict[str, str] = {}
    with open(real_mirror / "MANIFEST.tsv", encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        path_col, sha_col = header.index("path"), header.index("sha256")
        for line in f:
            fields = line.rstrip("\n").split("\t")
            manifest[fields[path_col]] = fields[sha_col]

    registered = {r.path: r.sha256 for files in data.DATASETS.values() for r in files.values()}

    assert len(registered) == 9
    for path, sha in registered.items():
        assert manifest.get(path) == sha, path


@needs_real_mirror
def test_data_status_finds_every_registered_file_in_the_real_mirror(real_mirror):
    rows = data.data_status()

    assert {row["status"] for row in rows} == {"mirror"}
    assert all(Path(row["location"]).is_relative_to(real_mirror) for row in rows)


@needs_real_mirror
def test_movie_reviews_split_is_stratified_disjoint_and_reproducible(real_mirror, cache):
    (x_train, y_train), (x_test, y_test) = data.load_movie_reviews()
    assert len(x_train) == len(y_train) == 1500 and len(x_test) == len(y_test) == 500
    assert y_train.sum() == 750 and y_test.sum() == 250 and y_train.dtype == np.int64
    assert not set(x_train) & set(x_test)
    assert 0 < y_train[:20].sum() < 20, "classes are interleaved, not sorted"
    (again, _), _ = data.load_movie_reviews()
    assert again == x_train
    (other, _), _ = data.load_movie_reviews(seed=1)
    assert other != x_train
    with pytest.raises(ValueError, match="between 0 and 1"):
        data.load_movie_reviews(test_fraction=1.5)


def test_loading_in_a_kernel_prints_no_tqdm_widget_warning(tmp_path):
    """pooch imports tqdm.auto; in a kernel without ipywidgets that warns with a machine path."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from dlcourse_utils import data\nprint(data.cache_dir().name)"
    )]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream"] and outputs[0].name == "stdout", outputs
