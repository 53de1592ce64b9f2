"""Draw drift20's time against N per tool (log y) from its JSON. Run in the benchmark's venv
(it has matplotlib; provision's own does not): `BENCH_VENV/bin/python plot.py drift20.json out.png`."""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(source: str, target: str) -> None:
    with open(source) as handle:
        data = json.load(handle)
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, label in data["labels"].items():
        points = [(row["hosts"], row["tools"][name]["seconds"]) for row in data["rows"] if name in row["tools"]]
        if points:
            axes.plot(*zip(*points), marker="o", label=label, linestyle=":" if name == "floor" else "-")
    axes.set_yscale("log")
    sizes = [row["hosts"] for row in data["rows"]]
    if sizes and max(sizes) >= 10 * min(sizes):  # 10 ... 1,000 hosts: spread them evenly
        axes.set_xscale("log")
    axes.set_xlabel("hosts (N)")
    axes.set_ylabel("median seconds (log)")
    axes.set_title(f"drift20, converged fleet, check mode; {data['date']}, {data['cores']} cores", fontsize=10)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(target)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
