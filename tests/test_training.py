"""Training on cached features: one ``fit`` over NumPy-shuffled batches is the per-epoch ``fit`` it replaced."""
import inspect
from pathlib import Path

import keras
import numpy as np
import pytest

from tlclinic.lessons import discover
from tlclinic.training import IMAGES_AT_ONCE, CompiledHeads, fit_shuffled, in_chunks


def head(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


@pytest.mark.numerics
def test_one_fit_over_each_epochs_permutation_is_a_fit_per_epoch_on_the_permuted_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 8)).astype("float32")  # 100 at batch 32: every epoch ends on a short batch
    y = (x @ rng.standard_normal(8)).astype("float32")
    val = x[:20], y[:20]
    history = fit_shuffled(head(3), x, y, epochs=3, batch_size=32, seed=5, validation_data=val)

    reference, orders, expected = head(3), np.random.default_rng(5), {}
    for epoch in range(3):
        order = orders.permutation(len(x))
        step = reference.fit(x[order], y[order], batch_size=32, epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
                             validation_data=val, verbose=0)
        for name, values in step.history.items():
            expected.setdefault(name, []).extend(values)
    assert set(history) == set(expected) == {"loss", "val_loss"}
    for name in history:  # the same batches in the same order: equal up to float32 rounding of the same sums
        np.testing.assert_allclose(history[name], expected[name], rtol=1e-6)


