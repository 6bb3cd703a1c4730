"""`RuntimeModel`: the graphs of one artifact folder, run with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from zoo.retrieval import UNKNOWN, passes
from zoo.runtime.card import ArtifactError, read_card, verified_bytes
from zoo.runtime.preprocess import align_images, check_code, check_side_input, preprocess

# numpy dtype of each ONNX input type the zoo's graphs use.
RUN_CHUNK = 256  # images per onnxruntime call in embed / classify / ... of a large batch
_DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64}


class RuntimeModel:
    """ONNX inference for one artifact folder, driven by its `card.json`.

    Each method needs the card to list its graph; `verify` also works on an
    embed-only card through the card's `distance` and `threshold`.

    Args:
        folder: a folder with `card.json` and the ONNX files it lists.
        intra_op_num_threads: threads per operator; None lets onnxruntime
            decide.
    """

    def __init__(self, folder, *, intra_op_num_threads=None):
        options = session_options(intra_op_num_threads=intra_op_num_threads)
        self.folder = Path(folder)
        self.card = read_card(self.folder)
        self.name = self.card.get("name", self.folder.name)
        self.version = self.card.get("version")
        self.graphs = tuple(self.card["graphs"])
        self._sessions = {}
        for graph, spec in self.card["graphs"].items():
            data = verified_bytes(self.folder, self.card, spec["file"])
            try:
                session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            except Exception as error:  # onnxruntime raises its own untyped errors.
                raise ArtifactError(
                    f"onnxruntime cannot load {spec['file']!r} of {self.name!r} "
                    f"({error}). Re-export the artifact."
                ) from None
            self._check_names(graph, spec, session)
            self._check_metadata(spec, session)
            self._sessions[graph] = session
        self._dtypes = {graph: {t.name: _DTYPES.get(t.type, np.float32) for t in s.get_inputs()}
                        for graph, s in self._sessions.items()}

    def __repr__(self):
        return f"RuntimeModel(name={self.name!r}, graphs={self.graphs}, folder={str(self.folder)!r})"

    @property
    def threshold(self):
        """The card's `{"value", "direction"}` decision rule, or None."""
        return self.card.get("threshold")

    @property
    def distance(self):
        """The card's embedding distance, "cosine" or "euclidean", or None."""
        return self.card.get("distance")

    def run(self, graph, **inputs) -> dict:
        """Run `graph` on raw inputs; no preprocessing.

        Args:
            graph: a graph name from `self.graphs`.
            **inputs: one array per input name of the graph: floats, cast
                to float32, or integers for an int64 input (e.g. argmax).

        Returns:
            A dict from output name to array.
        """
        spec = self._graph(graph)
        expected = sorted(spec["inputs"])
        if sorted(inputs) != expected:
            raise ValueError(
                f"Graph {graph!r} takes inputs {expected}. "
                f"Received: inputs={sorted(inputs)}"
            )
        feeds = {}
        for key, value in inputs.items():
            array = np.asarray(value)
            dtype = self._dtypes[graph][key]
            kinds = "uif" if dtype == np.float32 else "ui"
            if array.dtype.kind not in kinds:
                raise ValueError(
                    f"Input {key!r} must be {'numeric' if kinds == 'uif' else 'integer'} "
                    f"({np.dtype(dtype).name}). Received: dtype={array.dtype}")
            want = spec["inputs"][key]
            if array.ndim != len(want) or any(w > 0 and w != d for w, d in zip(want, array.shape)):
                shown = tuple("N" if w < 0 else w for w in want)
                raise ValueError(
                    f"Input {key!r} of graph {graph!r} must be shaped {shown} (N >= 1 rows; "
                    "run() does no preprocessing: see embed(), classify(), ...). "
                    f"Received: shape={array.shape}")
            feeds[key] = array.astype(dtype, copy=False)
        names = list(spec["outputs"])
        try:
            return dict(zip(names, self._sessions[graph].run(names, feeds)))
        except Exception as error:  # onnxruntime raises its own untyped errors.
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"onnxruntime refused the inputs of graph {graph!r} of "
                             f"{self.name!r}: {first}. Received: shapes="
                             f"{ {k: v.shape for k, v in feeds.items()} }") from None

    def embed(self, images, *, resize=False, aligned=False) -> np.ndarray:
        """Embeddings [N, D] of `images` (see `preprocess` for accepted inputs).

        Args:
            images: the images; for a card with an `align` step (face_resnet),
                raw faces of any size (see `align_images`).
            resize: see `preprocess`.
            aligned: the images are chips already aligned like the card says.
        """
        return self._run_images("embed", images, resize, aligned)["embedding"]

    def align(self, images) -> np.ndarray:
        """The uint8 chips the card's `align` step makes of raw faces."""
        if not self.card["preprocess"].get("align"):
            raise ArtifactError(f"{self.name!r} has no align step in its card; pass its "
                                f"input images as they are. Received: preprocess={self.card['preprocess']}")
        return align_images(images, self.card["preprocess"]["align"])

    def embed_query(self, images, *, resize=False) -> np.ndarray:
        """Query-side embeddings [N, D] of a pseudo-Siamese model (e.g.
        sketches), to search a gallery built with `embed`."""
        return self._run_images("embed_query", images, resize)["embedding"]

    @property
    def classes(self):
        """The card's names of the `classify` / `identify` outputs, or None."""
        return self.card.get("classes")

    def classify(self, images, *, resize=False, aligned=False) -> np.ndarray:
        """Class probabilities [N, C] of `images` (names in `classes`; see `embed`)."""
        return self._run_images("classify", images, resize, aligned)["probabilities"]

    def identify(self, images, *, resize=False, threshold=None, aligned=False):
        """The enrolled identity of each image, or "unknown" (open set).

        Uses the `identify` graph (a similarity per identity) or, without one,
        the `classify` graph (a probability per class).

        Args:
            images: faces (see `preprocess` for accepted inputs).
            resize: see `preprocess`.
            threshold: a value replacing the card's threshold value.
            aligned: see `embed`.

        Returns:
            `(names [N] list of str, scores [N, C])`: a name from `classes`
            when its score passes the card's threshold, else "unknown";
            `scores[:, c]` is the score of identity `c`.
        """
        if "identify" in self._sessions or "classify" not in self._sessions:
            scores = self._run_images("identify", images, resize, aligned)["scores"]
        else:
            scores = self.classify(images, resize=resize, aligned=aligned)
        value, direction = self._rule(threshold)
        best = np.argmax(scores, axis=1) if direction == "greater" else np.argmin(scores, axis=1)
        known = passes(scores[np.arange(len(scores)), best], value, direction)
        classes = self.classes or [str(c) for c in range(scores.shape[1])]
        return [classes[b] if k else UNKNOWN for b, k in zip(best, known)], scores

    def encode(self, images, *, resize=False):
        """The code [N, k] of `images`, or a dict of every output when the
        graph has several: `mean` and `log_var` for a VAE; `code` and
        `argmax_K` for cae_unpool, ready for `decode(**encoded)`."""
        out = self._run_images("encode", images, resize)
        return out["code"] if list(out) == ["code"] else out

    def decode(self, code, **extra) -> np.ndarray:
        """Images [N, H, W, C] decoded from `code` [N, k] (or one code [k]).

        A decode graph with extra inputs takes them by name: cae_unpool's
        unpooling needs `argmax_1`, `argmax_2`, the `encode` outputs of the
        same images, so `decode(**encode(images))` reconstructs them.

        Args:
            code: [N, k] floats, or one code [k].
            **extra: the graph's extra inputs, shaped as in the card.
        """
        spec = self._graph("decode")
        key = "code" if "code" in spec["inputs"] else next(iter(spec["inputs"]))
        names = [n for n in spec["inputs"] if n != key]
        missing, unknown = [n for n in names if n not in extra], sorted(set(extra) - set(names))
        if missing or unknown:
            raise ValueError(
                f"The decode graph of {self.name!r} takes {[key, *names]} (missing: {missing}, "
                f"unknown: {unknown}). Its extra inputs are the encode outputs of the same "
                "names: encoded = model.encode(images); model.decode(**encoded). "
                f"Received: inputs={[key, *sorted(extra)]}")
        feeds = {key: check_code(code, spec["inputs"][key], name=key)}
        bounds = index_bounds(spec, names)
        for name in names:
            feeds[name] = check_side_input(extra[name], spec["inputs"][name], len(feeds[key]),
                                           self._dtypes["decode"][name], name=name,
                                           bound=bounds.get(name))
        return _single(self.run("decode", **feeds))

    def reconstruct(self, images, *, resize=False) -> np.ndarray:
        """Deterministic reconstructions [N, H, W, C] of `images`.

        ONNX forbids an output named like an input, so the single output of
        this graph is returned whatever its name.
        """
        return _single(self._run_images("reconstruct", images, resize))

    def verify(self, images_a, images_b, *, resize=False, threshold=None, aligned=False):
        """Score pairs and decide matches with the card's threshold.

        With a `verify` graph the score is its output; with only `embed`, it
        is the cosine similarity or euclidean distance of the embeddings, per
        the card's `distance`.

        Args:
            images_a: first images of the pairs, N of them.
            images_b: second images, N of them.
            resize: see `preprocess`.
            threshold: a value replacing the card's threshold value; the
                card's direction still applies.
            aligned: see `embed`.

        Returns:
            `(score [N], is_match [N] bool)`.
        """
        if "verify" not in self._sessions and not ("embed" in self._sessions and self.distance):
            raise ArtifactError(
                f"{self.name!r} cannot verify: it needs a 'verify' graph, or an "
                f"'embed' graph and a card 'distance'. Received: graphs={self.graphs}, "
                f"distance={self.distance!r}"
            )
        value, direction = self._rule(threshold)
        if "verify" in self._sessions:
            spec = self._graph("verify")
            if self.card["preprocess"].get("align") and not aligned:
                images_a, images_b = self.align(images_a), self.align(images_b)
            a = preprocess(images_a, self.card["preprocess"], spec["inputs"]["image_a"],
                           resize=resize, name="images_a")
            b = preprocess(images_b, self.card["preprocess"], spec["inputs"]["image_b"],
                           resize=resize, name="images_b")
            _same_batch(a, b)
            score = self.run("verify", image_a=a, image_b=b)["score"].reshape(len(a))
        else:
            a = self.embed(images_a, resize=resize, aligned=aligned)
            b = self.embed(images_b, resize=resize, aligned=aligned)
            _same_batch(a, b)
            score = pair_score(a, b, self.distance)
        return score, passes(score, value, direction)

    def _rule(self, threshold):
        card_rule = self.threshold
        if card_rule is None:
            raise ArtifactError(
                f"The card of {self.name!r} has no threshold, so matches cannot be "
                "decided. Use embed() or run('verify', ...) for raw scores. "
                f"Received: threshold={card_rule!r}"
            )
        if threshold is None:
            return float(card_rule["value"]), card_rule["direction"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) \
                or not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number or None. Received: threshold={threshold!r}")
        return float(threshold), card_rule["direction"]

    def _run_images(self, graph, images, resize, aligned=False):
        spec = self._graph(graph)
        (key, shape), = spec["inputs"].items()
        if self.card["preprocess"].get("align") and not aligned:
            images = self.align(images)
        n = len(images) if isinstance(images, np.ndarray) and images.ndim >= 3 else 0
        if n <= RUN_CHUNK:
            x = preprocess(images, self.card["preprocess"], shape, resize=resize, name="images")
            return self.run(graph, **{key: x})
        # A large batch goes through preprocess and onnxruntime RUN_CHUNK images at a time, so
        # peak memory is the outputs plus one chunk's activations, flat in the batch size.
        parts = []
        for start in range(0, n, RUN_CHUNK):
            x = preprocess(images[start:start + RUN_CHUNK], self.card["preprocess"], shape,
                           resize=resize, name="images")
            parts.append(self.run(graph, **{key: x}))
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}

    def _graph(self, graph) -> dict:
        if graph not in self._sessions:
            raise ArtifactError(
                f"{self.name!r} has no {graph!r} graph. Available graphs: "
                f"{list(self.graphs)}. Received: graph={graph!r}"
            )
        return self.card["graphs"][graph]

    def _check_metadata(self, spec, session):
        """The ONNX `metadata_props` zoo.name / zoo.version must be the card's."""
        props = session.get_modelmeta().custom_metadata_map
        found = (props.get("zoo.name"), props.get("zoo.version"))
        want = (self.card.get("name"), self.card.get("version"))
        if found != want:
            raise ArtifactError(
                f"{spec['file']!r} in {str(self.folder)!r} is not the card's graph: its ONNX "
                f"metadata names {found[0]!r} version {found[1]!r}, the card {want[0]!r} "
                f"version {want[1]!r}. Re-pull or re-export the artifact. Received: "
                f"zoo.name={found[0]!r}, zoo.version={found[1]!r}")

    def _check_names(self, graph, spec, session):
        for io, actual in (("inputs", session.get_inputs()), ("outputs", session.get_outputs())):
            names = sorted(t.name for t in actual)
            if names != sorted(spec[io]):
                raise ArtifactError(
                    f"The {io} of {spec['file']!r} are {names}, but card.json lists "
                    f"{sorted(spec[io])} for graph {graph!r}. Re-export the artifact."
                )


