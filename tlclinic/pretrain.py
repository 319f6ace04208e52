"""Pretrain the mini Inception backbone on the ``source`` task and save its weights.

    python -m tlclinic.pretrain            # writes data/weights/mini_inception.weights.h5

The source task (six shape classes: triangles, crosses, stars, rings, stripes,
crescents) shares no class with ``shapes`` or ``road``.  The run is seeded and,
on the TensorFlow backend, uses deterministic ops, so the same seed gives the
same weights on the same machine and library versions (run it in a fresh
process: TensorFlow's first training run in a process can differ from later ones
in the last bits).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np

from . import data
from .backbone import MINI_WEIGHTS, build_mini_inception, file_digest, scale_to_unit_range
from .training import fit_shuffled


def make_deterministic(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def pretrain(epochs: int = 12, seed: int = 0, limit: int | None = None, out: Path = MINI_WEIGHTS,
             verbose: int = 2) -> dict:
    """Train the network with a softmax top on ``source``; save the backbone's weights to ``out``."""
    make_deterministic(seed)
    x_train, y_train = data.load("source", "train")
    x_test, y_test = data.load("source", "test")
    if limit:  # a quick check: about ``limit`` training images and as many test images
        x_train, y_train = x_train[:: len(x_train) // limit], y_train[:: len(y_train) // limit]
        x_test, y_test = x_test[:: max(1, len(x_test) // limit)], y_test[:: max(1, len(y_test) // limit)]
    model = build_mini_inception(num_classes=int(y_train.max()) + 1)
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal_and_vertical", seed=seed)])
    x_aug = np.concatenate([x_train, np.asarray(augment(x_train, training=True), dtype=np.uint8)])
    y_aug = np.concatenate([y_train, y_train])
    steps = epochs * -(-len(x_aug) // 64)
    schedule = keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = fit_shuffled(model, scale_to_unit_range(x_aug), y_aug, epochs=epochs, batch_size=64, seed=seed,
                           validation_data=(scale_to_unit_range(x_test), y_test), verbose=verbose)
    backbone = keras.Model(model.input, model.get_layer("features").output)
    out.parent.mkdir(parents=True, exist_ok=True)
    backbone.save_weights(out)
    report = {"epochs": epochs, "seed": seed, "train_images": int(len(x_aug)),
              "source_test_accuracy": round(float(history["val_accuracy"][-1]), 4),
              "weights_sha256_16": file_digest(out)}
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tlclinic.pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="train on about this many images (quick checks)")
    parser.add_argument("--out", type=Path, default=MINI_WEIGHTS)
    parser.add_argument("--quiet", action="store_true", help="print only the final report")
    args = parser.parse_args(argv)
    print(json.dumps(pretrain(args.epochs, args.seed, args.limit, args.out, verbose=0 if args.quiet else 2), indent=1))


if __name__ == "__main__":
    main()
