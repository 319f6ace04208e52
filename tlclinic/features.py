"""Features of a dataset under a frozen backbone, computed once and cached.

The backbone is frozen, so its output for an image never changes: the workbook
computes it once per (backbone, weights, dataset, split, input size,
preprocessing) and keeps it in memory and in ``data/features/``.  Heads then
train on the cached features in about a second.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import keras
import numpy as np

from . import data
from .backbone import Backbone, get_backbone
from .progress import progress

_MEMORY: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def feature_model(backbone: Backbone, image_shape: tuple[int, int, int],
                  resize_to: tuple[int, int] | None = None) -> keras.Model:
    """Preprocessed images of ``image_shape`` -> the backbone's pooled features.

    ``resize_to`` puts a ``keras.layers.Resizing`` in front of the backbone (question 002
    resized its 96x320 driving images to InceptionV3's input inside the model).
    """
    height, width = resize_to or image_shape[:2]
    backbone.check_size(height, width)
    inputs = keras.Input(image_shape)
    x = keras.layers.Resizing(height, width)(inputs) if resize_to else inputs
    return keras.Model(inputs, backbone.model(x, training=False))


def extract(backbone: Backbone, images: np.ndarray, resize_to: tuple[int, int] | None = None,
            batch_size: int = 64, desc: str = "features") -> np.ndarray:
    """Pooled features (N, D) of uint8 images (N, H, W, 3), with a progress bar."""
    model = feature_model(backbone, images.shape[1:], resize_to)
    chunk = 8 * batch_size
    parts = [model.predict(backbone.preprocess(images[i:i + chunk]), batch_size=batch_size, verbose=0)
             for i in progress(range(0, len(images), chunk), desc)]
    return np.concatenate(parts).astype(np.float32)


def cache_key(backbone: Backbone, dataset: str, split: str, folder: Path,
              resize_to: tuple[int, int] | None) -> str:
    parts = {"backbone": backbone.name, "weights": backbone.weights_id, "dataset": dataset, "split": split,
             "data": data.identity(folder), "resize_to": list(resize_to) if resize_to else None,
             "preprocess": backbone.preprocess.__name__}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def cached_features(dataset: str, split: str, backbone: Backbone | str = "mini_inception",
                    resize_to: tuple[int, int] | None = None, root: Path | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(features, targets) of one split of a workbook dataset, from the cache when it can.

    The cache lives in memory and in ``<data>/features/``; any change of backbone,
    weights, data, split, input size or preprocessing gives a new key and recomputes.
    """
    if isinstance(backbone, str):
        backbone = get_backbone(backbone)
    root = Path(root or data.DATA_DIR)
    folder = data.ensure(dataset, root) / split
    key = cache_key(backbone, dataset, split, folder, resize_to)
    if key in _MEMORY:
        return _MEMORY[key]
    path = root / "features" / f"{dataset}-{split}-{backbone.name}-{key}.npz"
    if path.exists():
        with np.load(path) as stored:
            result = stored["features"], stored["targets"]
    else:
        images, targets = data.load(dataset, split, root)
        result = extract(backbone, images, resize_to, desc=f"{backbone.name} features of {dataset}/{split}"), targets
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")  # kernels side by side may both compute it
        np.savez(tmp, features=result[0], targets=result[1])
        tmp.replace(path)
    _MEMORY[key] = result
    return result


def clear_memory() -> None:
    """Forget the features held in memory (the files in data/features/ stay)."""
    _MEMORY.clear()
