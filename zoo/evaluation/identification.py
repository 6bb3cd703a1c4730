"""Identification against an enrolled gallery: closed set and open set.

Each probe is matched to its nearest gallery embedding (a gallery may hold
several embeddings per identity). The match score is a similarity, higher =
more alike: the cosine similarity for "cosine", minus the Euclidean distance
for "euclidean".
"""

import numpy as np

from zoo.evaluation import _checks
from zoo.evaluation.retrieval import distance_matrix


def _inputs(gallery_embeddings, gallery_labels, probe_embeddings, probe_labels, distance):
    g, gl, p, pl = _checks.labelled_sets(gallery_embeddings, gallery_labels, probe_embeddings,
                                         probe_labels, ("gallery", "probe"))
    return g, gl, p, pl, _checks.distance(distance)


def top1_matches(gallery, gallery_labels, probes, distance="cosine", block_size=1024):
    """Label and similarity of each probe's nearest gallery item: ([P], [P])."""
    labels = np.empty(probes.shape[0], dtype=np.asarray(gallery_labels).dtype)
    scores = np.empty(probes.shape[0])
    for start in range(0, probes.shape[0], block_size):
        d = distance_matrix(probes[start:start + block_size], gallery, distance)
        best = np.argmin(d, axis=1)
        dmin = d[np.arange(best.size), best]
        labels[start:start + best.size] = np.asarray(gallery_labels)[best]
        scores[start:start + best.size] = 1.0 - dmin if distance == "cosine" else -np.sqrt(dmin)
    return labels, scores


def closed_set_top1(gallery_embeddings, gallery_labels, probe_embeddings, probe_labels,
                    distance="cosine"):
    """Closed-set rank-1 identification rate: every probe's identity is enrolled.

    Args:
        gallery_embeddings: [M, D]; gallery_labels: [M].
        probe_embeddings: [P, D]; probe_labels: [P], each present in the gallery.
        distance: "cosine" or "euclidean".
    """
    g, gl, p, pl, distance = _inputs(gallery_embeddings, gallery_labels, probe_embeddings,
                                     probe_labels, distance)
    unknown = np.setdiff1d(pl, gl)
    if unknown.size:
        raise ValueError("closed-set identification needs every probe identity in the "
                         "gallery; use open_set_dir_at_far for unknown probes. "
                         f"Received: probe labels not in the gallery {unknown[:8]}")
    predicted, _ = top1_matches(g, gl, p, distance)
    return float(np.mean(predicted == pl))


def open_set_dir_at_far(gallery_embeddings, gallery_labels, probe_embeddings, probe_labels,
                        far=1e-2, distance="cosine"):
    """Open-set detection and identification rate (DIR) at a false alarm rate.

    Probes whose identity is enrolled are genuine; the others are impostors.
    The threshold t is the most permissive one whose FAR (impostors with
    top-1 score >= t) is <= `far`; DIR = fraction of genuine probes whose
    top-1 identity is correct AND whose top-1 score is >= t.

    Args:
        gallery_embeddings: [M, D]; gallery_labels: [M].
        probe_embeddings: [P, D]; probe_labels: [P] (needs both kinds).
        far: allowed false alarm rate in [0, 1].
        distance: "cosine" or "euclidean".

    Returns:
        {"dir", "threshold" (a similarity, accept if >=), "far" (achieved),
         "num_genuine", "num_impostor"}.
    """
    g, gl, p, pl, distance = _inputs(gallery_embeddings, gallery_labels, probe_embeddings,
                                     probe_labels, distance)
    if not 0.0 <= float(far) <= 1.0:
        raise ValueError(f"far must be a rate in [0, 1], e.g. 1e-2. Received: far={far!r}")
    genuine = np.isin(pl, gl)
    if genuine.all() or not genuine.any():
        raise ValueError("open-set DIR needs both enrolled (genuine) and unenrolled (impostor) "
                         f"probes. Received: {int(genuine.sum())} genuine, "
                         f"{int((~genuine).sum())} impostor probes")
    predicted, scores = top1_matches(g, gl, p, distance)
    impostor = np.sort(scores[~genuine])[::-1]
    allowed = int(np.floor(float(far) * impostor.size + 1e-9))
    if allowed >= impostor.size:
        threshold = float(scores.min())
    else:
        # Just above the (allowed + 1)-th highest impostor score: at most
        # `allowed` impostors pass, even with ties.
        threshold = float(np.nextafter(impostor[allowed], np.inf))
    accepted = scores >= threshold
    hit = genuine & accepted & (predicted == pl)
    return {
        "dir": float(hit.sum() / genuine.sum()),
        "threshold": threshold,
        "far": float(accepted[~genuine].mean()),
        "num_genuine": int(genuine.sum()),
        "num_impostor": int((~genuine).sum()),
    }
