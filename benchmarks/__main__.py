"""Run every benchmark and print one report: `python -m benchmarks`."""

import argparse

from benchmarks import autoencoders, faces, metric_learning

SECTIONS = (metric_learning, faces, autoencoders)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from-cards", action="store_true",
                        help="read metrics from the cards instead of re-measuring")
    args = parser.parse_args()
    print("\n".join(section.run(args.from_cards) for section in SECTIONS))


if __name__ == "__main__":
    main()