@pytest.mark.numerics
def test_the_batches_are_read_untuned_and_train_the_run_keras_gives_on_the_generator_itself(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 8)).astype("float32")
    y = (x @ rng.standard_normal(8)).astype("float32")
    val = x[:20], y[:20]
    fed, fit = [], keras.Model.fit

    def watched_fit(model, data, *args, **kwargs):
        fed.append(data)
        return fit(model, data, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", watched_fit)
    model = head(4)
    history = fit_shuffled(model, x, y, epochs=3, batch_size=32, seed=5, validation_data=val)
    monkeypatch.undo()
    if keras.backend.backend() == "tensorflow":  # Keras would prefetch a generator's batches autotuned
        assert fed[0].options().autotune.enabled is False
    else:
        assert inspect.isgenerator(fed[0])

    orders, reference = np.random.default_rng(5), head(4)
    permutations = [orders.permutation(len(x)) for _ in range(3)]
    generator = ((x[p[i:i + 32]], y[p[i:i + 32]]) for p in permutations for i in range(0, 100, 32))
    expected = reference.fit(generator, epochs=3, steps_per_epoch=4, shuffle=False, validation_data=val,
                             verbose=0).history
    assert history == expected  # the same batches, the same steps: the same bits
    for ours, theirs in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.numerics
def test_the_same_seed_gives_the_same_run_fresh_or_kept_compiled_on_this_backend(short_runs):
    """The live controls' kept runs, the calibration's compiled heads and the grader's judge-once cache rely on it:
    a head trained twice at one seed, from a new build or from a compiled head reset to that seed, gives the same
    run, bit for bit, on each backend and kernel family this pass runs under (make test: TensorFlow's two, JAX)."""
    lesson = discover()["01-softmax-one-unit"]
    short_runs(lesson)  # two epochs: their second starts from the first's weights, optimizer state and draws
    build, _ = lesson.calibration_answers()["Dropout(0.3) after each hidden layer + sigmoid"]  # dropout draws too
    compiled = CompiledHeads()
    first = lesson.train(build, seed=4)
    keras.utils.set_random_seed(12345)  # TensorFlow's global seed too, which a run does not read (seed_keras)
    runs = [first, lesson.train(build, seed=4),
            [lesson.train(build, seed, kept=(compiled, "dropout")) for seed in (3, 4)][1]]
    other = lesson.train(build, seed=5)
    for run in runs[1:]:
        assert run.history == runs[0].history
        for a, b in zip(run.val_predictions, runs[0].val_predictions):
            np.testing.assert_array_equal(a, b)
    assert other.history["loss"] != runs[0].history["loss"]  # the seed matters: the comparison can fail


@pytest.mark.numerics
def test_a_whole_model_kept_by_key_is_built_once_per_seed_and_trains_the_run_a_new_build_gives():
    """``CompiledHeads.start``: a key asked again at its latest seed is reset to that seed's start without building;
    at a new seed it is built once more and its start copied into the kept, traced model.  Either way the run is
    the run of a new build, bit for bit."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    builds = []

    def build() -> keras.Model:
        builds.append(1)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dropout(0.3), keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
        return model

    def run(model: keras.Model, seed: int) -> list[float]:
        return fit_shuffled(model, x, y, epochs=2, batch_size=16, seed=seed)["loss"]

    kept = CompiledHeads()
    runs = {}
    for seed in (3, 3, 4, 3):
        runs.setdefault(seed, []).append(run(kept.start("model", seed, build), seed))
    assert len(builds) == 3  # seed 3, then 4, then 3 again: the kept start is the latest seed's
    assert runs[3][0] == runs[3][1] == runs[3][2] and runs[4][0] != runs[3][0]
    keras.utils.set_random_seed(3)
    assert run(build(), 3) == runs[3][0]


@pytest.mark.numerics
def test_a_whole_model_sees_images_a_batch_at_a_time_outside_training_and_gives_what_one_call_gives():
    """``in_chunks``: on all of lesson 04's 100 test images at once, the backbone's activations cost its check 170 MB
    more than its training.  32 at a time (here through a small convolutional model, quick to compile on JAX), the
    outputs are those of one call within float32's rounding; a head's features (rank 2, small) go in one call."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1)])
    images = np.random.default_rng(0).uniform(-1, 1, (100, 12, 12, 3)).astype("float32")
    sizes = []

    def call(x, training):
        sizes.append(len(x))
        return model(x, training=training)

    chunked = in_chunks(call, images)
    assert sizes == [IMAGES_AT_ONCE] * 3 + [100 - 3 * IMAGES_AT_ONCE]
    np.testing.assert_allclose(chunked, keras.ops.convert_to_numpy(model(images, training=False)), rtol=1e-5,
                               atol=1e-6)
    sizes.clear()
    features = images.reshape(100, -1)
    assert in_chunks(lambda x, training: sizes.append(len(x)) or x, features).shape == features.shape and sizes == [100]


@pytest.mark.numerics
@pytest.mark.skipif(keras.backend.backend() != "jax", reason="many seeds at once are mapped with jax.vmap: JAX only")
def test_each_seeds_copy_trained_at_once_starts_as_its_lone_run_and_stays_within_float32_after_an_epoch():
    """``bench/seeds_together.py`` trains K seeds of lesson 01's head at once (``jax.vmap`` over Keras's stateless
    step).  Copy k must be the lone run at seed k: the same initial weights and dropout seeds, bit for bit, and the
    same batches; after one epoch (32 Adam steps) their validation predictions agree within 1e-5, about 80 float32
    steps near 1 (the mapped step sums in another order; 20 of 20 seeds measured within 1.8e-7).  Longer runs are
    not compared: Adam divides near-zero gradients by their own size, so a last-bit difference can grow (at 5
    epochs, 4 of 20 seeds differed by 1e-2 to 8e-2), and no seed's chaotic outcome decides a test.  One seed of
    the four may be such a seed already."""
    import importlib.util

    from tlclinic.tasks import fixed_classifier, shapes_features

    path = Path(__file__).resolve().parent.parent / "bench" / "seeds_together.py"
    spec = importlib.util.spec_from_file_location("seeds_together", path)
    together = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(together)
    (x, y), (x_val, _) = shapes_features()
    build, seeds = fixed_classifier(), [0, 1, 2, 3]
    for epochs, tolerance in ((0, 0.0), (1, 1e-5)):
        lone = together.one_at_a_time(build, x, y, x_val, seeds, epochs, 32)
        copies = together.all_at_once(build, x, y, x_val, seeds, epochs, 32)
        differences = [float(np.max(np.abs(a - b))) for a, b in zip(lone, copies)]
        assert sum(d <= tolerance for d in differences) >= len(seeds) - (1 if epochs else 0), (epochs, differences)
    assert np.max(np.abs(lone[0] - lone[1])) > 1e-3  # the seeds train differently: the comparison can fail


def test_an_answers_checks_at_several_seeds_in_one_verifier_give_the_runs_they_give_alone():
    """The verifier judges each answer's tests within ``grading.one_answer()``: one compiled model for all its
    seeds.  Each check's run is the one it gives alone, bit for bit (BatchNorm's statistics included).  That a kept
    model's run is a new build's on every kernel family and backend is the numerics test above."""
    from tlclinic import grading
    from tlclinic.crossing import as_data_and_back

    lesson = discover()["01-softmax-one-unit"]
    built, _ = lesson.calibration_answers()["BatchNormalization after each hidden layer + sigmoid"]
    answer = as_data_and_back(lesson.ANSWER, built)
    alone = [lesson.check_converges(answer, seed) for seed in (0, 1)]
    with grading.one_answer():
        together = [lesson.check_converges(answer, seed) for seed in (0, 1)]
        assert together[1].model is together[0].model  # one model, trained again: what is compared is a reuse
    for one, other in zip(alone, together):
        assert one.history == other.history
        for a, b in zip(one.val_predictions, other.val_predictions):
            np.testing.assert_array_equal(a, b)
    assert alone[0].history != alone[1].history  # the seed matters: the comparison can fail


@pytest.mark.backend_code
def test_a_head_kept_from_one_learning_rate_trains_at_another_as_a_new_build_would():
    """Lesson 03's slider and sweep train every rate on one traced head: the rate is the optimizer's variable,
    set from the new build with its fresh state, so a rate's run is the one a new build gives, bit for bit; a
    ``detached`` run keeps its own weights when the head trains again."""
    from tlclinic.heads import adam
    from tlclinic.training import detached

    lesson = discover()["03-learning-rate"]
    fresh = lesson.train(adam(1e-3), 0, task="regressor", epochs=1)
    compiled = CompiledHeads()
    first = detached(lesson.train(adam(0.1), 0, task="regressor", epochs=1, kept=(compiled, "rates")))
    kept = lesson.train(adam(1e-3), 0, task="regressor", epochs=1, kept=(compiled, "rates"))
    assert kept.history == fresh.history
    np.testing.assert_array_equal(kept.final_predictions, fresh.final_predictions)
    assert first.history["loss"] != kept.history["loss"]  # the rate matters: the comparison can fail
    (_, _), (x_val, _) = lesson.TASKS["regressor"].features()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first.model(x_val)), first.final_predictions)


