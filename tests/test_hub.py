"""zoo.hub against a real local HTTP server with injected faults.

Every test bounds network waits with `ZOO_TIMEOUT` (or `timeout=`), so a
broken server can fail a test but never hang it.
"""

import hashlib
import http.server
import socket
import threading
import urllib.parse

import pytest

from tests.local_server import LocalServer
from zoo import hub
from zoo.registry import ModelSpec

NAME = "tiny"
FILES = {"model.keras": b"k" * 5000, "card.json": b'{"schema": 1}',
         "embed.onnx": b"o" * 70000, "test_data/embed/input_0.pb": b"pb"}


def sha(data):
    return hashlib.sha256(data).hexdigest()


def make_spec(weights=None, name=NAME, version="1.0.0", builder="zoo.models.graphs:graph_model"):
    if weights is None:
        weights = {f: sha(b) for f, b in FILES.items()}
    return ModelSpec(name=name, builder=builder, task="embedding", covers="test",
                     summary="test", input_shape=(4, 4, 1), graphs=("embed",),
                     dataset="none", weights=weights, version=version)


class FaultServer(LocalServer):
    """A ThreadingHTTPServer over `root` with per-file faults.

    Faults: "404", "500", "500once", "drop" (half the body, then close),
    "slow" (wait before answering), "bad_length" (Content-Length too big).
    """

    def __init__(self, root):
        self.root = root
        self.faults = {}
        self.requests = []
        self.release = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = urllib.parse.unquote(self.path.lstrip("/"))
                server.requests.append(path)
                file = path.split("/", 1)[-1]
                fault = server.faults.get(file)
                if fault == "500once":
                    server.faults[file] = None
                    fault = "500"
                if fault in ("404", "500"):
                    self.send_error(int(fault))
                    return
                if fault == "slow":
                    server.release.wait(10)
                    return
                target = server.root / path
                if not target.is_file():
                    self.send_error(404)
                    return
                body = target.read_bytes()
                self.send_response(200)
                extra = 100 if fault == "bad_length" else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if fault == "drop" else body)

            def log_message(self, *args):
                pass

        self.serve(Handler)

    def close(self):
        self.release.set()
        super().close()


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "served"
    for file, data in FILES.items():
        path = root / NAME / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.fixture
def env(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("ZOO_HOME", str(cache))
    monkeypatch.setenv("ZOO_TIMEOUT", "5")
    monkeypatch.delenv("ZOO_WEIGHTS_URL", raising=False)
    monkeypatch.setattr(hub, "LOCAL_WEIGHTS_DIR", tmp_path / "no_checkout")
    monkeypatch.setattr(hub, "WEIGHTS_PACKAGE", "no_weights_package_installed")
    monkeypatch.setattr(hub, "RETRY_DELAY", 0.0)
    return cache


@pytest.fixture
def server(served, env, monkeypatch):
    srv = FaultServer(served)
    monkeypatch.setenv("ZOO_WEIGHTS_URL", srv.url)
    yield srv
    srv.close()


def cached_files(cache):
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())


def test_pull_downloads_verifies_and_reuses_cache(server, env):
    folder = hub.pull(make_spec())
    assert folder == env / NAME / "1.0.0"
    for file, data in FILES.items():
        assert (folder / file).read_bytes() == data
    assert len(server.requests) == len(FILES)
    assert hub.pull(make_spec()) == folder
    assert len(server.requests) == len(FILES)
    assert cached_files(env) == sorted(f"{NAME}/1.0.0/{f}" for f in FILES)


def test_pull_subset_and_corrupt_cache_is_refetched(server, env):
    folder = hub.pull(make_spec(), ["card.json"])
    assert cached_files(env) == [f"{NAME}/1.0.0/card.json"]
    (folder / "card.json").write_bytes(b"corrupted")
    hub.pull(make_spec(), ["card.json"])
    assert (folder / "card.json").read_bytes() == FILES["card.json"]
    assert server.requests.count(f"{NAME}/card.json") == 2


def test_zoo_home_and_version_select_the_cache_folder(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "elsewhere"))
    folder = hub.pull(make_spec(version="2.1.0"), ["card.json"])
    assert folder == tmp_path / "elsewhere" / NAME / "2.1.0"
    assert (folder / "card.json").is_file()


