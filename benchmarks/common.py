"""Helpers shared by the benchmarks: re-measure published models, format tables."""

import json
from pathlib import Path

import zoo

SAVED = Path(__file__).resolve().parents[1] / "saved_models"


def card(name) -> dict:
    """The published card of `name`, or {} when it is not published."""
    path = SAVED / name / "card.json"
    return json.loads(path.read_text()) if path.exists() else {}


def remeasure(name) -> dict:
    """Load the published weights and run the entry's own evaluation again."""
    spec = zoo.info(name)
    return spec.resolve_recipe().evaluate(zoo.load(name))


def markdown(rows, header) -> str:
    """A Markdown table from a header tuple and rows of values."""
    def cell(v):
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(measured, target, higher=True) -> str:
    if measured is None:
        return "not measured"
    met = measured >= target if higher else measured <= target
    return "met" if met else "MISSED"
