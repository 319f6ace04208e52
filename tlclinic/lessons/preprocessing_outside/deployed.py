"""Train a program as its data pipeline feeds it, then call it as it is deployed: on images as they are loaded.

``train_deployed`` is the run the lesson shows, the live control redraws and the check judges: the model is fitted
on the training images after the program's ``preprocessing``, validated (as Keras prints it) on the test images
after the same preprocessing, and called after each epoch on the raw test images, pixels 0..255, as
``model.predict(img_to_array(load_img(path)))`` calls it.  It also measures what the backbone inside the model
receives in training and when deployed.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np

from ... import data
from ...backbone import backbone_in, fed_to, get_backbone
from ...training import CompiledHeads, FirstPicture, Run, fit_shuffled, in_chunks, validation_outputs

TRAIN_IMAGES = 500  # a fixed half of the 1000 training images, 250 per class: the same for every seed
EPOCHS, BATCH_SIZE = 3, 16
SUBSET_SEED = 12345  # which training images: fixed, so that every seed trains on the same ones


@dataclass
class DeployedRun(Run):
    """A run whose ``val_predictions`` are the model's outputs on the raw test images after each epoch (as
    deployed), with the outputs on the test images as the pipeline feeds them, and what the backbone received."""

    pipeline_predictions: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    train_range: tuple[float, float] = (0.0, 0.0)  # min and max of the backbone's input in training
    deployed_range: tuple[float, float] = (0.0, 0.0)  # ... when the model is called on raw images


def raw_images(split: str) -> tuple[np.ndarray, np.ndarray]:
    """``shapes``' images of ``split`` as loaded from disk (float32, 0..255) and their 0/1 labels; for "train" the
    fixed balanced subset of ``TRAIN_IMAGES``.  Read once per process (its 1100 files take a second on a 2-core
    machine, which every run would pay) and kept read-only."""
    return _raw_images(split, data.identity(data.ensure("shapes") / split))


@functools.lru_cache(maxsize=2)
def _raw_images(split: str, identity: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = data.load("shapes", split)
    if split == "train":
        rng = np.random.default_rng(SUBSET_SEED)
        taken = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:TRAIN_IMAGES // 2] for c in (0, 1)]))
        x, y = x[taken], y[taken]
    x, y = x.astype(np.float32), y.astype(np.float32)
    for array in (x, y):
        array.setflags(write=False)
    return x, y


RESCALED_KEPT = 2  # the images a ``Rescaling`` gave last, kept: one pipeline's training and test images


def preprocessed(layer: keras.layers.Layer | None, images: np.ndarray, batch: int = 250) -> np.ndarray:
    """What the data pipeline feeds the model: ``layer`` applied to the images (the images themselves for None).
    A ``Rescaling``'s output depends on its scale, offset and dtype alone, so the last ``RESCALED_KEPT`` are kept
    (read-only): a place of the live view clicked again would spend 0.3 s of its first picture on them (500 + 100
    images, 2-core machine)."""
    if layer is None:
        return images
    rescaling = type(layer) is keras.layers.Rescaling
    key = (id(images), *map(_exactly, (layer.scale, layer.offset)), layer.compute_dtype) if rescaling else None
    if key in _rescaled and _rescaled[key][0] is images:
        return _rescaled[key][1]
    fed = np.concatenate([keras.ops.convert_to_numpy(layer(images[i:i + batch])) for i in range(0, len(images), batch)])
    if rescaling:
        fed.setflags(write=False)
        _rescaled[key] = (images, fed)
        while len(_rescaled) > RESCALED_KEPT:
            _rescaled.pop(next(iter(_rescaled)))
    return fed


_rescaled: dict = {}  # key -> (the images, what the Rescaling gave on them)


def _exactly(value) -> tuple:
    """A number or an array of them, every bit of it, as a key."""
    array = np.asarray(value)
    return array.dtype.str, array.shape, array.tobytes()


def classes(outputs: np.ndarray) -> np.ndarray:
    """The class each output names: the larger of two units, or one unit's probability above 0.5."""
    outputs = np.asarray(outputs, dtype=np.float64)
    return np.argmax(outputs, axis=1) if outputs.shape[-1] == 2 else (outputs[:, 0] > 0.5).astype(int)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(classes(outputs) == labels))


