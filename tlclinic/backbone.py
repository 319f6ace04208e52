"""Frozen, pretrained feature extractors.

``mini_inception`` (the default) is a small Inception-style network pretrained
on the workbook's ``source`` task by ``python -m tlclinic.pretrain``; its weights
are committed under ``data/weights/``.  ``inception_v3`` is Keras's InceptionV3
with ImageNet weights, usable when the weights file is already in the Keras cache.

Each backbone carries its own preprocessing and minimum input size.
"""
from __future__ import annotations

import functools
import hashlib
import os
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import keras
import numpy as np
from keras import layers

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "data" / "weights"
MINI_WEIGHTS = WEIGHTS_DIR / "mini_inception.weights.h5"
INCEPTION_V3_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_V3_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/"
                    "inception_v3/" + INCEPTION_V3_FILE)


_BUILDING = threading.Lock()  # a backbone's network is built by one thread at a time

MINI_INCEPTION_FEATURES = 192  # the width of mini_inception's pooled features (48 + 64 + 48 + 32 channels)


class WeightsMissingError(FileNotFoundError):
    """Pretrained weights are not on this machine (and are never downloaded at run time)."""


def scale_to_unit_range(images: np.ndarray) -> np.ndarray:
    """Pixels 0..255 to -1..1: InceptionV3's own preprocessing, and the mini backbone's."""
    return np.asarray(images, dtype=np.float32) / 127.5 - 1.0


@dataclass
class Backbone:
    """A frozen feature extractor: images (N, H, W, 3) uint8 -> features (N, D).

    Its network is built at first use (``model``): a lesson whose features are cached never builds it, which on
    JAX spares the compilation of every weight's initializer (20 s of a 2-core machine's process start)."""

    name: str
    build: Callable[[], keras.Model] = field(repr=False)  # the network with its weights: ``model`` calls it once
    preprocess: Callable[[np.ndarray], np.ndarray]
    min_size: int
    weights_id: str  # what the weights are: a file hash, or "random-<seed>"

    _model: keras.Model | None = field(default=None, init=False, repr=False)

    @property
    def model(self) -> keras.Model:
        """The frozen network (preprocessed images -> pooled features), built now if it was not yet, once even
        when threads ask at once.  Building it leaves Python's and NumPy's global random states as it found them:
        whenever it happens, the seeds of what trains after it are the same."""
        with _BUILDING:
            if self._model is None:
                with global_random_state_kept():
                    model = self.build()
                model.trainable = False
                self._model = model
        return self._model

    @property
    def built(self) -> bool:
        """Whether ``model`` has been built."""
        return self._model is not None

    @property
    def feature_dim(self) -> int:
        return int(self.model.output.shape[-1])

    def check_size(self, height: int, width: int) -> None:
        if min(height, width) < self.min_size:
            raise ValueError(
                f"images of {height}x{width} are too small for the {self.name} backbone: it needs at least "
                f"{self.min_size}x{self.min_size} pixels. Load them larger, or resize them inside the "
                f"model with keras.layers.Resizing."
            )


