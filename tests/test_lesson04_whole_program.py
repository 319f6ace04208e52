"""Lesson 04: what each line of question 000's program does on Keras 3, and the graded check on its pipelines.

The facts the notebook states about Keras are tested here on small models (fast); the check on the lesson's
pipelines trains (end to end).  Calibration runs every pipeline over 20 seeds (`make calibrate`).
"""
import functools
import warnings
from dataclasses import asdict, replace

import keras
import numpy as np
import pytest
from keras import layers

from tlclinic import data
from tlclinic.crossing import Refused, as_data_and_back, cross
from tlclinic.lessons import whole_program as lesson
from tlclinic.lessons.whole_program import pipeline, question


def test_fit_generator_is_gone_from_keras_3():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(1)])
    with pytest.raises(AttributeError, match="fit_generator"):
        model.fit_generator


def test_inception_v3_refuses_the_questions_64_pixels_offline():
    assert question.inception_v3_at(64).startswith("ValueError: Input size must be at least 75x75")
    assert question.inception_v3_at(75) == ""


def test_steps_per_epoch_beyond_the_data_warns_and_each_epoch_runs_the_data_once():
    dataset = keras.utils.image_dataset_from_directory(data.ensure("shapes") / "test", image_size=(8, 8),
                                                       batch_size=5, label_mode="binary", verbose=False)
    model = keras.Sequential([keras.Input((8, 8, 3)), layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    counter = question._CountSteps()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(dataset, steps_per_epoch=1000, epochs=2, callbacks=[counter], verbose=0)
    assert counter.steps == [20, 20]  # 100 images in batches of 5, each epoch
    assert sum("Your input ran out of data" in str(w.message) for w in caught) == 2


def test_the_images_are_the_bytes_image_dataset_from_directory_gives_in_file_order():
    """``pipeline.images`` writes each image into one array as it reads it: the bytes a stacked list gives."""
    folder = data.ensure("shapes") / "test"
    dataset = keras.utils.image_dataset_from_directory(folder, image_size=(64, 64), batch_size=None, shuffle=False,
                                                       label_mode="binary", verbose=False)
    expected = [(keras.ops.convert_to_numpy(image), keras.ops.convert_to_numpy(label)) for image, label in dataset]
    x, y = pipeline.images.__wrapped__("test", 64, 64)
    assert x.dtype == y.dtype == np.float32 and x.shape == (100, 64, 64, 3) and y.shape == (100,)
    assert x.tobytes() == np.stack([image for image, _ in expected]).astype(np.float32).tobytes()
    assert y.tolist() == [float(label[0]) for _, label in expected] and 0 < y.mean() < 1


def test_the_questions_index_freezes_every_layer_of_the_flat_model_on_the_mini_backbone():
    model = question.question_model()
    assert len(model.layers) < question.QUESTION_INDEX
    assert model.trainable_weights == [] and model.weights


def test_on_keras_3_training_false_at_a_nested_call_does_not_keep_batchnorm_from_training():
    """What the lesson teaches: fit's training=True overrides it; a frozen BatchNorm layer stays in inference."""
    x = np.random.default_rng(0).normal(3.0, 2.0, (64, 4)).astype("float32")
    for frozen in (False, True):
        inner_input = keras.Input((4,))
        norm = layers.BatchNormalization()
        base = keras.Model(inner_input, norm(inner_input))
        outer_input = keras.Input((4,))
        model = keras.Model(outer_input, layers.Dense(1)(base(outer_input, training=False)))
        norm.trainable = not frozen
        model.compile("adam", "mse")
        model.fit(x, x[:, :1], epochs=1, verbose=0)
        moved = float(np.max(np.abs(keras.ops.convert_to_numpy(norm.moving_mean))))
        assert (moved <= lesson.BATCHNORM_TOLERANCE) == frozen, (frozen, moved)  # untouched: 0; trained: about 0.1


def test_unfreezing_by_name_trains_the_top_block_and_keeps_batchnorm_frozen():
    backbone = keras.models.clone_model(lesson.get_backbone().model)
    pipeline.unfreeze_above(backbone, "mixed1")
    names = [layer.name for layer in backbone.layers]
    after = backbone.layers[names.index("mixed1") + 1:]
    assert all(not layer.trainable for layer in backbone.layers[:names.index("mixed1") + 1])
    assert all(layer.trainable != isinstance(layer, layers.BatchNormalization) for layer in after)
    assert backbone.trainable_weights and all("moving" not in w.path for w in backbone.trainable_weights)
    with pytest.raises(ValueError, match="mixed0, mixed1, mixed2"):
        pipeline.unfreeze_above(backbone, "mixed9")


def _flags(model):
    """Which layers with weights train (an InputLayer's flag means nothing and is not serialised)."""
    return [(type(layer).__name__, layer.trainable) for layer in model._flatten_layers(include_self=False) if layer.weights]


def test_a_pipeline_crosses_as_data_and_its_fine_tune_sets_the_same_layers_trainable():
    for choices in (pipeline.FIXED, pipeline.only("batchnorm_training"), pipeline.QUESTION):
        original = pipeline.pipeline_of(choices)(keras.models.clone_model(lesson.get_backbone().model))
        rebuilt = as_data_and_back(lesson.ANSWER, pipeline.pipeline_of(choices))(None)
        for model, fine_tune in (original, rebuilt):
            fine_tune()
        assert _flags(original[0]) == _flags(rebuilt[0])
        assert len(original[0].trainable_weights) == len(rebuilt[0].trainable_weights)
        assert (original[0].optimizer.get_config()["learning_rate"]
                == pytest.approx(rebuilt[0].optimizer.get_config()["learning_rate"]))


def test_a_fine_tune_that_changes_the_model_or_returns_something_else_is_refused():
    def grows(backbone):
        model, _ = pipeline.pipeline_of(pipeline.FIXED)(backbone)

        def fine_tune():
            model.layers[-1].activation = keras.activations.relu
            model.compile("adam", "binary_crossentropy")
        return model, fine_tune

    with pytest.raises(Refused, match="fine_tune changed the model"):
        as_data_and_back(lesson.ANSWER, grows)
    with pytest.raises(TypeError, match=r"\(model, fine_tune\)"):
        cross(lesson.ANSWER, lambda backbone: pipeline.pipeline_of(pipeline.FIXED)(backbone)[0])


def test_the_committed_ablation_covers_every_bug_at_five_seeds_or_more():
    rows, note = lesson.ablation()
    assert {row["head"] for row in rows} == set(lesson.calibration_answers())
    assert all(len(row["values"]) >= 5 and len(row["also_values"]) == len(row["values"]) for row in rows)
    assert "seeds each" in note


@pytest.mark.e2e
@pytest.mark.numerics
@pytest.mark.parametrize("name", list(lesson.calibration_answers()))
def test_the_check_passes_every_valid_pipeline_and_names_each_bug(name):
    """Seed 0 here, seeds 0 to 19 in the committed calibration."""
    build, should_pass = lesson.calibration_answers()[name]
    expected = {"1/255": "fed pixels in [-1, 1]", "64": "at least 75x75", "index": "trains its top",
                "BatchNorm": "BatchNorm statistics", "1e-3": "features move", "five": "fed pixels in [-1, 1]"}
    if should_pass:
        lesson.check_converges(as_data_and_back(lesson.ANSWER, build), seed=0)
        return
    with pytest.raises(AssertionError) as failed:
        lesson.check_converges(as_data_and_back(lesson.ANSWER, build), seed=0)
    assert any(key in name and words in str(failed.value) for key, words in expected.items()), str(failed.value)


def assert_same_run(one: pipeline.PipelineRun, other: pipeline.PipelineRun) -> None:
    """Bit for bit: the history, every epoch's predictions, and what was measured of the backbone."""
    assert one.history == other.history
    for a, b in zip(one.val_predictions, other.val_predictions, strict=True):
        np.testing.assert_array_equal(a, b)
    assert (one.backbone_input, one.batchnorm_drift, one.weights_moved, one.feature_change) == (
        other.backbone_input, other.batchnorm_drift, other.weights_moved, other.feature_change)


@pytest.mark.e2e
@pytest.mark.numerics
@pytest.mark.parametrize("choices, options", [
    pytest.param(pipeline.FIXED, {}, id="rescaling"),
    pytest.param(pipeline.only("inputs_64"), {"preprocess": "preprocess_input", "resize_to": 96},
                 id="preprocess_input-resized")])
def test_the_heads_stage_on_the_backbones_outputs_computed_once_is_the_run_the_whole_model_gives(
        monkeypatch, choices, options):
    """While the backbone is frozen, the head's stage trains on the backbone's outputs computed once
    (``pipeline.on_features``) instead of feeding every image through the backbone each epoch: the same run to the
    bit, the same model (every variable) for fine-tuning to start from, and a kept model's second seed trains on
    the features computed for the first.  On 72 of the training images and 40 of the test images.  (End-to-end
    tier: under Eigen's kernels in CI, under oneDNN's and on JAX in ``make e2e-families``.)"""
    from tlclinic.training import CompiledHeads

    every, every_cut = pipeline.images, pipeline.on_features
    monkeypatch.setattr(pipeline, "images", functools.cache(  # a short last batch, as with all 1000
        lambda split, height, width: tuple(a[:72 if split == "train" else 40] for a in every(split, height, width))))
    cuts = []
    models, heads = {True: CompiledHeads(), False: CompiledHeads()}, {True: {}, False: {}}  # each way traced once

    def trained(seed, whole):
        with monkeypatch.context() as patched:
            patched.setattr(pipeline, "on_features", lambda *given: None if whole else cuts.append(
                every_cut(*given)) or cuts[-1])
            return lesson.train(pipeline.pipeline_of(choices, seed, **options), seed, kept=(models[whole], choices),
                                heads=(heads[whole], choices))

    def compare(seed: int) -> None:
        assert_same_run(trained(seed, whole=False), trained(seed, whole=True))
        for a, b in zip(heads[False][(choices, seed)].values, heads[True][(choices, seed)].values, strict=True):
            np.testing.assert_array_equal(a, b)

    compare(0)
    computed = cuts[0].train
    compare(1)
    assert cuts[0] is not None and cuts[1] is cuts[0] and cuts[1].train is computed  # computed once, for both seeds


def test_only_a_fixed_function_of_the_images_before_the_head_is_computed_once():
    """The head's stage trains on the backbone's outputs only where the part before them computes the same in
    training as outside it: not with random augmentation, a layer that trains, or BatchNorm that trains before
    the backbone; and not where the head also reads the images."""
    backbone = pipeline.get_backbone().model

    def cut(*before: layers.Layer, skip: bool = False):
        inputs = keras.Input((96, 96, 3))
        x = inputs
        for layer in before:
            x = layer(x)
        copy = keras.models.clone_model(backbone)
        copy.trainable = False
        features = copy(layers.Rescaling(1 / 127.5, offset=-1)(x), training=False)
        if skip:
            features = layers.Concatenate()([features, layers.GlobalAveragePooling2D()(inputs)])
        model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(features))
        model.compile("adam", "binary_crossentropy")
        return pipeline._cut(model, pipeline.backbone_in(model, backbone))

    assert cut() is not None and cut(layers.Resizing(96, 96)) is not None
    assert cut(layers.RandomFlip("horizontal", seed=0)) is None and cut(pipeline.augmentation(0)) is None
    assert cut(layers.Equalization()) is None  # no random draws, but applied in training only
    assert cut(layers.Conv2D(3, 1)) is None  # trains
    assert cut(layers.BatchNormalization()) is None  # trains its statistics
    assert cut(layers.GaussianNoise(0.1)) is None
    assert cut(skip=True) is None


def test_a_cut_is_made_again_for_a_recompiled_model_and_dropped_once_the_part_before_the_head_trains():
    """The backbone's outputs are kept with the model while it keeps its compile settings and the part before the
    head its weights and flags: a model recompiled gets a head compiled anew (its new optimizer), one whose
    backbone was unfrozen trains whole, and an interrupted computation keeps nothing."""
    backbone = pipeline.get_backbone().model
    model, fine_tune = pipeline.pipeline_of(pipeline.FIXED)(keras.models.clone_model(backbone))
    inner = pipeline.backbone_in(model, backbone)
    x, x_val = np.zeros((8, 96, 96, 3), np.float32), np.ones((4, 96, 96, 3), np.float32)
    first = pipeline.on_features(model, inner, x, x_val)
    assert first.train.shape == (8, 192) and pipeline.on_features(model, inner, x, x_val) is first
    model.compile(keras.optimizers.Adam(1e-4), "binary_crossentropy")
    again = pipeline.on_features(model, inner, x, x_val)
    assert again is not first and again.head.optimizer is model.optimizer

    class Stop(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt

    fewer = x[:4]
    with pytest.raises(KeyboardInterrupt):
        pipeline.on_features(model, inner, fewer, x_val, callbacks=[Stop()])
    assert pipeline.on_features(model, inner, fewer, x_val).train.shape == (4, 192)  # computed, not the 8 kept
    fine_tune()  # the top block of the backbone unfrozen
    assert pipeline.on_features(model, inner, x, x_val) is None


@pytest.mark.e2e
@pytest.mark.numerics
def test_each_checkbox_retrains_with_its_bug_put_back_or_taken_out_and_a_revisit_is_a_redraw():
    """The checkboxes keep each stage's model compiled and each head's stage trained: a combination's run is the
    one a fresh pipeline gives, bit for bit, whether its head was traced before the first click (1/255) or its
    head's stage is one already trained (a bug of fine-tuning), and the latter is drawn at once."""
    view = lesson.live()
    first = view.experiment.run
    assert first.backbone_input[:2] == (0.0, pytest.approx(1.0, abs=1e-3))  # every bug on: pixels / 255
    boxes = dict(zip(pipeline.BUGS, view.control.children))
    boxes["rescale_255"].value = False
    scaled = replace(pipeline.QUESTION, rescale_255=False)
    assert view.experiment.value == {**{bug: True for bug in pipeline.BUGS}, "rescale_255": False}
    assert view.experiment.run is not first and view.experiment.run.backbone_input[0] < -0.5
    assert view.status.value.startswith("retrained and redrawn in")
    assert_same_run(view.experiment.run, lesson.train(pipeline.pipeline_of(scaled)))

    boxes["rescale_255"].value = True
    assert view.experiment.run is first and view.status.value.startswith("redrawn (a run kept from before) in")

    shown = []
    tuned = replace(pipeline.QUESTION, fine_tune_rate_1e3=False)
    run = view.experiment.set(asdict(tuned), show=lambda picture, so_far: shown.append(
        (so_far.history, len(so_far.val_predictions))))
    head = {name: values[:pipeline.HEAD_EPOCHS] for name, values in first.history.items()}
    assert shown[0] == (head, pipeline.HEAD_EPOCHS)  # at once: the head's stage, already trained
    assert {name: values[:pipeline.HEAD_EPOCHS] for name, values in run.history.items()} == head
    assert_same_run(run, lesson.train(pipeline.pipeline_of(tuned)))


@pytest.mark.e2e
@pytest.mark.numerics
def test_a_pipelines_checks_at_two_seeds_in_one_verifier_give_the_runs_they_give_alone():
    """The verifier judges each answer's seeds within ``grading.one_answer()``: each stage's model is kept
    compiled, the fine-tuned one a second build given the head's weights.  Each run is the one it gives alone."""
    from tlclinic import grading

    answer = as_data_and_back(lesson.ANSWER, pipeline.pipeline_of(pipeline.FIXED))
    with grading.one_answer():
        together = [lesson.check_converges(answer, seed) for seed in (0, 1)]
    assert together[0].model is together[1].model  # the fine-tuned model kept: what is compared is a reuse
    assert_same_run(together[1], lesson.check_converges(answer, 1))
    assert together[0].history != together[1].history  # the seed matters: the comparison can fail


@pytest.mark.e2e
def test_a_pipeline_is_drawn_epoch_by_epoch_through_both_stages_and_trains_as_it_does_unwatched():
    """The live checkboxes show a new combination after its first few batches, then after every epoch: the
    criteria measured before training at once, those measured when fine-tuning ends pending (None, drawn as
    "…")."""
    from tlclinic.lessons.whole_program.figures import draw_run
    from tlclinic.plots import figure

    seen, pictures = [], []

    def on_epoch(so_far):
        seen.append((so_far.first_epoch_share, len(so_far.history["loss"]), len(so_far.val_predictions),
                     so_far.finished, [ok for _, _, ok in lesson.criteria(so_far)]))
        fig = figure(12, 3.6)
        draw_run(so_far, fig, criteria=lesson.criteria(so_far))
        pictures.append([t.get_text() for ax in fig.axes for t in ax.texts])

    watched = lesson.train(pipeline.pipeline_of(pipeline.FIXED), on_epoch=on_epoch)
    epochs = pipeline.HEAD_EPOCHS + pipeline.FINE_TUNE_EPOCHS
    assert 0 < seen[0][0] < 1 and seen[0][1:3] == (1, 1)  # after the head's first few batches
    assert [(share, losses, predictions) for share, losses, predictions, *_ in seen[1:]] == [
        (1.0, n, n) for n in range(1, epochs + 1)]
    assert all(not finished and oks == [True, True, None, None, None, None] for *_, finished, oks in seen)
    assert all(texts.count("…") == 4 and texts.count("pass") == 2 for texts in pictures)
    assert any(f"{seen[0][0]:.0%} of head epoch 1 done" in text for text in pictures[0])
    assert any("head epoch 1 of 3 done" in text for text in pictures[1])
    assert any("fine-tuning epoch 1 of 1 done" in text for text in pictures[-1])
    assert watched.finished and all(ok for _, _, ok in lesson.criteria(watched))
    unwatched = lesson.train(pipeline.pipeline_of(pipeline.FIXED))
    np.testing.assert_allclose(watched.history["loss"], unwatched.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(watched.final_predictions, unwatched.final_predictions, atol=1e-5)