def majority_share(outputs: np.ndarray) -> float:
    """The share of the images given the class predicted most often (1.0: one class for every image)."""
    return float(np.bincount(classes(outputs), minlength=2).max() / len(outputs))


class _Deployed(keras.callbacks.Callback):
    """After each epoch: the outputs on the raw test images, and ``then(history so far)`` when given."""

    def __init__(self, images: np.ndarray, store: list, then: Callable | None):
        super().__init__()
        self.images, self.store, self.then, self.history = images, store, then, {}

    def on_epoch_end(self, epoch, logs=None):
        self.store.append(validation_outputs(self.model, self.images))
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if self.then:
            self.then(self.history)


def _range(model: keras.Model, inner: keras.Model, images: np.ndarray) -> tuple[float, float]:
    fed = in_chunks(fed_to(model, inner), images[:64])
    return float(fed.min()), float(fed.max())


def train_deployed(build_model: Callable, seed: int = 0, callbacks=(), on_epoch: Callable | None = None,
                   epochs: int = EPOCHS, kept: tuple[CompiledHeads, object] | None = None) -> DeployedRun:
    """``preprocessing, model = build_model(backbone)``: the model fitted on the preprocessed training images,
    then called on the raw test images (see the module).  ``build_model`` gets a copy of the pretrained backbone;
    the copy the model calls gets the pretrained weights before training (a model rebuilt from its config starts
    with random ones).  ``on_epoch(run so far)`` after each epoch, and first after the first few batches
    (``training.FirstPicture``).  ``kept=(models, key)`` takes the model from ``models`` (``CompiledHeads.start``):
    the same run, traced once per key, and not even built again for the key's latest seed."""
    start = time.perf_counter()
    trusted = get_backbone("mini_inception").model

    def build() -> tuple[keras.Model, keras.layers.Layer | None, keras.Model]:
        preprocessing, model = build_model(keras.models.clone_model(trusted))
        inner = backbone_in(model, trusted)
        inner.set_weights(trusted.get_weights())
        return model, preprocessing, inner

    models, key = kept or (CompiledHeads(), None)  # none kept: a model of its own, its start not copied
    model, preprocessing, inner = models.start(key, seed, build, model_of=lambda parts: parts[0],
                                               same_build=kept is not None)
    (x, y), (x_test, y_test) = raw_images("train"), raw_images("test")
    fed, fed_test = preprocessed(preprocessing, x), preprocessed(preprocessing, x_test)
    deployed: list[np.ndarray] = []

    def so_far(history: dict) -> DeployedRun:
        return DeployedRun(model, dict(history), list(deployed), y_test, time.perf_counter() - start, seed,
                           train_range=_range(model, inner, fed), deployed_range=_range(model, inner, x_test))

    # A first picture without the deployed outputs: after two batches they are at chance wherever the
    # preprocessing is, and the model on the 100 raw images took half of that picture's time.
    watch = [_Deployed(x_test, deployed, on_epoch and (lambda history: on_epoch(so_far(history)))),
             *([FirstPicture(on_epoch, so_far, None)] if on_epoch else [])]
    history = fit_shuffled(model, fed, y, epochs, BATCH_SIZE, seed, validation_data=(fed_test, y_test),
                           callbacks=[*watch, *callbacks])
    return DeployedRun(model, history, deployed, y_test, time.perf_counter() - start, seed,
                       pipeline_predictions=validation_outputs(model, fed_test),
                       train_range=_range(model, inner, fed), deployed_range=_range(model, inner, x_test))