def index_bounds(spec, names) -> dict:
    """{input: H*W*C}: how many positions the flat argmax indices of each extra
    4-d input may address. Unpooling an [h, w, C] argmax restores the next larger
    spatial size of the decoder: another argmax input's, or the output image's."""
    shapes = {n: spec["inputs"][n] for n in names if len(spec["inputs"][n]) == 4}
    sizes = [tuple(s[1:3]) for s in shapes.values()]
    sizes += [tuple(s[1:3]) for s in spec["outputs"].values() if len(s) == 4]
    bounds = {}
    for name, shape in shapes.items():
        h, w, c = shape[1:]
        larger = sorted(z for z in sizes if z[0] > h and z[1] > w)
        if h > 0 and w > 0 and c > 0 and larger and larger[0][0] > 0 and larger[0][1] > 0:
            bounds[name] = larger[0][0] * larger[0][1] * c
    return bounds


def session_options(*, intra_op_num_threads=None) -> ort.SessionOptions:
    """The onnxruntime options of every `RuntimeModel` session: all graph
    optimisations, errors-only logging.

    Args:
        intra_op_num_threads: threads per operator; None lets onnxruntime
            decide (one per physical core).
    """
    if intra_op_num_threads is not None and (
        isinstance(intra_op_num_threads, bool)
        or not isinstance(intra_op_num_threads, int)
        or intra_op_num_threads < 1
    ):
        raise ValueError(
            "intra_op_num_threads must be a positive int or None. "
            f"Received: intra_op_num_threads={intra_op_num_threads!r}"
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if intra_op_num_threads is not None:
        options.intra_op_num_threads = intra_op_num_threads
    return options


def pair_score(a, b, distance) -> np.ndarray:
    """Row-wise cosine similarity or euclidean distance of two [N, D] arrays.

    Args:
        a: embeddings [N, D].
        b: embeddings [N, D].
        distance: "cosine" (higher = closer) or "euclidean" (lower = closer).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if distance == "cosine":
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        return ((a * b).sum(axis=1) / np.maximum(norms, 1e-12)).astype(np.float32)
    if distance == "euclidean":
        return np.linalg.norm(a - b, axis=1).astype(np.float32)
    raise ValueError(f"distance must be 'cosine' or 'euclidean'. Received: distance={distance!r}")


def _same_batch(a, b):
    if len(a) != len(b):
        raise ValueError(
            "images_a and images_b must hold the same number of images. "
            f"Received: len(images_a)={len(a)}, len(images_b)={len(b)}"
        )


def _single(outputs):
    (value,) = outputs.values()
    return value
