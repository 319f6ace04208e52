"""The workbook's main job: ``make demo``.

Reports the device, draws the datasets if needed, loads the pretrained backbone,
caches the features of every split and shows that they transfer: a linear probe
on ``shapes`` with the pretrained weights against the same network with random ones.
"""
from __future__ import annotations

import time

from . import data, device
from .backbone import get_backbone
from .features import cached_features
from .training import linear_probe

SPLITS = {"shapes": ("train", "test"), "road": ("train", "val")}


def main() -> None:
    device.report()
    start = time.perf_counter()
    for name in data.RECIPES:
        data.ensure(name)
    print(f"\ndata ready under {data.DATA_DIR} in {time.perf_counter() - start:.1f} s")
    rows = []
    for weights in ("pretrained", None):
        backbone = get_backbone("mini_inception", weights=weights)
        start = time.perf_counter()
        cached = {(n, s): cached_features(n, s, backbone) for n, splits in SPLITS.items() for s in splits}
        accuracy = linear_probe(cached["shapes", "train"], cached["shapes", "test"])
        rows.append((weights or "random", accuracy, time.perf_counter() - start))
    print("\nlinear probe on shapes (test accuracy), mini_inception backbone")
    print(f"{'weights':<12}{'accuracy':>10}{'seconds':>10}")
    for weights, accuracy, seconds in rows:
        print(f"{weights:<12}{accuracy:>10.3f}{seconds:>10.1f}")


if __name__ == "__main__":
    main()
