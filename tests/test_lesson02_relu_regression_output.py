"""Lesson 02: the relu head's measured symptom, the dying output, the live toggle and the graded check."""
import numpy as np
import pytest

from tlclinic.heads import adam
from tlclinic.lessons import relu_regression_output as lesson
from tlclinic.symptoms import output_died
from tlclinic.training import train_seeds

FIXES = [name for name in lesson.OUTPUTS if name != lesson.BROKEN]


@pytest.mark.numerics
def test_the_question_head_never_predicts_a_negative_angle():
    s = lesson.regression_symptoms(lesson.reproduce())
    assert s["prediction_min"] >= 0 and s["negative_prediction_share"] == 0
    assert 0.4 < s["negative_angle_share"] < 0.6
    assert s["every_negative_keeps_its_size"]
    assert s["mae_negative_angles"] > 3 * s["mae_positive_angles"], s


@pytest.mark.e2e
@pytest.mark.numerics
def test_the_output_dies_at_0_1_nearly_always_and_at_a_sane_rate_sometimes():
    """Measured over 20 seeds: 20/20 at the question's 0.1, 4/20 at 1e-3 (`lesson.dead_output_seeds`)."""
    dead = {lr: lesson.dead_output_seeds(lr, seeds=range(20)) for lr in (1e-3, lesson.QUESTION_LEARNING_RATE)}
    assert len(dead[lesson.QUESTION_LEARNING_RATE]) >= 18, dead
    assert 1 <= len(dead[1e-3]) <= 8, dead


@pytest.mark.numerics
def test_a_dead_output_predicts_zero_and_its_loss_never_changes():
    seed = lesson.dead_output_seeds(lesson.QUESTION_LEARNING_RATE, seeds=range(3))[0]  # 20 of 20 die at 0.1
    run = lesson.reproduce(seed=seed, epochs=5, learning_rate=lesson.QUESTION_LEARNING_RATE)
    assert output_died(run.val_predictions)
    assert np.all(run.final_predictions == 0)
    loss = run.history["loss"]
    np.testing.assert_allclose(loss[2:], loss[-1], rtol=1e-3)


def test_train_seeds_gives_each_seed_the_run_train_head_gives():
    (x_train, y_train), (x_val, _) = lesson.road_features()
    build = lesson.regressor(lesson.BROKEN, adam(1e-3))
    runs = train_seeds(build, [0, 1], (x_train, y_train), x_val, epochs=2, batch_size=lesson.BATCH_SIZE)
    for seed, outputs in zip([0, 1], runs):
        lone = lesson.reproduce(seed=seed, epochs=2)
        for mine, theirs in zip(outputs, lone.val_predictions):
            np.testing.assert_allclose(mine, theirs, atol=1e-6)


@pytest.mark.numerics
@pytest.mark.parametrize("output", FIXES)
def test_each_fix_passes_the_graded_check(output):
    run = lesson.check_converges(lesson.regressor(output))
    s = lesson.regression_symptoms(run)
    assert s["negative_prediction_share"] > 0.4 and s["val_huber"] < lesson.MAX_VAL_HUBER


def test_the_broken_head_fails_for_its_missing_negative_predictions():
    with pytest.raises(AssertionError, match="0.0% of the predictions are negative.*produce a negative number"):
        lesson.check_converges(lesson.regressor(lesson.BROKEN))


@pytest.mark.numerics
def test_shifting_the_targets_without_shifting_back_fails():
    run = lesson.train(lesson.regressor(lesson.BROKEN), target_shift=1.0)
    # 0.269 or more over 20 seeds under each kernel family, JAX included (calibration/); the check allows 0.07
    assert lesson.regression_symptoms(run)["val_huber"] > 3 * lesson.MAX_VAL_HUBER
    with pytest.raises(AssertionError, match="negative"):
        lesson.assert_converged(run)


def test_a_head_with_two_outputs_is_told_to_output_one():
    import keras

    def build_head(input_dim):
        inputs = keras.Input((input_dim,))
        model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        model.compile(optimizer="adam", loss="mse")
        return model

    with pytest.raises(AssertionError, match=r"should output 1 unit\(s\) per example, not \(2,\)"):
        lesson.check_converges(build_head)


@pytest.mark.e2e
def test_the_toggle_retrains_the_chosen_output_and_redraws(capsys):
    broken = lesson.reproduce()
    view = lesson.live()
    experiment = view.experiment
    assert experiment.run is broken  # the question's run, from the cell above, not trained again
    assert experiment.run.model.layers[-1].activation.__name__ == "relu"
    before = [line.get_ydata().copy() for ax in experiment.figure.axes for line in ax.get_lines()]
    for output in FIXES:
        view.control.value = output
        assert experiment.run.model.layers[-1].activation.__name__ == lesson.OUTPUTS[output]
        assert lesson.regression_symptoms(experiment.run)["negative_prediction_share"] > 0.4
        assert output in experiment.figure.get_suptitle()
    after = [line.get_ydata() for ax in experiment.figure.axes for line in ax.get_lines()]
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    assert view.status.value.startswith("retrained and redrawn in")
    first = experiment.run
    view.control.value = FIXES[0]
    view.control.value = FIXES[-1]  # back again: the run kept from before, not trained again
    assert experiment.run is first and view.status.value.startswith("redrawn (a run kept from before) in")
    assert capsys.readouterr().err == ""


@pytest.mark.e2e
@pytest.mark.numerics
def test_calibration_over_more_seeds_passes_every_fix_and_fails_every_broken_head():
    """The full 20-seed run is `make calibrate`; one more seed here keeps the grader honest in CI."""
    rows = lesson.calibrate(seeds=[20])
    assert len(rows) == len(lesson.calibration_answers()) + 1  # and the shifted-target trick
    assert all(r.as_expected for r in rows), [(r.head, r.failures) for r in rows]