@pytest.mark.backend_code
def test_a_run_watched_as_it_grows_is_first_drawn_after_a_few_batches_and_trains_as_an_unwatched_one():
    """A live view's first picture of a run comes after ``FIRST_PICTURE_AFTER`` batches, not the first epoch: the
    training loss so far and the validation outputs then, at the share of the epoch trained.  Watching changes
    nothing in the run, not even with BatchNorm, whose statistics that picture measures, bit for bit."""
    from tlclinic.tasks import shapes_features
    from tlclinic.training import FIRST_PICTURE_AFTER

    lesson = discover()["01-softmax-one-unit"]
    build, _ = lesson.calibration_answers()["BatchNormalization after each hidden layer + sigmoid"]
    seen = []
    watched = lesson.train(build, seed=2, epochs=1, on_epoch=lambda run: seen.append(
        (run.first_epoch_share, {name: list(values) for name, values in run.history.items()},
         list(run.val_predictions))))
    alone = lesson.train(build, seed=2, epochs=1)
    assert watched.history == alone.history and watched.first_epoch_share == 1
    for a, b in zip(watched.val_predictions, alone.val_predictions):
        np.testing.assert_array_equal(a, b)

    (share, history, predictions), *epochs = seen
    steps = -(-len(shapes_features()[0][0]) // lesson.BATCH_SIZE)
    assert share == FIRST_PICTURE_AFTER / steps < 1 and "loss" in history and "val_loss" not in history
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])
    assert history["loss"] != alone.history["loss"][:1]  # the mean over the first few batches, not the epoch's
    assert len(predictions) == 1 and predictions[0].shape == alone.final_predictions.shape
    assert [(share, len(history["val_loss"])) for share, history, _ in epochs] == [(1.0, 1)]


