"""Verification metrics: ROC, EER, TAR@FAR, threshold calibration, report.

Conventions:
    labels: 1 = same identity (genuine pair), 0 = different (impostor).
    direction: "greater" = a pair matches when score >= threshold (a
        similarity); "less" = it matches when score <= threshold (a
        distance). This is the card's `threshold.direction`.
    FAR = impostor pairs accepted / impostor pairs; TAR = genuine pairs
        accepted / genuine pairs; FRR = 1 - TAR.
"""

from typing import NamedTuple

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from zoo.evaluation import _checks, _plot


class Roc(NamedTuple):
    """ROC points, one per distinct score, from the strictest threshold.

    `thresholds[i]` accepts scores >= it ("greater") or <= it ("less");
    `thresholds[0]` is +inf ("greater") / -inf ("less"): nothing accepted.
    """

    far: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray


def _inputs(scores, labels, direction):
    s = _checks.scores(scores)
    y = _checks.binary_labels(labels, s.shape[0])
    return s, y, _checks.direction(direction)


def _orient(s, direction):
    """Scores where larger always means "more likely the same"."""
    return s if direction == "greater" else -s


def roc(scores, labels, direction="greater"):
    """The ROC curve (sklearn `roc_curve`, all points kept).

    Args:
        scores: [N] pair scores.
        labels: [N] in {0, 1}, 1 = same; both values must occur.
        direction: "greater" or "less".

    Returns:
        `Roc(far, tar, thresholds)`, thresholds in the scores' own units.
    """
    s, y, direction = _inputs(scores, labels, direction)
    far, tar, thr = roc_curve(y, _orient(s, direction), drop_intermediate=False)
    return Roc(far, tar, _orient(thr, direction))


def _eer(curve):
    frr_minus_far = (1.0 - curve.tar) - curve.far  # starts at 1, ends at -1
    i = int(np.argmax(frr_minus_far <= 0.0))
    a, b = frr_minus_far[i - 1], frr_minus_far[i]
    t = a / (a - b)
    return float(curve.far[i - 1] + t * (curve.far[i] - curve.far[i - 1]))


def eer(scores, labels, direction="greater"):
    """Equal error rate: where FAR = FRR.

    Linear interpolation along the ROC segment crossing FAR = FRR (the
    segment between two consecutive thresholds, i.e. the ROC convex
    combination), so ties and small sets give a well-defined value.

    Args:
        scores, labels, direction: as in `roc`.
    """
    return _eer(roc(scores, labels, direction))


def _tar_at_far(curve, far):
    return float(np.max(curve.tar[curve.far <= far]))


def _check_far(far):
    if not 0.0 <= float(far) <= 1.0:
        raise ValueError(f"far must be a rate in [0, 1], e.g. 1e-3. Received: far={far!r}")
    return float(far)


def tar_at_far(scores, labels, far, direction="greater"):
    """TAR at the most permissive threshold whose empirical FAR is <= `far`.

    No interpolation between ROC points: the value is achieved by an actual
    threshold on these data. With M impostor pairs, FAR moves in steps of
    1/M, so `far` < 1/M means FAR = 0.

    Args:
        scores, labels, direction: as in `roc`.
        far: the false accept rate bound, in [0, 1].
    """
    far = _check_far(far)
    return _tar_at_far(roc(scores, labels, direction), far)


def accuracy_at_threshold(scores, labels, threshold, direction="greater"):
    """Fraction of pairs decided correctly by `threshold`.

    Args:
        scores: [N]; labels: [N] in {0, 1} (one class is enough here).
        threshold: the decision threshold in score units.
        direction: "greater" (match if score >= threshold) or "less".
    """
    s = _checks.scores(scores)
    y = _checks.binary_labels(labels, s.shape[0], need_both=False)
    direction = _checks.direction(direction)
    accept = s >= threshold if direction == "greater" else s <= threshold
    return float(np.mean(accept == y.astype(bool)))


def _parse_rule(rule):
    if rule == "accuracy":
        return "accuracy", None
    if isinstance(rule, (tuple, list)) and len(rule) == 2 and rule[0] == "far":
        return "far", _check_far(rule[1])
    raise ValueError(f"rule must be 'accuracy' or ('far', rate), e.g. ('far', 1e-3). "
                     f"Received: rule={rule!r}")