@pytest.mark.parametrize("fault, status, requests", [("404", 404, 1), ("500", 500, 2)])
def test_http_error_status(server, env, fault, status, requests):
    server.faults["model.keras"] = fault
    with pytest.raises(hub.DownloadError, match=f"HTTP {status}") as info:
        hub.pull(make_spec(), ["model.keras"])
    assert "model.keras" in str(info.value)
    assert info.value.status == status
    assert len(server.requests) == requests
    assert cached_files(env) == []


def test_one_retry_recovers_from_a_transient_500(server, env):
    server.faults["model.keras"] = "500once"
    folder = hub.pull(make_spec(), ["model.keras"])
    assert (folder / "model.keras").read_bytes() == FILES["model.keras"]
    assert server.requests == [f"{NAME}/model.keras"] * 2


@pytest.mark.parametrize("fault", ["drop", "bad_length"])
def test_short_body_is_retried_once_then_fails(server, env, fault):
    server.faults["embed.onnx"] = fault
    with pytest.raises(hub.DownloadError, match="Content-Length") as info:
        hub.pull(make_spec(), ["embed.onnx"])
    assert "embed.onnx" in str(info.value)
    assert len(server.requests) == 2
    assert cached_files(env) == []


def test_slow_server_times_out(server, env):
    server.faults["card.json"] = "slow"
    with pytest.raises(hub.DownloadError, match="Timed out after 0.2 s") as info:
        hub.pull(make_spec(), ["card.json"], timeout=0.2)
    assert "ZOO_TIMEOUT" in str(info.value)
    assert len(server.requests) == 2
    assert cached_files(env) == []