# ------------------------------------------------------------------------------------- calibration's error bounds

@pytest.mark.parametrize("errors, runs", [(0, 20), (0, 299), (1, 20), (3, 50), (19, 20)])
def test_an_error_bound_is_the_rate_at_which_so_few_errors_have_a_five_percent_chance(errors, runs):
    """One-sided Clopper-Pearson: at the bound, seeing ``errors`` or fewer has probability 0.05; a larger rate
    would make them rarer, a smaller one commoner."""
    import math

    from tlclinic.calibration import error_bound

    def at_most(rate):
        return sum(math.comb(runs, k) * rate ** k * (1 - rate) ** (runs - k) for k in range(errors + 1))

    bound = error_bound(errors, runs)
    assert at_most(bound) == pytest.approx(0.05, abs=1e-9)
    assert at_most(bound + 0.01 * (1 - bound)) < 0.05 < at_most(bound * 0.99)
    if errors == 0:
        assert bound == pytest.approx(1 - 0.05 ** (1 / runs), rel=1e-9)
    assert error_bound(runs, runs) == 1.0


def test_299_seeds_without_an_error_bound_the_rate_at_one_percent_and_298_do_not():
    from tlclinic.calibration import error_bound

    assert error_bound(0, 299) <= 0.01 < error_bound(0, 298)


def test_every_committed_calibration_row_shows_the_bound_its_counts_give():
    from tlclinic.calibration import pass_rate_bound
    from tlclinic.lessons import discover

    tables = [t for lesson in discover().values() for t in (lesson.folder / "calibration").glob("*.md")]
    assert tables
    for table in tables:
        for line in table.read_text().splitlines():
            if line.startswith("| ") and not line.startswith("| head "):
                cells = line.strip("| ").split(" | ")
                should = {"pass": True, "fail": False, "measured only": None}[cells[1]]
                passed, runs = map(int, cells[2].split("/"))
                assert cells[3] == pass_rate_bound(should, passed, runs), f"{table}: {line}"


def test_the_notebook_says_how_often_the_check_is_wrong_from_the_committed_tables(tmp_path, monkeypatch):
    import types

    from tlclinic import calibration

    monkeypatch.setattr(calibration, "numerics_family", lambda: "onednn-1")
    lesson = types.SimpleNamespace(folder=tmp_path)
    assert "not been calibrated" in calibration.how_often_wrong(lesson)
    (tmp_path / "calibration").mkdir()
    header = "| head | should | passed | pass rate, 95% bound | m min | m max |\n|---|---|---|---|---|---|\n"
    (tmp_path / "calibration" / "onednn-0.md").write_text(
        header + "| a | pass | 20/20 | ≥ 86.1% | 0.9 | 0.9 |\n| b | fail | 0/20 | ≤ 13.9% | 0.5 | 0.5 |\n")
    text = calibration.how_often_wrong(lesson)
    assert text.startswith("under the onednn-0 kernels it was run on 1 valid and 1 broken answers at 20 seeds")
    assert "every valid answer passed" in text
    assert "fails at most 13.9% of seeds, and one like the broken ones passes at most 13.9%" in text
    (tmp_path / "calibration" / "jax-cpu.md").write_text(
        header + "| a | pass | 299/299 | ≥ 99.0% | 0.9 | 0.9 |\n| b | fail | 1/299 | ≤ 1.6% | 0.5 | 0.8 |\n")
    text = calibration.how_often_wrong(lesson)
    assert "at 20 to 299 seeds each" in text and "under 2 kernel families (onednn-0, jax-cpu)" in text
    assert "not every answer got its verdict" in text and "passes at most 13.9%" in text  # the largest bound
    monkeypatch.setattr(calibration, "numerics_family", lambda: "jax-cpu")  # this machine's own table
    text = calibration.how_often_wrong(lesson)
    assert text.startswith("under this machine's kernels (jax-cpu) it was run on 1 valid and 1 broken answers at 299")
    assert "fails at most 1.0% of seeds, and one like the broken ones passes at most 1.6%" in text
    assert text.endswith("(also calibrated under onednn-0)")


