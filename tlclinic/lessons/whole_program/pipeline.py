"""Question 000's whole program in Keras 3, every bug a switch: the images, the model, the two training stages.

``Choices`` holds one flag per bug (True: as question 000 wrote it).  ``build_model`` and ``fine_tune`` are the
lesson's own version of what the student writes; ``train_pipeline`` runs any such pair through the two stages the
grader uses (the new head on the frozen backbone, then one epoch of fine-tuning) and measures what the grader
judges: what the backbone is fed, whether its BatchNorm statistics and its features survived, the accuracy.
"""
from __future__ import annotations

import functools
import time
import weakref
from dataclasses import dataclass, fields, replace
from typing import Callable, Hashable

import keras
import numpy as np
from keras import layers

from ... import data
from ...backbone import backbone_in, fed_to, get_backbone
from ...symptoms import accuracy
from ...training import (IMAGES_AT_ONCE, CompiledHeads, FirstPicture, Run, _EachEpoch, _RecordPredictions,
                         fit_shuffled, in_chunks)

QUESTION_SIZE = 64  # question 000 loaded its images at 64x64
NATIVE_SIZE = data.RECIPES["shapes"].size[0]  # the shapes images are drawn at 96x96
QUESTION_INDEX = 249  # question 000 froze model.layers[:249]: InceptionV3's count, not this backbone's
TOP_BLOCK_AFTER = {"mini_inception": "mixed1", "inception_v3": "mixed8"}  # fine-tune the block(s) above this layer
HEAD_RATE, FINE_TUNE_RATE = 1e-3, 1e-5  # Adam's default trains the new head; fine-tuning goes 100 times slower
HEAD_EPOCHS, FINE_TUNE_EPOCHS, BATCH_SIZE = 3, 1, 32
PROBE_IMAGES = 64  # training images fed through the model to read what the backbone receives


@dataclass(frozen=True)
class Choices:
    """Each of question 000's bugs, on (True: as the question wrote it) or off (fixed)."""

    rescale_255: bool = True  # ImageDataGenerator(rescale=1./255): pixels in [0, 1], not the backbone's [-1, 1]
    inputs_64: bool = True  # target_size=(64, 64): the images shrunk from 96x96
    freeze_by_index: bool = True  # model.layers[:249] frozen, [249:] unfrozen, instead of the top block by name
    batchnorm_training: bool = True  # the unfrozen block's BatchNorm layers train (training=False does not stop it)
    fine_tune_rate_1e3: bool = True  # fine-tuning with Adam's default 1e-3, the head's rate


QUESTION = Choices()
FIXED = Choices(**{f.name: False for f in fields(Choices)})
BUGS = tuple(f.name for f in fields(Choices))
HEAD_BUGS = ("rescale_255", "inputs_64")  # the bugs that change the head's stage; the others change only fine-tuning


def head_of(choices: Choices) -> tuple[bool, ...]:
    """What the head's stage of ``choices`` depends on: pipelines alike in it train their heads alike."""
    return tuple(getattr(choices, bug) for bug in HEAD_BUGS)


def only(bug: str) -> Choices:
    """The fixed pipeline with one bug put back."""
    return replace(FIXED, **{bug: True})


