"""The `make bench` report: machine description and the missed-target summary."""

import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import machine, missed


def test_machine_names_cpu_cores_python_and_versions():
    text = machine()
    assert "logical cores" in text and "Python" in text
    assert "keras " in text and "onnxruntime " in text


def test_missed_picks_the_missed_rows_of_targets_tables_only():
    report = ("| figure | measured | target | verdict |\n| --- | --- | --- | --- |\n"
              "| a | 0.5 | >= 0.9 | MISSED |\n| b | 0.9 | >= 0.9 | met |\n"
              "MISSED in prose is not a row\n\n"
              "| model | speed-up | verdict |\n| --- | --- | --- |\n| m | 2x | MISSED |\n")
    assert missed(report) == ["| a | 0.5 | >= 0.9 | MISSED |"]


def test_importing_the_report_does_not_import_tensorflow():
    code = "import sys, benchmarks.__main__; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], check=True)
    assert result.stdout.strip() == "False"
