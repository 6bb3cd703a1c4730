"""The layer records of dlib's `dnn` networks (`dlib/dnn/core.h`, `layers.h`), in NumPy.

`read_network` walks a network serialized by dlib, given its layers input to
output (see `zoo.faces.dlib_format` for the order of the records), and fills
each `Layer`'s weights. The file-specific readers (`resnet_dat`, `mmod_dat`)
read the loss and input records around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zoo.faces.dlib_format import DlibReader

WRAPPERS = ("tag", "skip")  # add_tag_layer / add_skip_layer: no record of their own


@dataclass
class Layer:
    """One layer of a dlib network, input to output.

    Args:
        kind: con, affine, relu, max_pool, avg_pool, add_prev, fc, tag or skip.
        args: the layer's template arguments (filters, size, stride; a tag's id).
        weights: the arrays read from the file, by name (a con's also its "padding").
    """

    kind: str
    args: tuple = ()
    weights: dict = field(default_factory=dict)


def read_versions(r: DlibReader, layers: list[Layer]) -> list[int]:
    """The wrapper versions, written outermost first; returned input to output."""
    versions = [r.version(1) if layer.kind in WRAPPERS else r.version(1, 2)
                for layer in reversed(layers[1:])]
    return [r.version(2, 3), *reversed(versions)]  # the input-level add_layer is innermost


def read_layers(r: DlibReader, layers: list[Layer], versions: list[int]) -> None:
    """Each layer's record and training state, input to output, after the input record."""
    for i, (layer, version) in enumerate(zip(layers, versions)):
        if layer.kind in WRAPPERS:
            continue
        READERS[layer.kind](r, layer)
        _read_state(r, version, input_level=i == 0)
    if not r.at_end:
        raise r.fail("unexpected bytes after the network")


def _read_state(r: DlibReader, version: int, input_level: bool) -> None:
    """Skip a wrapper's training state: three flags and its cached tensors."""
    for _ in range(3):
        r.bool()
    r.tensor(), r.tensor()  # x_grad, cached_output
    if input_level or version == 2:
        r.tensor()  # grad_final (input level) | params_grad (add_layer v2)
    if input_level and version == 3:
        r.int()  # _sample_expansion_factor


def split(r: DlibReader, params: np.ndarray, *shapes) -> list[np.ndarray]:
    """`params` cut into arrays of `shapes` (alias_tensors), which must fill it."""
    flat, out, start = params.reshape(-1), [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[start : start + size].reshape(shape))
        start += size
    if start != flat.size:
        raise r.fail(f"parameter count {flat.size} does not match shapes {shapes}")
    return out


def _read_con(r: DlibReader, layer: Layer) -> None:
    filters, size, stride = layer.args
    r.expect("con_4")
    params = r.tensor()
    geometry = [r.int() for _ in range(5)]  # filters, nr, nc, stride y/x
    if geometry != [filters, size, size, stride, stride]:
        raise r.fail(f"con geometry {geometry} is not {[filters, size, size, stride, stride]}")
    padding = (r.int(), r.int())
    if not all(0 <= p < size for p in padding):
        raise r.fail(f"bad con padding {padding} for a {size}x{size} filter")
    shape_w, shape_b = r.alias_tensor(), r.alias_tensor()
    r.floats(4)  # learning-rate and weight-decay multipliers
    kernel, bias = split(r, params, shape_w, shape_b)
    # dlib: (out, in, kh, kw) cross-correlation; Keras: (kh, kw, in, out).
    layer.weights = {"kernel": kernel.transpose(2, 3, 1, 0), "bias": bias.reshape(-1),
                     "padding": padding}


def _read_affine(r: DlibReader, layer: Layer) -> None:
    """An `affine_` record, or a `bn_con2` one folded into the affine layer dlib
    makes of it (`affine_(const bn_&)`): `gamma / sqrt(running_var + eps)` and
    `beta - gamma' * running_mean`."""
    kind = r.expect("affine_", "bn_con2")
    params = r.tensor()
    gamma, beta = (a.reshape(-1) for a in split(r, params, r.alias_tensor(), r.alias_tensor()))
    if kind == "affine_":
        if r.int() != 0:  # layer_mode: 0 CONV_MODE, 1 FC_MODE
            raise r.fail("affine layer is not in CONV_MODE")
        layer.weights = {"gamma": gamma, "beta": beta}
        return
    r.tensor(), r.tensor()  # means, invstds of the last training batch
    running_mean, running_var = r.tensor().reshape(-1), r.tensor().reshape(-1)
    r.int(), r.int()  # num_updates, running_stats_window_size
    r.floats(4)  # learning-rate and weight-decay multipliers
    eps = r.float()
    if running_mean.size != gamma.size or running_var.size != gamma.size:
        raise r.fail(f"bn_con2 running stats of sizes {running_mean.size}, {running_var.size} "
                     f"for {gamma.size} channels")
    scale = gamma / np.sqrt(running_var + np.float32(eps))
    layer.weights = {"gamma": scale.astype(np.float32),
                     "beta": (beta - scale * running_mean).astype(np.float32)}


def _read_relu(r: DlibReader, layer: Layer) -> None:
    r.expect("relu_")


def _read_pool(r: DlibReader, layer: Layer) -> None:
    size, stride = layer.args
    r.expect("max_pool_2" if layer.kind == "max_pool" else "avg_pool_2")
    geometry = [r.int() for _ in range(6)]  # nr, nc, stride y/x, padding y/x
    if geometry != [size, size, stride, stride, 0, 0]:
        raise r.fail(f"{layer.kind} geometry {geometry} is not {[size, size, stride, stride, 0, 0]}")


def _read_add_prev(r: DlibReader, layer: Layer) -> None:
    r.expect("add_prev_")


def _read_fc(r: DlibReader, layer: Layer) -> None:
    (outputs,) = layer.args
    r.expect("fc_2")
    n_out, n_in = r.int(), r.int()
    if n_out != outputs:
        raise r.fail(f"fc has {n_out} outputs, expected {outputs}")
    params = r.tensor()
    (weights,) = split(r, params, r.alias_tensor())
    r.alias_tensor()  # biases: empty with FC_NO_BIAS
    if r.int() != 1:  # fc_bias_mode FC_NO_BIAS
        raise r.fail("fc layer has a bias; expected fc_no_bias")
    r.floats(4)
    layer.weights = {"kernel": weights.reshape(n_in, n_out)}


READERS = {"con": _read_con, "affine": _read_affine, "relu": _read_relu, "max_pool": _read_pool,
           "avg_pool": _read_pool, "add_prev": _read_add_prev, "fc": _read_fc}