# ------------------------------------------------------------------------------- calibration over several sittings

class FakeLesson:
    """A lesson whose calibration is arithmetic: answer "valid" passes at every seed, "broken" fails at every seed;
    ``trained`` records every seed asked for, ``stop_at`` interrupts the sitting when a chunk reaches that seed."""

    NAME, CALIBRATION_METRIC, CALIBRATION_ALSO = "00-fake", "m", ""

    def __init__(self, folder: Path, drift: float = 0.0, stop_at: int | None = None):
        self.folder, self.drift, self.stop_at, self.trained = folder, drift, stop_at, []

    def calibrate(self, seeds):
        from tlclinic.calibration import Calibration

        seeds = list(seeds)
        if self.stop_at is not None and self.stop_at in seeds:
            raise KeyboardInterrupt
        self.trained += seeds
        return [Calibration(head, head == "valid", seeds, [0.9 - 0.01 * s for s in seeds], [float("nan")] * len(seeds),
                            [(0.1 + 0.001 * s) * (1 + self.drift) for s in seeds],
                            {} if head == "valid" else {s: "val accuracy 0.5 < 0.8" for s in seeds})
                for head in ("valid", "broken")]


def calibrate(lesson, monkeypatch, *argv: str) -> int:
    from tlclinic.commands import calibrate as command

    monkeypatch.setattr(command, "discover", lambda: {lesson.NAME: lesson})
    monkeypatch.setattr(command, "select", lambda wanted, error: list(wanted))
    monkeypatch.setattr(command, "write_readme", lambda: [])
    return command.main([*argv, lesson.NAME])


def test_a_calibration_stopped_part_way_keeps_its_chunks_and_the_same_command_carries_on(tmp_path, monkeypatch,
                                                                                         capsys):
    from tlclinic.calibration import numerics_family

    table = tmp_path / "calibration" / f"{numerics_family()}.md"
    with pytest.raises(KeyboardInterrupt):
        calibrate(FakeLesson(tmp_path, stop_at=5), monkeypatch, "--seeds", "7", "--chunk", "3", "--write")
    assert "seeds 0 to 2," in table.read_text() and "7 seeds asked: the same command carries on" in table.read_text()
    assert "calibrate --seeds 7 --write 00-fake`" in table.read_text()  # the command that carries it on
    assert "| valid | pass | 3/3 |" in table.read_text()

    lesson = FakeLesson(tmp_path)
    assert calibrate(lesson, monkeypatch, "--seeds", "7", "--chunk", "3", "--write") == 0
    assert lesson.trained == [2, 3, 4, 5, 6]  # the last held seed again, then only what was missing
    assert "carrying on from the 3 seeds held" in capsys.readouterr().out
    once = FakeLesson(tmp_path / "once")
    assert calibrate(once, monkeypatch, "--seeds", "7", "--write") == 0
    numbers = [(t.with_suffix(".json").read_text(), t.read_text().split("\n\n", 2)[2])
               for t in (table, tmp_path / "once" / "calibration" / table.name)]
    assert numbers[0] == numbers[1]  # the same table as one sitting's, bar the heading's times
    assert "| valid | pass | 7/7 | ≥ 65.2% | 0.840 | 0.900 |" in table.read_text()
    assert "| broken | fail | 0/7 | ≤ 34.8% |" in table.read_text() and "asked" not in table.read_text()

    lesson = FakeLesson(tmp_path)  # more seeds than asked are held: kept, checked, none trained
    assert calibrate(lesson, monkeypatch, "--seeds", "4", "--write") == 0
    assert lesson.trained == [6] and "seeds 0 to 6," in table.read_text()


