"""The reliability promises of the README's "Reliability" section, one attack each.

Every network test talks to a real HTTP server on 127.0.0.1 started here, every
wait is bounded (ZOO_TIMEOUT, join timeouts, subprocess timeouts), and no test
writes more than a few MiB.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import http.server
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from tests.local_server import LocalServer
from tests.test_hub import FILES, NAME, cached_files, env, served, sha  # noqa: F401
from zoo import hub

ROOT = Path(__file__).resolve().parents[1]
SIZES = {f: len(b) for f, b in FILES.items()}


def sized_spec():
    """The test entry of tests/test_hub.py, with its sizes recorded as zoo/weights.json does."""
    from zoo.registry import ModelSpec

    return ModelSpec(name=NAME, builder="zoo.models.graphs:graph_model", task="embedding",
                     covers="test", summary="test", input_shape=(4, 4, 1), graphs=("embed",),
                     dataset="none", weights={f: sha(b) for f, b in FILES.items()}, sizes=SIZES)


class Hostile(LocalServer):
    """An HTTP/1.0 server over `root` that misbehaves in one `mode`:

    trickle: the right Content-Length, then one byte every 0.2 s;
    steady: the right Content-Length, 500 bytes every 20 ms (a slow, honest link);
    flood: no Content-Length, then up to 64 MiB of zeros (an endless stream);
    short: no Content-Length, half the body, then close;
    loop: 302 to itself.
    """

    def __init__(self, root, mode):
        self.requests, self.sent = [], 0
        self.stop = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                path = urllib.parse.unquote(self.path.lstrip("/"))
                server.requests.append(path)
                if mode == "loop":
                    self.send_response(302)
                    self.send_header("Location", self.path)
                    self.end_headers()
                    return
                body = (root / path).read_bytes()
                self.send_response(200)
                if mode in ("trickle", "steady"):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if mode == "trickle":
                        for i in range(len(body)):
                            if server.stop.wait(0.2):
                                return
                            self.wfile.write(body[i:i + 1])
                            self.wfile.flush()
                    elif mode == "steady":
                        for i in range(0, len(body), 500):
                            time.sleep(0.02)
                            self.wfile.write(body[i:i + 500])
                            self.wfile.flush()
                    elif mode == "flood":
                        block = b"\0" * (1 << 16)
                        while server.sent < (64 << 20) and not server.stop.is_set():
                            self.wfile.write(block)
                            server.sent += len(block)
                    elif mode == "short":
                        self.wfile.write(body[: len(body) // 2])
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.serve(Handler)

    def close(self):
        self.stop.set()
        super().close()


@pytest.fixture
def hostile(served, env, monkeypatch):  # noqa: F811
    servers = []

    def start(mode):
        srv = Hostile(served, mode)
        servers.append(srv)
        monkeypatch.setenv("ZOO_WEIGHTS_URL", srv.url)
        return srv

    yield start
    for srv in servers:
        srv.close()


# 1. Downloads: an overall deadline and a minimum rate, file:// included ------------

def test_a_trickle_fails_fast_and_a_slow_honest_link_works(hostile, env, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ZOO_TIMEOUT", "1")
    hostile("trickle")
    start = time.monotonic()
    with pytest.raises(hub.DownloadError, match="too slow") as info:
        hub.pull(sized_spec(), ["model.keras"])
    assert time.monotonic() - start < 6  # 1 s grace + at most one 1 s read, no retry
    assert "ZOO_MIN_RATE" in str(info.value) and "\n" not in str(info.value)
    assert cached_files(env) == []

    hostile("steady")  # 5000 bytes in ~0.2 s
    monkeypatch.setenv("ZOO_MIN_RATE", "1000")
    folder = hub.pull(sized_spec(), ["model.keras"])
    assert (folder / "model.keras").read_bytes() == FILES["model.keras"]


def test_a_fifo_behind_a_file_url_does_not_hang(served, env, monkeypatch):  # noqa: F811
    fifo = served / NAME / "model.keras"
    fifo.unlink()
    os.mkfifo(fifo)
    monkeypatch.setenv("ZOO_WEIGHTS_URL", served.as_uri())
    errors = []
    worker = threading.Thread(target=lambda: errors.append(_error(hub.pull, sized_spec(),
                                                                  ["model.keras"])), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock the reader before failing
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("pull blocked on a FIFO")
    assert isinstance(errors[0], hub.DownloadError) and "not a regular file" in str(errors[0])


def _error(fn, *args):
    try:
        fn(*args)
    except Exception as error:  # noqa: BLE001
        return error
    return None


# 2. Downloads: no byte past the size recorded in zoo/weights.json --------------------

def test_an_endless_stream_stops_at_the_recorded_size(hostile, env):  # noqa: F811
    srv = hostile("flood")
    with pytest.raises(hub.DownloadError) as info:
        hub.pull(sized_spec(), ["model.keras"])
    message = str(info.value)
    assert "at least 5001 bytes" in message and "records 5000 bytes" in message
    assert cached_files(env) == [] and not list(env.rglob("*.part"))
    assert len(srv.requests) == 1


def test_a_content_length_other_than_the_recorded_size_is_refused_unread(served, env,  # noqa: F811
                                                                         monkeypatch):
    from tests.test_hub import FaultServer

    (served / NAME / "model.keras").write_bytes(b"k" * 6000)
    srv = FaultServer(served)
    monkeypatch.setenv("ZOO_WEIGHTS_URL", srv.url)
    try:
        with pytest.raises(hub.DownloadError, match="announces 6000 bytes.*records 5000 bytes"):
            hub.pull(sized_spec(), ["model.keras"])
    finally:
        srv.close()
    assert cached_files(env) == []


def test_weights_json_records_a_size_for_every_file():
    data = json.loads((ROOT / "zoo" / "weights.json").read_text())
    for name, files in data.items():
        for file, entry in files.items():
            assert set(entry) == {"sha256", "bytes"}, (name, file)
            assert isinstance(entry["bytes"], int) and entry["bytes"] > 0, (name, file)
    import zoo

    spec = zoo.info("fmnist_cnn")
    assert spec.sizes["model.keras"] == (ROOT / "saved_models/fmnist_cnn/model.keras").stat().st_size


# 3. Temp files: removed on SIGTERM, swept when stale, ignored by git -------------------

def test_sigterm_during_a_pull_leaves_no_part_file(hostile, env, tmp_path):  # noqa: F811
    srv = hostile("trickle")
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from tests.test_reliability import sized_spec\n"
        "from zoo import hub\n"
        "hub.pull(sized_spec(), ['model.keras'])\n" % str(ROOT))
    environ = {**os.environ, "ZOO_HOME": str(env), "ZOO_WEIGHTS_URL": srv.url,
               "ZOO_TIMEOUT": "30"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not list(env.rglob("*.part")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        assert list(env.rglob("*.part")), "the pull never started"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert "Terminated" in proc.stderr.read().decode()
    assert not list(env.rglob("*.part"))


def test_sigterm_unwinds_any_cli_command_so_its_cleanup_runs(monkeypatch, capsys):
    """What removes a killed export's staging folder and a gallery's temp files:
    their `finally` blocks run, as for Ctrl-C."""
    from zoo import cli

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("the test runner handles SIGTERM itself")
    cleaned = []

    def command(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
        finally:
            cleaned.append(True)

    monkeypatch.setattr(cli, "cmd_list", command)
    assert run_cli("list") == 128 + signal.SIGTERM and cleaned == [True]
    assert "terminated by signal" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored afterwards


def test_stale_temp_files_are_swept_on_the_next_start(served, env, tmp_path,  # noqa: F811
                                                      monkeypatch):
    from zoo.io import STALE_SECONDS, atomic_write_text

    old = time.time() - STALE_SECONDS - 60
    folder = env / NAME / "1.0.0"
    stale = [folder / ".model.keras.abcd1234.part", folder / "test_data/embed/.input_0.pb.x1y2z3w4.part"]
    fresh = folder / ".card.json.fresh123.part"  # may be another process's live download
    for path in [*stale, fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    for path in stale:
        os.utime(path, (old, old))
    monkeypatch.setenv("ZOO_WEIGHTS_URL", served.as_uri())
    hub.pull(sized_spec(), ["card.json"])
    assert not any(p.exists() for p in stale) and fresh.exists()

    gallery = tmp_path / "gallery"  # a killed gallery save / atomic write
    gallery.mkdir()
    leftovers = [gallery / ".gallery.json.k1ll3d00.tmp", gallery / ".embeddings-1.npy.abcdefgh.tmp"]
    for path in leftovers:
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    atomic_write_text(gallery / "gallery.json", "{}")
    assert not any(p.exists() for p in leftovers)


def test_a_killed_exports_staging_folder_is_swept_and_ignored(tmp_path):
    from zoo.export import publish as pub
    import zoo

    saved = tmp_path / "saved_models"
    stale, fresh = saved / ".fmnist_cnn.k1ll3d00", saved / ".fmnist_cnn.running1"
    for folder in (stale, fresh):
        (folder / "savedmodel").mkdir(parents=True)
        (folder / "model.keras").write_bytes(b"x" * 1000)
    old = time.time() - 7 * 3600
    os.utime(stale, (old, old))
    with pytest.raises(Exception):  # no run to export; the sweep ran first
        pub.publish(zoo.info("fmnist_cnn"), tmp_path / "no_run", saved / "fmnist_cnn")
    assert not stale.exists() and fresh.exists()


def test_gitignore_covers_every_temp_name():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = ["saved_models/.fmnist_cnn.k1ll3d00/model.keras", "saved_models/.fmnist_cnn.old/x",
             "zoo/.weights.json.abcd1234.tmp", "galleries/g/.gallery.db.123.tmp-wal",
             "x/.model.keras.abcd1234.part", "runs/x/.result.json.abcd1234.tmp"]
    result = subprocess.run(["git", "check-ignore", "--no-index", *names], cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert sorted(result.stdout.split()) == sorted(names), result.stdout


# 4. Other download defects ------------------------------------------------------------

def test_a_short_body_without_content_length_is_retried(hostile, env):  # noqa: F811
    srv = hostile("short")
    with pytest.raises(hub.DownloadError, match=r"Received 2500 of 5000 bytes") as info:
        hub.pull(sized_spec(), ["model.keras"])
    assert len(srv.requests) == 2 and "zoo/weights.json" in str(info.value)
    assert cached_files(env) == []


def test_a_redirect_loop_is_one_clear_line(hostile, env):  # noqa: F811
    hostile("loop")
    with pytest.raises(hub.DownloadError) as info:
        hub.pull(sized_spec(), ["card.json"])
    message = str(info.value)
    assert "redirects in a loop" in message and "not published" not in message
    assert "\n" not in message


@pytest.mark.parametrize("setting, value, says", [
    ("ZOO_TIMEOUT", "inf", "ZOO_TIMEOUT must be a positive, finite number of seconds"),
    ("ZOO_TIMEOUT", "nan", "ZOO_TIMEOUT must be a positive, finite number of seconds"),
    ("ZOO_MIN_RATE", "0", "ZOO_MIN_RATE must be a positive, finite number of bytes per second"),
    ("ZOO_WEIGHTS_URL", "http://[::1", "ZOO_WEIGHTS_URL is not a valid URL"),
    ("ZOO_WEIGHTS_URL", "http://host:port/x", "ZOO_WEIGHTS_URL is not a valid URL"),
    ("ZOO_WEIGHTS_URL", "https:///nohost", "ZOO_WEIGHTS_URL must be an http://"),
])
def test_a_bad_setting_is_one_line_naming_it_and_its_valid_values(env, monkeypatch,  # noqa: F811
                                                                   setting, value, says):
    monkeypatch.setenv(setting, value)
    with pytest.raises(hub.SettingError) as info:  # the CLI exits 2 for it
        hub.pull(sized_spec(), ["card.json"])
    message = str(info.value)
    assert says in message and f"{setting}={value!r}" in message and "\n" not in message
    if setting == "ZOO_WEIGHTS_URL":
        assert "file:///" in message and "https://" in message


# 5. Cache files honour the umask ------------------------------------------------------

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_cached_files_follow_the_umask(served, env, monkeypatch, umask, mode):  # noqa: F811
    monkeypatch.setenv("ZOO_WEIGHTS_URL", served.as_uri())
    previous = os.umask(umask)
    try:
        folder = hub.pull(sized_spec(), ["card.json", "test_data/embed/input_0.pb"])
    finally:
        os.umask(previous)
    for file in ("card.json", "test_data/embed/input_0.pb"):
        assert (folder / file).stat().st_mode & 0o777 == mode, file


# 6-7. Training resume: same configuration only; history part of the backup ------------

def _data(n=40):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 1)).astype("float32"), np.arange(n) % 10


def _model():
    import zoo

    return zoo.create("fmnist_cnn", input_shape=(8, 8, 1), widths=(4,))


class _Crash(Exception):
    pass


def _interrupt(run_dir, *, seed=0, config=None, at_epoch=1):
    """A run of 3 epochs that dies when epoch `at_epoch` begins (the backup holds
    `at_epoch` epochs), like a preempted job."""
    import keras
    from zoo.training.runner import array_epochs, fit

    class Die(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == at_epoch:
                raise _Crash()

    x, y = _data()
    with pytest.raises(_Crash):
        fit(_model(), array_epochs(x, y, batch_size=16, seed=seed), epochs=3, run_dir=run_dir,
            seed=seed, config=config, callbacks=[Die()], verbose=0)
    assert (run_dir / "backup" / "training_metadata.json").exists()


def test_resume_refuses_another_configuration_and_restart_discards(tmp_path):
    from zoo.training.runner import ResumeMismatchError, array_epochs, discard_interrupted, fit

    run_dir = tmp_path / "run"
    _interrupt(run_dir, seed=0, config={"model": "fmnist_cnn", "quick": True})
    saved = (run_dir / "config.json").read_text()
    x, y = _data()
    other = x.copy()
    other[0, 0, 0, 0] += 1  # one pixel of another dataset
    quick = {"model": "fmnist_cnn", "quick": True}
    for seed, data, config, says in [
            (1, x, quick, "seed 0 -> 1"),
            (0, x, {"model": "fmnist_cnn", "quick": False}, "quick True -> False"),
            (0, other, quick, "data_sha256 ")]:
        with pytest.raises(ResumeMismatchError) as info:
            fit(_model(), array_epochs(data, y, 16, seed=seed), epochs=3, run_dir=run_dir,
                seed=seed, config=config, verbose=0)
        message = str(info.value)
        assert says in message and "--run-dir" in message and "--restart" in message
        assert "\n" not in message
        assert (run_dir / "config.json").read_text() == saved  # untouched by the refusal

    assert discard_interrupted(run_dir) == [run_dir / "backup"]
    result = fit(_model(), array_epochs(x, y, 16, seed=1), epochs=2, run_dir=run_dir, seed=1,
                 config={"model": "fmnist_cnn", "quick": False}, verbose=0)
    assert json.loads((run_dir / "run.json").read_text())["resumed_from_epoch"] == 0
    assert json.loads((run_dir / "config.json").read_text())["seed"] == 1
    assert len(result.history["loss"]) == 2


def test_the_same_configuration_resumes_with_a_complete_history(tmp_path, monkeypatch):
    """A crash while the epoch-end files are written: CSVLogger dies at the end of
    epoch 1, after the checkpoints. The backup must not claim that epoch."""
    import keras
    from zoo.training.runner import array_epochs, fit

    run_dir = tmp_path / "run"
    original = keras.callbacks.CSVLogger.on_epoch_end

    def crash_at_epoch_1(self, epoch, logs=None):
        if epoch == 1:
            raise _Crash()
        return original(self, epoch, logs)

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", crash_at_epoch_1)
    x, y = _data()
    with pytest.raises(_Crash):
        fit(_model(), array_epochs(x, y, 16), epochs=3, run_dir=run_dir, verbose=0)
    meta = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert meta["epoch"] == len(rows) - 1 == len(json.loads((run_dir / "timings.json").read_text()))

    monkeypatch.setattr(keras.callbacks.CSVLogger, "on_epoch_end", original)
    result = fit(_model(), array_epochs(x, y, 16), epochs=3, run_dir=run_dir, verbose=0)
    run = json.loads((run_dir / "run.json").read_text())
    assert run["resumed_from_epoch"] == meta["epoch"]
    assert result.history["epoch"] == [0.0, 1.0, 2.0]
    assert len(run["epoch_seconds"]) == 3 and run["seconds"] == pytest.approx(
        sum(run["epoch_seconds"]), abs=0.01)


# 8, 14. The CLI's exit codes: 0 ok, 1 a run or check failed, 2 bad usage ----------------

def run_cli(*args):
    from zoo import cli

    try:
        return cli.main([str(a) for a in args])
    except SystemExit as exit_:  # argparse refuses bad usage with SystemExit(2)
        return exit_.code


@pytest.mark.parametrize("epochs", ["0", "-1", "two"])
def test_train_refuses_a_non_positive_epoch_count(epochs, capsys):
    assert run_cli("train", "fmnist_cnn", "--epochs", epochs) == 2
    assert "--epochs: must be a positive int" in capsys.readouterr().err


def test_the_table_of_exit_codes(tmp_path, capsys, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    image = tmp_path / "a.npy"
    np.save(image, np.zeros((28, 28), np.uint8))
    table = [
        ((), 2),                                            # no command: help
        (("list",), 0),
        (("list", "--task", "classification"), 0),
        (("list", "--task", "nonsense"), 2),
        (("info", "fmnist_cnn"), 0),
        (("info", "fmnist_cn"), 2),                         # unknown model
        (("pull", "nope"), 2),
        (("train", "nope"), 2),
        (("train", "fmnist_cnn", "--epochs", "0"), 2),
        (("train", "fmnist_cnn", "--epochs", "-1"), 2),
        (("train", "fmnist_cnn", "--strategy", "nope"), 2),
        (("gallery", "identify", "--gallery", empty, "--top-k", "0", image), 2),
        (("face", "identify", "--gallery", empty, "--top-k", "0", image), 2),
        (("gallery", "list"), 2),                           # --gallery missing
        (("check", "missing/dir"), 2),
        (("check", empty), 1),                              # a folder without card.json
        (("verify", "nope", image, image), 2),
        (("verify", ROOT / "saved_models" / "fmnist_cnn", image, image), 1),  # no verify graph
    ]

    codes = [(args, run_cli(*args)) for args, _ in table]
    assert codes == [(args, code) for args, code in table]
    capsys.readouterr()

    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "cache"))
    pulls = [({"ZOO_TIMEOUT": "inf"}, 2), ({"ZOO_WEIGHTS_URL": "http://[::1"}, 2),  # bad settings
             ({"ZOO_WEIGHTS_URL": str(empty), "ZOO_TIMEOUT": "5"}, 1)]            # not at that mirror
    for settings, code in pulls:
        with monkeypatch.context() as patch:
            for key, value in settings.items():
                patch.setenv(key, value)
            assert run_cli("pull", "vae") == code, settings
    assert len(capsys.readouterr().err.splitlines()) == len(pulls)

    import zoo.training.recipes.fmnist_cnn as recipe
    from zoo.training.runner import ResumeMismatchError

    def mismatch(*args, **kwargs):
        raise ResumeMismatchError("runs/x holds an interrupted run with other settings")

    monkeypatch.setattr(recipe, "train", mismatch)
    assert run_cli("train", "fmnist_cnn", "--run-dir", tmp_path / "run", "--restart") == 2
    assert "other settings" in capsys.readouterr().err


# 15. Messages ---------------------------------------------------------------------------

def test_check_of_a_missing_folder_says_not_found(capsys):
    assert run_cli("check", "missing/dir") == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "Unknown model" not in err


def test_info_on_a_corrupt_card_names_the_file(tmp_path, capsys, monkeypatch):
    card = tmp_path / "saved_models" / "fmnist_cnn" / "card.json"
    card.parent.mkdir(parents=True)
    card.write_text('{"schema": 1,')
    monkeypatch.setattr(hub, "LOCAL_WEIGHTS_DIR", tmp_path / "saved_models")
    assert run_cli("info", "fmnist_cnn") == 1
    err = capsys.readouterr().err
    assert str(card) in err and "not valid JSON" in err and len(err.splitlines()) == 1


def test_eval_and_export_of_another_models_run_say_so(tmp_path, capsys):
    import keras

    by_config = tmp_path / "vae_run"
    by_config.mkdir()
    (by_config / "config.json").write_text(json.dumps({"model": "vae", "seed": 0}))
    by_model = tmp_path / "other_run"  # no config.json: the model itself tells
    by_model.mkdir()
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(by_model / "model.keras")
    for run in (by_config, by_model):
        for command in (("eval", "fmnist_cnn", "--run-dir", run),
                        ("export", "fmnist_cnn", "--run-dir", run, "--out", tmp_path / "out")):
            assert run_cli(*command) == 2, command
            err = capsys.readouterr().err
            assert "is not a run of 'fmnist_cnn'" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_messages_name_cli_flags_not_python_internals(tmp_path):
    from tests.test_runtime import write_artifact
    from zoo import runtime
    from zoo.export.parity import _read_tensor

    model = runtime.load(write_artifact(tmp_path / "art"))
    with pytest.raises(ValueError, match="--resize on the command line"):
        model.embed(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(ValueError) as info:
        _read_tensor(tmp_path, "input_0.pb")
    assert "write_test_data" not in str(info.value) and "zoo export" in str(info.value)


# 16. A closed pipe ends the command like a Unix tool -----------------------------------

def test_info_into_a_closed_pipe_dies_of_sigpipe_silently():
    read, write = os.pipe()
    os.close(read)  # `| head` that has already exited
    try:
        result = subprocess.run([sys.executable, "-m", "zoo.cli", "info", "fmnist_cnn"],
                                cwd=ROOT, stdout=write, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write)
    assert result.returncode == -signal.SIGPIPE  # the shell shows 141, as for `yes | head`
    assert result.stderr == b""


# 9-13. Runtime edge cases -------------------------------------------------------------

@pytest.fixture(scope="module")
def cae_unpool():
    from zoo import runtime

    return runtime.load(ROOT / "saved_models" / "cae_unpool")


def test_cae_unpool_decode_refuses_argmax_outside_its_tensor(cae_unpool):
    images = np.random.default_rng(0).integers(0, 256, (2, 28, 28), np.uint8)
    encoded = cae_unpool.encode(images)
    np.testing.assert_allclose(cae_unpool.decode(**encoded), cae_unpool.reconstruct(images),
                               atol=1e-5)
    for bad, says in [(np.iinfo(np.uint64).max, r"max=18446744073709551615"),
                      (28 * 28 * 16, r"max=12544"), (-1, r"min=-1")]:
        argmax = encoded["argmax_1"].astype(np.uint64 if bad == np.iinfo(np.uint64).max else np.int64)
        argmax[0, 0, 0, 0] = bad
        with pytest.raises(ValueError, match=r"`argmax_1` holds indices, which must be in "
                                             r"\[0, 12544\).*" + says):
            cae_unpool.decode(**{**encoded, "argmax_1": argmax})
    argmax = encoded["argmax_2"].copy()
    argmax[1, 0, 0, 0] = 14 * 14 * 32
    with pytest.raises(ValueError, match=r"`argmax_2`.*\[0, 6272\)"):
        cae_unpool.decode(**{**encoded, "argmax_2": argmax})


def test_float64_that_overflows_float32_is_refused_after_the_cast(tmp_path, cae_unpool):
    from tests.test_runtime import write_artifact
    from zoo import runtime

    model = runtime.load(write_artifact(tmp_path, ("decode",)))
    with pytest.raises(ValueError, match=r"`code` contains NaN or inf once cast to float32"):
        model.decode(np.array([[1e300, 0.0]]))
    encoded = cae_unpool.encode(np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="once cast to float32"):
        cae_unpool.decode(**{**encoded, "code": np.full((1, 32), -1e39)})


@pytest.mark.parametrize("shape", [(1, 0, 0), (0, 0), (2, 4, 0), (1, 0, 4, 1)])
def test_zero_size_images_are_refused_with_the_expected_shape(tmp_path, shape):
    from tests.test_runtime import write_artifact
    from zoo import runtime

    model = runtime.load(write_artifact(tmp_path))
    with pytest.raises(ValueError, match=r"(zero-size images; this model takes 4x4 images|"
                                         r"empty batch)"):
        model.embed(np.zeros(shape, np.uint8))


def test_run_with_a_rank_3_input_is_a_clear_error(tmp_path):
    from tests.test_runtime import write_artifact
    from zoo import runtime

    model = runtime.load(write_artifact(tmp_path))
    with pytest.raises(ValueError, match=r"Input 'image' of graph 'embed' must be shaped "
                                         r"\('N', 4, 4, 1\).*Received: shape=\(2, 4, 4\)"):
        model.run("embed", image=np.zeros((2, 4, 4), np.float32))
    assert model.run("embed", image=np.zeros((2, 4, 4, 1), np.float32))["embedding"].shape == (2, 3)


def test_a_card_may_not_name_files_outside_its_folder_or_other_graphs(tmp_path):
    import hashlib

    from tests.test_runtime import write_artifact
    from zoo import runtime
    from zoo.runtime import ArtifactError

    folder = write_artifact(tmp_path / "art")
    outside = tmp_path / "outside.onnx"
    outside.write_bytes((folder / "embed.onnx").read_bytes())
    card = json.loads((folder / "card.json").read_text())
    for file in ("../outside.onnx", str(outside)):
        bad = {**card, "graphs": {"embed": {**card["graphs"]["embed"], "file": file}},
               "files": {**card["files"], file: card["files"]["embed.onnx"]}}
        (folder / "card.json").write_text(json.dumps(bad))
        with pytest.raises(ArtifactError, match="outside the artifact folder"):
            runtime.load(folder)
    (folder / "link.onnx").symlink_to(outside)
    bad = {**card, "graphs": {"embed": {**card["graphs"]["embed"], "file": "link.onnx"}},
           "files": {**card["files"], "link.onnx": card["files"]["embed.onnx"]}}
    (folder / "card.json").write_text(json.dumps(bad))
    with pytest.raises(ArtifactError, match="outside the artifact folder"):
        runtime.load(folder)

    for field, value in (("version", "2.0.0"), ("name", "other")):
        (folder / "card.json").write_text(json.dumps({**card, field: value}))
        with pytest.raises(ArtifactError, match=r"ONNX metadata names 'tiny' version '1.0.0'"):
            runtime.load(folder)
    import onnx

    proto = onnx.load(folder / "embed.onnx")
    del proto.metadata_props[:]
    data = proto.SerializeToString()
    (folder / "embed.onnx").write_bytes(data)
    files = {**card["files"], "embed.onnx": {"sha256": hashlib.sha256(data).hexdigest(),
                                             "bytes": len(data)}}
    (folder / "card.json").write_text(json.dumps({**card, "files": files}))
    with pytest.raises(ArtifactError, match="metadata names None version None"):
        runtime.load(folder)