@functools.cache
def images(split: str, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One split of ``shapes`` as ``image_dataset_from_directory`` loads it at ``height`` x ``width``: float32
    images with values 0..255 and 0/1 labels, in file order.  Each image is written into one array as it is read:
    the 1000 training images at 96x96 take 110 MB, and a list of them stacked would hold them twice."""
    folder = data.ensure("shapes") / split
    dataset = keras.utils.image_dataset_from_directory(folder, image_size=(height, width), batch_size=None,
                                                       shuffle=False, label_mode="binary", verbose=False)
    x, y = np.empty((len(dataset), height, width, 3), np.float32), np.empty(len(dataset), np.float32)
    for index, (image, label) in enumerate(dataset):
        x[index], y[index] = keras.ops.convert_to_numpy(image), keras.ops.convert_to_numpy(label)[0]
    return x, y


def augmentation(seed: int) -> keras.Sequential:
    """Question 000's shear_range=0.2, zoom_range=0.2, horizontal_flip=True, as Keras 3 preprocessing layers."""
    return keras.Sequential([layers.RandomFlip("horizontal", seed=seed), layers.RandomZoom(0.2, seed=seed + 1),
                             layers.RandomShear(0.2, 0.2, seed=seed + 2)], name="augmentation")


def build_model(backbone: keras.Model, choices: Choices = QUESTION, seed: int = 0, augment: bool = False,
                preprocess: str = "rescaling", resize_to: int | None = None) -> keras.Model:
    """Pixels 0..255 in, the probability of class 1 out; compiled to train the new head on the frozen backbone.

    ``preprocess`` (when the 1/255 bug is off): ``"rescaling"`` (``Rescaling(1/127.5, offset=-1)``) or
    ``"preprocess_input"`` (InceptionV3's own function, applied to the model's input); ``resize_to`` puts a
    ``Resizing`` layer in the model, after the input the images are loaded at."""
    size = QUESTION_SIZE if choices.inputs_64 else NATIVE_SIZE
    inputs = keras.Input((size, size, 3), name="pixels")
    x = augmentation(seed)(inputs) if augment else inputs
    x = layers.Resizing(resize_to, resize_to)(x) if resize_to else x
    if choices.rescale_255:
        x = layers.Rescaling(1 / 255)(x)
    elif preprocess == "preprocess_input":
        x = keras.applications.inception_v3.preprocess_input(x)
    else:
        x = layers.Rescaling(1 / 127.5, offset=-1)(x)
    backbone.trainable = False
    x = backbone(x, training=False)  # the Keras guide's advice; on Keras 3, fit's training=True overrides it
    for units in (1024, 512, 32):
        x = layers.Dense(units, activation="relu")(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)  # lesson 01's fix of Dense(1, softmax)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(HEAD_RATE), "binary_crossentropy", metrics=["accuracy"])
    return model


def unfreeze_above(backbone: keras.Model, name: str, batchnorm: bool = False) -> None:
    """Make trainable every layer of ``backbone`` after the one named ``name``, its BatchNormalization layers
    only when ``batchnorm``; freeze the rest."""
    names = [layer.name for layer in backbone.layers]
    if name not in names:
        raise ValueError(f"{backbone.name} has no layer named {name!r}; its blocks end at "
                         + ", ".join(n for n in names if n.startswith("mixed")))
    backbone.trainable = True
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index > names.index(name) and (batchnorm or not isinstance(layer, layers.BatchNormalization))


def fine_tune(model: keras.Model, backbone: keras.Model, choices: Choices = QUESTION) -> None:
    """Unfreeze the top of the backbone and recompile for the second stage."""
    if choices.freeze_by_index:
        for layer in model.layers[:QUESTION_INDEX]:
            layer.trainable = False
        for layer in model.layers[QUESTION_INDEX:]:
            layer.trainable = True
    else:
        unfreeze_above(backbone, TOP_BLOCK_AFTER[backbone.name], batchnorm=choices.batchnorm_training)
    rate = HEAD_RATE if choices.fine_tune_rate_1e3 else FINE_TUNE_RATE
    model.compile(keras.optimizers.Adam(rate), "binary_crossentropy", metrics=["accuracy"])


def pipeline_of(choices: Choices, seed: int = 0, **options) -> Callable:
    """The lesson's own ``build_pipeline`` with ``choices`` (``options``: those of ``build_model``)."""
    def build_pipeline(backbone: keras.Model):
        model = build_model(backbone, choices, seed, **options)
        return model, lambda: fine_tune(model, backbone, choices)
    return build_pipeline


@dataclass
class PipelineRun(Run):
    """Both stages of one pipeline: ``history`` and ``val_predictions`` run on across them, the head's first."""

    head_epochs: int = HEAD_EPOCHS
    backbone_input: tuple[float, float, int] = (0.0, 0.0, 0)  # min and max value, smaller side, as the backbone saw
    batchnorm_drift: float = 0.0  # the largest change of any BatchNorm moving mean or variance in the backbone
    weights_moved: float = 0.0  # the largest relative change of a backbone weight tensor in fine-tuning
    feature_change: float = 0.0  # how far fine-tuning moved the backbone's features on the validation images
    finished: bool = True  # False for a run still training: the last four are measured when fine-tuning ends

    @property
    def frozen_accuracy(self) -> float:
        return accuracy(self.val_predictions[self.head_epochs - 1], self.val_targets)

    @property
    def fine_tuned_accuracy(self) -> float:
        return accuracy(self.val_predictions[-1], self.val_targets)


def _batchnorm_statistics(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for layer in model._flatten_layers()
            if isinstance(layer, layers.BatchNormalization) for v in (layer.moving_mean, layer.moving_variance)]


def _relative_changes(before: list[np.ndarray], after: list[np.ndarray]) -> float:
    return max(float(np.linalg.norm(a - b) / (np.linalg.norm(b) + 1e-12)) for a, b in zip(after, before))


@dataclass
class HeadStage:
    """What a pipeline's first stage leaves to the second: the model's variables after the head's epochs, the
    history and predictions so far, and what was measured before training."""

    values: list[np.ndarray]  # the model's variables after the head's epochs, in ``model.variables`` order
    images: tuple  # ((x, y), (x_val, y_val)) at the model's input size
    history: dict[str, list[float]]
    predictions: list[np.ndarray]
    backbone_input: tuple[float, float, int]
    statistics: list[np.ndarray]  # the backbone's BatchNorm statistics, its weights and its features on the
    weights: list[np.ndarray]  # test images before training (the head's epochs leave the frozen backbone as it is)
    features: np.ndarray
    fed_val: np.ndarray  # the test images as the backbone receives them


@dataclass
class OnFeatures:
    """A pipeline's model cut at its frozen backbone for the head's stage: ``extractor`` (the model's input to
    the backbone's output) and ``head`` (the layers after it, compiled as the model is and sharing its optimizer),
    with the extractor's outputs on the images, computed once while its weights stay those they were computed
    with (``on_features``)."""

    extractor: keras.Model
    head: keras.Model
    compiled: object  # the model's compile settings the head was compiled with (a recompiled model: a new cut)
    images: tuple = ()  # the training and test images the outputs below are of
    weights: tuple = ()  # the extractor's weights when they were computed
    train: np.ndarray | None = None  # on the training images, as the compiled training step computes them
    val: np.ndarray | None = None  # on the test images, the same way (fit's validation)
    val_recorded: np.ndarray | None = None  # on the test images as ``in_chunks`` computes them (called eagerly:
    # on JAX not the same bits as compiled; the predictions recorded each epoch are taken this way)


_ON_FEATURES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # a head stage's model -> OnFeatures or None


def on_features(model: keras.Model, inner: keras.Model, x: np.ndarray, x_val: np.ndarray,
                callbacks=()) -> OnFeatures | None:
    """``model`` cut at ``inner``, the backbone it calls, with the extractor's outputs on ``x`` and ``x_val``;
    None where the part before the head is not a fixed function of the images while the head trains
    (``fixed_while_the_head_trains``), the head reads more than the backbone's output, or its compile settings
    cannot be given to the head.  ``callbacks`` see the outputs' computation (``predict``): one that stops a
    run stops it there too.

    While the backbone is frozen, the head's epochs feed every image through it again and again: training the
    head on its outputs, computed once, runs the same steps on the same numbers.  The runs are the same to the
    bit under Eigen's and oneDNN's kernels and on JAX (``tests/test_lesson04_whole_program.py`` compares), at
    about half the cost of the head's stage on a 2-core machine.  Kept with the model, so that a kept model
    (``CompiledHeads``) computes them once for all its seeds, while the model keeps its compile settings and the
    extractor its weights and trainable flags."""
    cut = _ON_FEATURES.get(model)
    if cut is None or cut.compiled is not model._compile_config or not fixed_while_the_head_trains(cut.extractor):
        cut = _ON_FEATURES[model] = _cut(model, inner)
    if cut is None:
        return None
    weights = tuple(keras.ops.convert_to_numpy(w) for w in cut.extractor.weights)
    if not (cut.images and cut.images[0] is x and cut.images[1] is x_val and len(weights) == len(cut.weights)
            and all(np.array_equal(a, b) for a, b in zip(weights, cut.weights))):
        try:
            train, val = (cut.extractor.predict(given, batch_size=BATCH_SIZE, verbose=0, callbacks=list(callbacks))
                          for given in (x, x_val))
        except BaseException:  # stopped: on JAX, Keras empties the variables while predict runs; give them back
            getattr(cut.extractor, "jax_state_sync", lambda: None)()
            raise
        cut.train, cut.val, cut.val_recorded = train, val, in_chunks(cut.extractor, x_val)
        cut.images, cut.weights = (x, x_val), weights  # last: an interrupted computation leaves none kept
    return cut


def _cut(model: keras.Model, inner: keras.Model) -> OnFeatures | None:
    if len(inner._inbound_nodes) != 1 or len(inner._inbound_nodes[0].output_tensors) != 1:
        return None
    backbone_output = inner._inbound_nodes[0].output_tensors[0]
    extractor = keras.Model(model.inputs[0], backbone_output)  # one input (``fed_to`` has checked)
    if not fixed_while_the_head_trains(extractor):
        return None
    try:
        head = keras.Model(backbone_output, model.outputs)
        # the compile call's own arguments (a loss or metric the student wrote need not be serialisable)
        head.compile(**{**model._compile_config.config, "optimizer": model.optimizer,
                        "jit_compile": model.jit_compile})
    except (ValueError, TypeError):  # an output reads a tensor the backbone's output does not lead to, or the
        return None  # compile settings do not fit the head: the whole model trains
    return OnFeatures(extractor, head, model._compile_config)


SAME_IN_TRAINING = (layers.Resizing, layers.CenterCrop)  # image preprocessing layers whose call ignores ``training``


def fixed_while_the_head_trains(extractor: keras.Model) -> bool:
    """Whether ``extractor`` computes in the head's training steps what it computes outside them: none of its
    weights trains, none of its layers adds a loss, and each of its layers whose call reads ``training`` is a model
    of layers, a frozen BatchNormalization or one of ``SAME_IN_TRAINING`` (random augmentation, dropout, noise,
    BatchNorm that trains, and preprocessing applied only in training such as ``Equalization``, are not)."""
    if extractor.trainable_weights:
        return False
    for layer in extractor._flatten_layers(include_self=False):
        same_in_training = (not getattr(layer, "_call_has_training_arg", False) or isinstance(layer, keras.Model)
                            or isinstance(layer, layers.BatchNormalization) and not layer.trainable
                            or type(layer) in SAME_IN_TRAINING)
        if getattr(layer, "activity_regularizer", None) is not None or not same_in_training:
            return False
    return True


def train_pipeline(build_pipeline: Callable, seed: int = 0, backbone: str = "mini_inception",
                   callbacks=(), on_epoch: Callable[[PipelineRun], None] | None = None,
                   kept: tuple[CompiledHeads, Hashable] | None = None,
                   heads: tuple[dict, Hashable] | None = None) -> PipelineRun:
    """``model, fine_tune = build_pipeline(backbone)``; train the head (on the frozen backbone's outputs,
    computed once, where ``on_features`` finds that the same run), ``fine_tune()``, fine-tune; measured on the
    test split.  ``on_epoch(run so far)``, unfinished, is called after each epoch of either stage, and
    first after the head's first few batches (``training.FirstPicture``).

    ``build_pipeline`` gets a fresh copy of the pretrained backbone; whichever copy the model calls gets the
    pretrained weights before training (a model rebuilt from its config starts with random ones).  The images
    are loaded at the model's input size, as ``image_dataset_from_directory(image_size=...)`` gives them.

    ``kept=(models, key)``: each stage's model is kept compiled in ``models`` (``CompiledHeads.start``), the
    head's under ``(key, "head")`` and the fine-tuned one, a second build given the head's weights, under ``(key,
    "fine-tune")``: the same run, each stage traced once per key.  ``heads=(trained, head_key)``: the head's stage
    is kept in ``trained`` by ``(head_key, seed)`` (once measured before training, then once trained), and the
    head's model under ``(head_key, "head")``, so that pipelines that differ only in fine-tuning (the same
    ``head_key``) train their head once: the run starts at its fine-tuning, its first picture the head's finished
    epochs.
    """
    start = time.perf_counter()
    trusted = get_backbone(backbone).model
    models, key = kept or (CompiledHeads(), None)  # none kept: models of their own, their starts not copied
    trained, head_key = heads or ({}, key)
    if heads and not kept:
        raise ValueError("heads=(trained, head_key) needs kept=(models, key): the fine-tuned model starts from the "
                         "head's kept weights")

    def build() -> tuple[keras.Model, Callable[[], None], keras.Model]:
        model, tune = build_pipeline(keras.models.clone_model(trusted))
        inner = backbone_in(model, trusted)
        inner.set_weights(trusted.get_weights())
        return model, tune, inner

    def so_far(before: dict[str, list[float]], history: dict[str, list[float]], head: HeadStage) -> PipelineRun:
        return PipelineRun(model, {name: [*before.get(name, []), *values] for name, values in history.items()},
                           predictions, y_val, time.perf_counter() - start, seed, HEAD_EPOCHS, head.backbone_input,
                           finished=False)

    def each_epoch(before: dict[str, list[float]], head: HeadStage, x_first=None) -> list:
        """on_epoch with the history of the stages before; in the first stage, first after a few batches, with
        the trained model's outputs on ``x_first``."""
        if not on_epoch:
            return []
        grown = lambda history: so_far(before, history, head)  # noqa: E731
        return [*([] if before else [FirstPicture(on_epoch, grown, x_first)]),
                _EachEpoch(lambda history: on_epoch(grown(history)))]

    head = trained.get((head_key, seed))  # its head's stage trained, or only measured (a run stopped in it)
    predictions: list[np.ndarray] = list(head.predictions) if head else []
    if head is None or not head.history:
        model, tune, inner = models.start((head_key, "head"), seed, build, model_of=lambda parts: parts[0],
                                          same_build=kept is not None)
        head = head or _measured_before_training(model, inner, trusted)
        if heads:
            trained[(head_key, seed)] = head
        (x, y), (x_val, y_val) = head.images
        cut = on_features(model, inner, x, x_val, callbacks)
        trained_model, fed, fed_val, recorded = (cut.head, cut.train, cut.val, cut.val_recorded) if cut else (
            model, x, x_val, x_val)
        history = fit_shuffled(trained_model, fed, y, HEAD_EPOCHS, BATCH_SIZE, seed, validation_data=(fed_val, y_val),
                               callbacks=[_RecordPredictions(recorded, predictions, at_once=IMAGES_AT_ONCE),
                                          *callbacks, *each_epoch({}, head, recorded)])
        head = replace(head, history=history, predictions=list(predictions),
                       values=[keras.ops.convert_to_numpy(v) for v in model.variables] if kept else [])
        if heads:
            trained[(head_key, seed)] = head
    else:  # the head's stage is kept: its first picture at once, its model not even reset
        model = None
        (x, y), (x_val, y_val) = head.images
        if on_epoch:
            on_epoch(so_far({}, head.history, head))
    if kept is not None:  # the fine-tuned model is a second build, starting from the head's weights

        def build_tuned() -> tuple[keras.Model, Callable[[], None], keras.Model]:
            parts = build()
            for variable, value in zip(parts[0].variables, head.values, strict=True):
                variable.assign(value)
            parts[1]()
            return parts

        # built every time: its start is the head's weights of this run, which the key and seed alone do not name
        model, _, inner = models.start((key, "fine-tune"), seed, build_tuned, model_of=lambda parts: parts[0],
                                       same_build=False)
    else:
        tune()
    history = {name: list(values) for name, values in head.history.items()}
    for name, values in fit_shuffled(model, x, y, FINE_TUNE_EPOCHS, BATCH_SIZE, seed + 1,
                                     validation_data=(x_val, y_val),
                                     callbacks=[_RecordPredictions(x_val, predictions), *callbacks,
                                                *each_epoch(head.history, head)]).items():
        history.setdefault(name, []).extend(values)
    tuned = in_chunks(inner, head.fed_val)
    return PipelineRun(
        model, history, predictions, y_val, time.perf_counter() - start, seed, HEAD_EPOCHS, head.backbone_input,
        batchnorm_drift=max(float(np.max(np.abs(a - b))) for a, b in zip(_batchnorm_statistics(inner), head.statistics)),
        weights_moved=_relative_changes(head.weights, [w.numpy() for w in inner.weights]),
        feature_change=float(np.linalg.norm(tuned - head.features) / np.linalg.norm(head.features)))


def _measured_before_training(model: keras.Model, inner: keras.Model, trusted: keras.Model) -> HeadStage:
    """The images at ``model``'s input size, and what the backbone inside it receives and holds before any
    training (a ``HeadStage`` not yet trained)."""
    height, width = (int(n) for n in model.input_shape[1:3])
    (x, y), (x_val, y_val) = images("train", height, width), images("test", height, width)
    feeding = fed_to(model, inner)
    fed, fed_val = (in_chunks(feeding, given) for given in (x[:PROBE_IMAGES], x_val))
    return HeadStage(values=[], history={}, predictions=[], images=((x, y), (x_val, y_val)),
                     backbone_input=(float(fed.min()), float(fed.max()), int(min(fed.shape[1:3]))),
                     statistics=_batchnorm_statistics(inner), weights=[w.numpy() for w in inner.weights],
                     features=in_chunks(trusted, fed_val), fed_val=fed_val)