def calibrate_threshold(scores, labels, direction="greater", rule="accuracy"):
    """A decision threshold chosen on (validation) pairs.

    rule "accuracy": maximise accuracy; ties go to the strictest cut, and the
    threshold is placed midway between the last accepted and the first
    rejected score (a margin for unseen data).
    rule ("far", x): the most permissive threshold with FAR <= x (the one
    `tar_at_far` uses); if only "accept nothing" qualifies, a value just
    beyond the strictest score.

    Args:
        scores, labels, direction: as in `roc`.
        rule: "accuracy" or ("far", x).

    Returns:
        The threshold (float) in score units, used as in `direction`.
    """
    kind, far = _parse_rule(rule)
    s, y, direction = _inputs(scores, labels, direction)
    o = _orient(s, direction)
    fars, tars, thr = roc_curve(y, o, drop_intermediate=False)  # thr[0] = inf
    if kind == "far":
        i = int(np.flatnonzero(fars <= far)[-1])
    else:
        n_pos = y.sum()
        acc = (tars * n_pos + (1.0 - fars) * (y.size - n_pos)) / y.size
        i = int(np.argmax(acc))
    if i == 0:
        cut = float(np.nextafter(thr[1], np.inf))
    elif kind == "accuracy" and i + 1 < thr.size:
        cut = 0.5 * (thr[i] + thr[i + 1])
        cut = cut if thr[i + 1] < cut <= thr[i] else thr[i]
    else:
        cut = thr[i]
    return float(cut if direction == "greater" else -cut)


def _rule_name(rule):
    kind, far = _parse_rule(rule)
    return "max accuracy" if kind == "accuracy" else f"FAR={far:g}"


def verification_report(val_scores, val_labels, test_scores, test_labels,
                        direction="greater", rule="accuracy"):
    """Threshold calibrated on validation, metrics measured on test.

    Args:
        val_scores, val_labels: validation pairs (threshold only).
        test_scores, test_labels: test pairs (every metric).
        direction: "greater" or "less".
        rule: see `calibrate_threshold`.

    Returns:
        {"threshold", "direction", "rule", "calibrated_on", "val_accuracy",
         "test_accuracy", "roc_auc", "eer", "tar_at_far_1e-2",
         "tar_at_far_1e-3"}; metrics are on test.
    """
    threshold = calibrate_threshold(val_scores, val_labels, direction, rule)
    s, y, direction = _inputs(test_scores, test_labels, direction)
    curve = roc(s, y, direction)
    return {
        "threshold": threshold,
        "direction": direction,
        "rule": _rule_name(rule),
        "calibrated_on": "validation",
        "val_accuracy": accuracy_at_threshold(val_scores, val_labels, threshold, direction),
        "test_accuracy": accuracy_at_threshold(s, y, threshold, direction),
        "roc_auc": float(roc_auc_score(y, _orient(s, direction))),
        "eer": _eer(curve),
        "tar_at_far_1e-2": _tar_at_far(curve, 1e-2),
        "tar_at_far_1e-3": _tar_at_far(curve, 1e-3),
    }


def plot_roc(scores, labels, path, direction="greater", title="ROC"):
    """Save the ROC curve (TAR against FAR) with AUC and EER as a PNG.

    Args:
        scores, labels, direction: as in `roc`.
        path: the PNG file; written atomically.
        title: the plot title.

    Returns:
        The written path.
    """
    curve = roc(scores, labels, direction)
    s, y, _ = _inputs(scores, labels, direction)
    auc = roc_auc_score(y, _orient(s, direction))
    fig, ax = _plot.new_figure()
    ax.plot(curve.far, curve.tar, lw=1.5, label=f"AUC {auc:.4f}, EER {_eer(curve):.4f}")
    ax.plot([0, 1], [0, 1], ls=":", c="grey", lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="FAR (false accept rate)",
           ylabel="TAR (true accept rate)", title=title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _plot.save_png(fig, path)
