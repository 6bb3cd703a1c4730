"""Every ```python and ```bash block of README.md runs as written.

A block runs unless a marker on the line(s) just before its fence says
otherwise. The markers are HTML comments, invisible on GitHub:

    <!-- readme-test: skip (REASON) -->     not run: long (full training, benchmarks),
                                            or needs what a test cannot have
    <!-- readme-test: no-tensorflow -->     run with TensorFlow made unimportable
    <!-- readme-test: needs "HEADING" -->   first run the blocks of that section

Every block runs in one working folder shared by the whole README, as a
reader following it would: `data/` and `saved_models/` there link to the
checkout, so what a block writes (`galleries/`, `runs/`, `my_gallery/`) lands
in a temp folder and the checkout is not touched. `ZOO_HOME` is the session's
cache. A Python block runs as `python -c BLOCK`; a bash block with `bash -e`,
`zoo` being `python -m zoo.cli` of this checkout. A block runs after the
blocks before it in its section. Where a block shows output, a check below
compares it with what was printed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
RUNNABLE = ("python", "bash")
TEXT = ("", "text", "json")
MARKER = re.compile(r"^<!-- readme-test: (.*) -->$")


@dataclasses.dataclass
class Block:
    index: int
    line: int
    lang: str
    code: str
    section: str
    skip: str | None = None
    no_tensorflow: bool = False
    needs: tuple = ()

    @property
    def id(self):
        slug = re.sub(r"[^a-z0-9]+", "-", self.section.lower()).strip("-")[:40]
        return f"{self.index:02d}-line{self.line}-{slug}"


def parse(text):
    """The fenced blocks of `text`, with their section and markers."""
    blocks, section, markers, lines = [], "", [], text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang, start, body = line[3:].strip(), i + 1, []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            block = Block(len(blocks), start, lang, "\n".join(body) + "\n", section)
            for marker in markers:
                apply_marker(block, marker)
            blocks.append(block)
            markers = []
        elif MARKER.match(line):
            markers.append(MARKER.match(line).group(1))
        else:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            markers = []
        i += 1
    return blocks


def apply_marker(block, marker):
    if m := re.fullmatch(r"skip \((.+)\)", marker):
        block.skip = m.group(1)
    elif marker == "no-tensorflow":
        block.no_tensorflow = True
    elif m := re.fullmatch(r'needs "(.+)"', marker):
        block.needs += (m.group(1),)
    else:
        raise ValueError(f"README line {block.line - 1}: unknown marker {marker!r}; "
                         'use skip (REASON), no-tensorflow or needs "HEADING"')


BLOCKS = parse(README)
RUN = [b for b in BLOCKS if b.lang in RUNNABLE]


def test_every_block_is_python_bash_or_text():
    """A ```sh or ```console block would escape the run below."""
    odd = [(b.line, b.lang) for b in BLOCKS if b.lang not in RUNNABLE + TEXT]
    assert odd == [], f"fence these as python or bash (or text): {odd}"


def test_only_long_or_impossible_blocks_are_skipped():
    skipped = {b.line: b.skip for b in RUN if b.skip}
    for line, reason in skipped.items():
        assert re.match(r"(long|installs|creates \.venv|needs)", reason), (line, reason)
    assert len(skipped) <= 6, skipped  # a new skip needs a reason and a look


def test_needs_name_existing_sections():
    sections = {b.section for b in RUN}
    for block in RUN:
        for need in block.needs:
            assert any(need in s for s in sections), (block.line, need)


# ---- running -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    for name in ("data", "saved_models"):
        (folder / name).symlink_to(REPO / name)
    return folder


_RESULTS: dict = {}


def run_block(block, workdir, zoo_cache):
    """Run `block` once (after what it depends on); its CompletedProcess."""
    if block.index in _RESULTS:
        return _RESULTS[block.index]
    for earlier in dependencies(block):
        result = run_block(earlier, workdir, zoo_cache)
        if result.returncode != 0:
            pytest.fail(f"needs block {earlier.id}, which failed:\n{result.stderr[-2000:]}")
    env = {**os.environ, "ZOO_HOME": str(zoo_cache), "PYTHONPATH": str(REPO),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("ZOO_DEBUG", None)
    if block.lang == "python":
        if block.no_tensorflow:
            prebuild_derived(block, zoo_cache)
        prefix = "import sys\nsys.modules['tensorflow'] = None\n" if block.no_tensorflow else ""
        args = [sys.executable, "-c", prefix + block.code]
    else:
        script = f'zoo() {{ "{sys.executable}" -m zoo.cli "$@"; }}\n' + block.code
        args = ["bash", "-e", "-o", "pipefail", "-c", script]
    result = subprocess.run(args, cwd=workdir, env=env, capture_output=True, text=True,
                            timeout=1800)
    _RESULTS[block.index] = result
    return result


def dependencies(block):
    """The runnable blocks before `block` in its section, then those of its `needs`."""
    same = [b for b in RUN if b.section == block.section and b.index < block.index]
    needed = [b for b in RUN for need in block.needs if need in b.section]
    return [b for b in needed + same if not b.skip]


def prebuild_derived(block, zoo_cache):
    """A block run without TensorFlow cannot build a derived artifact (`zoo pull`
    converts with TensorFlow): build the ones it names first, as the README says to."""
    import zoo
    from zoo import hub

    names = [n for n in zoo.list_models() if re.search(rf"\b{n}\b", block.code)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZOO_HOME", str(zoo_cache))
        for name in names:
            if zoo.info(name).derived:
                hub.pull(name)


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_block_runs_as_written(block, workdir, zoo_cache):
    if block.skip:
        pytest.skip(f"README line {block.line}: {block.skip}")
    if re.search(r"fashion_mnist|fmnist|siamese|vae|ae_dense|zoo train", block.code):
        from tests.conftest import require_data
        from zoo.training import datasets

        require_data(datasets.load_fashion_mnist, "test")
    weights = hashlib.sha256((REPO / "zoo" / "weights.json").read_bytes()).hexdigest()
    result = run_block(block, workdir, zoo_cache)
    assert result.returncode == 0, f"README line {block.line}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert hashlib.sha256((REPO / "zoo" / "weights.json").read_bytes()).hexdigest() == weights
    for key, check in CHECKS.items():
        if key in block.code:
            check(block, result, workdir, zoo_cache)


# ---- the outputs the README shows ----------------------------------------------------

def check_face_resnet_walkthrough(block, result, workdir, zoo_cache):
    lines = result.stdout.splitlines()
    for p in range(31, 36):
        assert lines[p - 31] == f"s{p}: " + " ".join([f"s{p}"] * 5)
    strangers = " ".join(lines[5:10])
    assert strangers.count("unknown") == 20  # the card's 1:1 threshold lets 5 of 25 pass in 1:N
    assert lines[10:] == ["50", "25"]  # the stricter open-set threshold


def check_photo_pipeline(block, result, workdir, zoo_cache):
    assert result.stdout.splitlines() == ["3 (128,)"]


S36 = ["s36 0.957", "s36 0.971", "s36 0.974", "unknown 0.901", "s38 0.917"]


def check_face_embed_walkthrough(block, result, workdir, zoo_cache):
    assert all(s in block.code for s in S36)  # what the README shows
    lines = result.stdout.splitlines()
    assert lines == S36 + [" ".join(["unknown"] * 10)]
    assert (workdir / "galleries" / "orl" / "gallery.db").is_file()


def check_gallery_shell(block, result, workdir, zoo_cache):
    lines = result.stdout.splitlines()
    assert lines[0] == "enrolled 5 image(s) of s28; 11 people, 55 images in galleries/orl"
    assert re.fullmatch(r"probe\.png s28 0\.9\d{3}", lines[1]), lines


def check_face_id_knn(block, result, workdir, zoo_cache):
    assert result.stdout.splitlines() == ["s31 s31 s31"]


def check_gallery_store(block, result, workdir, zoo_cache):
    lines = result.stdout.splitlines()
    assert lines[0] == "s28 5" and all(re.fullmatch(r"  \d+ s28\.npy \S+", l) for l in lines[1:6])
    assert lines[6:8] == ["wrote orl.npz", "galleries/orl is already a gallery.db gallery; nothing to do"]
    assert re.fullmatch(r"probe\.png s28 0\.9\d{3}", lines[8]), lines
    assert "check ok: galleries/orl/gallery.db" in result.stderr


def check_pull_and_check(block, result, workdir, zoo_cache):
    """`zoo pull NAME` prints the cache folder; `zoo check` ends with its summary."""
    lines = result.stdout.splitlines()
    folder = Path(lines[0])
    assert folder.is_dir() and folder.is_relative_to(zoo_cache), lines[0]
    assert re.search(r"files match their sha256, .* (\d+) of \1 graphs pass on every engine$",
                     lines[-1]), lines[-1]


def check_export(block, result, workdir, zoo_cache):
    import json

    card = json.loads((workdir / "runs" / "quick" / "artifact" / "card.json").read_text())
    assert card["classes"][:2] == ["T-shirt/top", "Trouser"] and len(card["classes"]) == 10
    assert re.search(r"artifact: \d+ files match their sha256, the stored test data of 1 graph\(s\) "
                     r"reproduces, 1 of 1 graphs pass on every engine$", result.stdout), result.stdout[-500:]


CHECKS = {
    'strict = Gallery.from_model("face_resnet"': check_face_resnet_walkthrough,
    "pipeline = FacePipeline()": check_photo_pipeline,
    'gallery.save("galleries/orl")': check_face_embed_walkthrough,
    "--person s28 s28.npy": check_gallery_shell,
    'runtime.load("face_id_knn")': check_face_id_knn,
    "zoo gallery list --gallery galleries/orl": check_gallery_store,
    "zoo pull vae": check_pull_and_check,
    "zoo pull face_resnet": check_pull_and_check,
    "zoo export fmnist_cnn --run-dir runs/quick": check_export,
}


def test_every_check_finds_its_block():
    for key in CHECKS:
        found = [b for b in RUN if key in b.code]
        assert len(found) == 1 and not found[0].skip, (key, [b.line for b in found])


# ---- the command synopsis -------------------------------------------------------------

def synopsis_commands():
    """(words, options) of each `zoo ...` line of the Command line synopsis."""
    block = next(b for b in BLOCKS if b.section == "Command line" and b.lang == "")
    commands = []
    for line in block.code.splitlines():
        if not line.startswith("zoo "):
            continue
        words = []
        for word in line.split()[1:]:
            if not re.fullmatch(r"[a-z|]+", word):
                break
            words.append(word)
        options = re.findall(r"(--[a-z][a-z-]*)", line.split("   ")[0])
        for expanded in _expand(words):
            commands.append((expanded, options))
    return commands


def _expand(words):
    if not words:
        return [[]]
    return [[first] + rest for first in words[0].split("|") for rest in _expand(words[1:])]


def test_synopsis_lists_real_commands_and_options(capsys):
    from zoo.cli import _parser

    commands = synopsis_commands()
    assert len(commands) >= 15
    for words, options in commands:
        with pytest.raises(SystemExit) as exit_info:
            _parser().parse_args([*words, "--help"])
        assert exit_info.value.code == 0, words
        usage = capsys.readouterr().out
        missing = [o for o in options if o not in usage]
        assert missing == [], (words, missing)