def _conv_bn(x, filters: int, size: int, strides: int = 1, name: str | None = None):
    x = layers.Conv2D(filters, size, strides=strides, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(scale=False, name=None if name is None else name + "_bn")(x)
    return layers.Activation("relu")(x)


def _inception_block(x, ones: int, threes: tuple[int, int], fives: tuple[int, int], pool: int, name: str):
    """InceptionV3's four parallel branches: 1x1, 1x1->3x3, 1x1->3x3->3x3, pool->1x1, joined by a layer named
    like InceptionV3's (``mixed0``, ``mixed1``, ...), so that fine-tuning can unfreeze the blocks above one by name."""
    a = _conv_bn(x, ones, 1)
    b = _conv_bn(_conv_bn(x, threes[0], 1), threes[1], 3)
    c = _conv_bn(_conv_bn(_conv_bn(x, fives[0], 1), fives[1], 3), fives[1], 3)
    d = _conv_bn(layers.AveragePooling2D(3, strides=1, padding="same")(x), pool, 1)
    return layers.Concatenate(name=name)([a, b, c, d])


def build_mini_inception(num_classes: int | None = None) -> keras.Model:
    """The mini Inception network: features (N, 192); with ``num_classes``, a softmax top too."""
    inputs = keras.Input((None, None, 3), name="image")
    x = _conv_bn(inputs, 24, 3, strides=2)
    x = _conv_bn(x, 32, 3)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = _inception_block(x, 16, (16, 32), (8, 16), 16, "mixed0")
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = _inception_block(x, 32, (24, 48), (12, 24), 24, "mixed1")
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = _inception_block(x, 48, (32, 64), (16, 48), 32, "mixed2")
    features = layers.GlobalAveragePooling2D(name="features")(x)
    if num_classes is None:
        return keras.Model(inputs, features, name="mini_inception")
    outputs = layers.Dense(num_classes, activation="softmax", name="source_classes")(features)
    return keras.Model(inputs, outputs, name="mini_inception_pretraining")


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def mini_inception(weights: str | None = "pretrained", seed: int = 0) -> Backbone:
    """The workbook's own backbone; ``weights=None`` gives the same network with random weights (under ``seed``)."""
    if weights == "pretrained":
        if not MINI_WEIGHTS.exists():
            raise WeightsMissingError(
                f"the mini_inception weights are missing: {MINI_WEIGHTS}\n"
                "They are committed with the workbook; restore them with `git checkout -- data/weights`, "
                "or retrain them with `python -m tlclinic.pretrain`."
            )
        return Backbone("mini_inception", lambda: _loaded(build_mini_inception(), MINI_WEIGHTS), scale_to_unit_range,
                        32, file_digest(MINI_WEIGHTS))
    if weights is None:
        return Backbone("mini_inception", lambda: _seeded(build_mini_inception, seed), scale_to_unit_range, 32,
                        f"random-{seed}")
    raise ValueError(f"weights must be 'pretrained' or None, not {weights!r}")


def _loaded(model: keras.Model, path: Path) -> keras.Model:
    model.load_weights(path)
    return model


def _seeded(build: Callable[[], keras.Model], seed: int) -> keras.Model:
    """``build()`` with its random weights drawn under ``seed``."""
    keras.utils.set_random_seed(seed)
    return build()


@contextmanager
def global_random_state_kept() -> Iterator[None]:
    """Python's and NumPy's global random states as they were before, whatever the block drew or seeded (Keras
    draws an unseeded initializer's seed from Python's; ``keras.utils.set_random_seed`` seeds both)."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def inception_v3(weights: str | None = "pretrained", seed: int = 0) -> Backbone:
    """Keras's InceptionV3 (ImageNet), only from a weights file already in the Keras cache."""
    from keras.applications import InceptionV3

    if weights == "pretrained":
        path = keras_cache_dir() / INCEPTION_V3_FILE
        if not path.exists():
            raise WeightsMissingError(
                f"InceptionV3's ImageNet weights are not in the Keras cache: {path}\n"
                "The workbook never downloads at run time. On a machine with internet, fetch them once with\n"
                "    python -c \"import keras; keras.applications.InceptionV3(include_top=False)\"\n"
                f"or download {INCEPTION_V3_URL}\ninto {path.parent}/ . "
                "Offline, use the workbook's own backbone: backbone='mini_inception'."
            )
        return Backbone("inception_v3", lambda: InceptionV3(include_top=False, weights=str(path), pooling="avg"),
                        scale_to_unit_range, 75, file_digest(path))
    if weights is None:
        return Backbone("inception_v3", lambda: _seeded(lambda: InceptionV3(include_top=False, weights=None,
                                                                            pooling="avg"), seed),
                        scale_to_unit_range, 75, f"random-{seed}")
    raise ValueError(f"weights must be 'pretrained' or None, not {weights!r}")


BACKBONES: dict[str, Callable[..., Backbone]] = {"mini_inception": mini_inception, "inception_v3": inception_v3}


def get_backbone(name: str = "mini_inception", weights: str | None = "pretrained", seed: int = 0) -> Backbone:
    """A frozen backbone by name: ``mini_inception`` (offline default) or ``inception_v3``.

    Made once per process for each (name, weights, seed), its network built at first use: a frozen network never
    changes, so a second lesson asks for it again at no cost, and a feature-cache hit never builds it.
    """
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; the known backbones are: {', '.join(BACKBONES)}")
    return _built(name, weights, seed)


@functools.cache
def _built(name: str, weights: str | None, seed: int) -> Backbone:
    return BACKBONES[name](weights=weights, seed=seed)


# ---- a backbone inside a model the student built around it ----------------------------------------------------

def backbone_in(model: keras.Model, backbone: keras.Model) -> keras.Model:
    """The backbone as it sits inside ``model``: the nested model whose weights have the backbone's shapes (a model
    rebuilt from its config holds its own copy, with random weights until they are set from the pretrained one)."""
    shapes = [tuple(w.shape) for w in backbone.weights]
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.Model) and [tuple(w.shape) for w in layer.weights] == shapes:
            return layer
    raise AssertionError(f"the model does not call the {backbone.name} backbone it was given as one layer "
                         "(x = backbone(x, ...)); build the new model around it")


def fed_to(model: keras.Model, inner: keras.Model) -> keras.Model:
    """``model``'s input -> what arrives at ``inner``, the backbone inside it."""
    if len(model.inputs) != 1 or len(inner._inbound_nodes) != 1:
        raise AssertionError("the model should take one image input and call the backbone once")
    return keras.Model(model.inputs, inner._inbound_nodes[0].input_tensors[0])