@pytest.mark.parametrize("damage", [lambda b: b[:-1] + b"X", lambda b: b[: len(b) // 2]],
                         ids=["tampered", "truncated"])
def test_hash_mismatch_names_file_and_hashes(server, served, env, damage):
    bad = damage(FILES["model.keras"])
    (served / NAME / "model.keras").write_bytes(bad)
    with pytest.raises(hub.IntegrityError) as info:
        hub.pull(make_spec(), ["model.keras"])
    message = str(info.value)
    assert "model.keras" in message
    assert sha(FILES["model.keras"]) in message and sha(bad) in message
    assert len(server.requests) == 1
    assert cached_files(env) == []
    assert not (env / NAME).exists()


def test_nested_file_failure_leaves_no_folders(server, served, env):
    (served / NAME / "test_data/embed/input_0.pb").write_bytes(b"xx")
    with pytest.raises(hub.IntegrityError, match="test_data/embed/input_0.pb"):
        hub.pull(make_spec(), ["test_data/embed/input_0.pb"])
    assert list(env.rglob("*")) == []


def test_file_url_and_plain_path(served, env, monkeypatch):
    monkeypatch.setenv("ZOO_WEIGHTS_URL", served.as_uri())
    folder = hub.pull(make_spec())
    assert (folder / "embed.onnx").read_bytes() == FILES["embed.onnx"]
    (folder / "embed.onnx").unlink()
    monkeypatch.setenv("ZOO_WEIGHTS_URL", str(served))
    hub.pull(make_spec(), ["embed.onnx"])
    assert (folder / "embed.onnx").read_bytes() == FILES["embed.onnx"]


def test_file_url_missing_file(served, env, monkeypatch):
    monkeypatch.setenv("ZOO_WEIGHTS_URL", served.as_uri())
    (served / NAME / "card.json").unlink()
    with pytest.raises(hub.DownloadError, match="'card.json' not found"):
        hub.pull(make_spec(), ["card.json"])
    assert cached_files(env) == []


def test_checkout_saved_models_is_used_without_network(served, env, monkeypatch):
    monkeypatch.setattr(hub, "LOCAL_WEIGHTS_DIR", served)
    assert hub.base_url(NAME) == served.as_uri()
    folder = hub.pull(make_spec())
    assert (folder / "model.keras").read_bytes() == FILES["model.keras"]


def installed_weights_package(served, tmp_path, monkeypatch, version="1.0.0"):
    """`served` as an installed weights wheel: a package on sys.path whose
    folders are the entries (what `zoo.export.weights_wheel` packs)."""
    site = tmp_path / "site"
    package = site / "fake_zoo_weights"
    package.parent.mkdir()
    served.rename(package)
    (package / "__init__.py").write_text(f'__version__ = "{version}"\n')
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(hub, "WEIGHTS_PACKAGE", "fake_zoo_weights")
    return package


def test_installed_weights_package_is_used_offline(served, env, tmp_path, monkeypatch):
    package = installed_weights_package(served, tmp_path, monkeypatch)
    assert hub.weights_package_dir() == package
    assert hub.published_dir(NAME) == package / NAME
    assert hub.base_url(NAME) == package.as_uri()
    folder = hub.pull(make_spec())
    assert (folder / "embed.onnx").read_bytes() == FILES["embed.onnx"]
    assert folder.parent.parent == env  # copied into the verified cache


def test_stale_weights_package_names_the_version_pair(served, env, tmp_path, monkeypatch):
    package = installed_weights_package(served, tmp_path, monkeypatch, version="0.0.9")
    (package / NAME / "card.json").write_bytes(b'{"schema": 0}')
    with pytest.raises(hub.IntegrityError, match="repr-zoo-weights 0.0.9 is not the one"):
        hub.pull(make_spec(), ["card.json"])
    assert cached_files(env) == []


def test_base_url_resolution(env, monkeypatch):
    with pytest.raises(hub.DownloadError) as info:  # nothing is hosted by default
        hub.base_url(NAME)
    for hint in ("repr_zoo_weights", "make wheels", "ZOO_WEIGHTS_URL", "saved_models/tiny/"):
        assert hint in str(info.value)
    monkeypatch.setenv("ZOO_WEIGHTS_URL", "https://mirror.example/zoo/")
    assert hub.base_url(NAME) == "https://mirror.example/zoo"
    monkeypatch.setenv("ZOO_WEIGHTS_URL", "ftp://mirror.example/zoo")
    with pytest.raises(hub.HubError, match="ZOO_WEIGHTS_URL='ftp"):
        hub.base_url(NAME)


def test_offline_error_says_what_to_do(env, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ZOO_WEIGHTS_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(hub.DownloadError) as info:
        hub.pull(make_spec(), ["card.json"])
    message = str(info.value)
    for hint in ("network", "ZOO_WEIGHTS_URL", "file:///path/to/saved_models", "saved_models/tiny/"):
        assert hint in message
    assert cached_files(env) == []


def test_not_published_and_unknown_file(env):
    with pytest.raises(hub.NotPublishedError, match=r"zoo.create\('tiny'\)"):
        hub.load_pretrained(make_spec(weights={}))
    with pytest.raises(hub.NotPublishedError, match="zoo train tiny"):
        hub.pull(make_spec(weights={}))
    with pytest.raises(hub.NotPublishedError, match="files=\\['nope.onnx'\\]"):
        hub.pull(make_spec(), ["nope.onnx"])


@pytest.mark.parametrize("file", ["../evil", "/etc/passwd"])
def test_paths_outside_the_artifact_are_refused(env, file):
    with pytest.raises(hub.HubError, match="relative path"):
        hub.pull(make_spec(weights={file: "0" * 64}))


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_bad_timeout(server, monkeypatch, value):
    monkeypatch.setenv("ZOO_TIMEOUT", value)
    with pytest.raises(hub.HubError, match=f"ZOO_TIMEOUT='{value}'"):
        hub.pull(make_spec(), ["card.json"])


def test_all_errors_share_one_base():
    for cls in (hub.NotPublishedError, hub.DownloadError, hub.IntegrityError):
        assert issubclass(cls, hub.HubError) and issubclass(cls, RuntimeError)


def test_load_pretrained_round_trip(server, served, env):
    from zoo import backend  # noqa: F401

    import keras
    import numpy as np

    inputs = keras.Input(shape=(4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(inputs))
    model.save(served / NAME / "model.keras")
    data = (served / NAME / "model.keras").read_bytes()
    spec = make_spec(weights={"model.keras": sha(data), "card.json": sha(FILES["card.json"])})
    loaded = hub.load_pretrained(spec)
    x = np.arange(12, dtype="float32").reshape(3, 4)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert cached_files(env) == [f"{NAME}/1.0.0/card.json", f"{NAME}/1.0.0/model.keras"]
    requests = len(server.requests)
    hub.load_pretrained(spec)
    assert len(server.requests) == requests