def test_a_table_whose_last_seed_no_longer_trains_as_it_holds_starts_afresh_and_says_why(tmp_path, monkeypatch,
                                                                                       capsys):
    from tlclinic.calibration import numerics_family

    assert calibrate(FakeLesson(tmp_path), monkeypatch, "--seeds", "3", "--write") == 0
    lesson = FakeLesson(tmp_path, drift=1e-3)  # the code changed the losses by 0.1%
    assert calibrate(lesson, monkeypatch, "--seeds", "4", "--write") == 0
    assert lesson.trained == [2, 0, 1, 2, 3]
    out = capsys.readouterr().out
    assert "starting afresh: seed 2 no longer trains as the table holds: valid at seed 2: loss 0.102" in out
    json = (tmp_path / "calibration" / f"{numerics_family()}.json").read_text()
    assert '"seeds": 4' in json and "0.1001" in json  # the new losses

    lesson = FakeLesson(tmp_path, drift=1e-3)  # the same numbers again: carried on; --fresh: trained afresh
    assert calibrate(lesson, monkeypatch, "--seeds", "4", "--write") == 0 and lesson.trained == [3]
    assert calibrate(lesson, monkeypatch, "--seeds", "2", "--write", "--fresh") == 0
    assert lesson.trained == [3, 0, 1] and "starting afresh: --fresh" in capsys.readouterr().out


def test_a_table_from_other_libraries_or_without_per_seed_numbers_is_not_carried_on(tmp_path, monkeypatch):
    import json

    from tlclinic import calibration

    table = tmp_path / "calibration" / f"{calibration.numerics_family()}.md"
    assert calibrate(FakeLesson(tmp_path), monkeypatch, "--seeds", "2", "--write") == 0
    numbers = json.loads(table.with_suffix(".json").read_text())
    numbers["versions"]["keras"] = "2.0.0"
    table.with_suffix(".json").write_text(json.dumps(numbers))
    held, why = calibration.read_held(table)
    assert held is None and "measured with" in why and "'keras': '2.0.0'" in why
    table.with_suffix(".json").unlink()
    assert calibration.read_held(table) == (None, f"{table.name} has no per-seed numbers beside it")


def test_a_broken_answer_that_passes_is_reported_with_the_seeds_it_passed(tmp_path, monkeypatch, capsys):
    lesson = FakeLesson(tmp_path)
    real = lesson.calibrate
    lesson.calibrate = lambda seeds: [r if r.head == "valid" else type(r)(r.head, False, r.seeds, r.values,
                                      r.also_values, r.losses, {1: "no"}) for r in real(seeds)]
    assert calibrate(lesson, monkeypatch, "--seeds", "3") == 1
    assert "NOT AS EXPECTED: broken: passed at seed 0; passed at seed 2" in capsys.readouterr().err
    assert not (tmp_path / "calibration").exists()  # without --write nothing is written


def test_a_table_that_cannot_be_carried_on_is_not_replaced_by_fewer_seeds_unless_asked(tmp_path, monkeypatch, capsys):
    from tlclinic.calibration import numerics_family

    table = tmp_path / "calibration" / f"{numerics_family()}.md"
    table.parent.mkdir()
    header = "| head | should | passed | pass rate, 95% bound | m min | m max |\n|---|---|---|---|---|---|\n"
    table.write_text(header + "| valid | pass | 299/299 | ≥ 99.0% | 0.9 | 0.9 |\n")  # no per-seed numbers
    lesson = FakeLesson(tmp_path)
    assert calibrate(lesson, monkeypatch, "--seeds", "3", "--write") == 1
    assert lesson.trained == [] and "299/299" in table.read_text()
    assert "holds 299 seeds and cannot be carried on" in capsys.readouterr().err
    assert calibrate(lesson, monkeypatch, "--seeds", "3", "--write", "--fresh") == 0
    assert lesson.trained == [0, 1, 2] and "| valid | pass | 3/3 |" in table.read_text()


def test_a_model_not_compiled_is_refused_saying_so():
    def build():
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(1)(inputs))

    with pytest.raises(ValueError, match="not compiled: call model.compile"):
        CompiledHeads().start("key", 0, build)
