"""tlclinic.doctor: each static check, the dead-relu count, the training checks, the report, the catalogue."""
import re
import warnings

import keras
import numpy as np
import pytest
from keras import layers

from tlclinic import doctor
from tlclinic.doctor import catalogue
from tlclinic.symptoms import loss_reads_logits

FEATURES = 8
RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, FEATURES)).astype("float32")
BINARY = (X[:, 0] > 0).astype("float32")
THREE = np.argmax(X[:, :3], axis=1).astype("int32")
REGRESSION = X[:, 0] + 0.5 * X[:, 1]  # half of it negative


def compiled(*body, loss="binary_crossentropy", optimizer=None, inputs=(FEATURES,)) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(inputs), *body])
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), loss=loss)
    return model


def only(report: doctor.Report, kind: str) -> doctor.Finding:
    found = report.of(kind)
    assert len(found) == 1, f"expected one {kind} finding, got: {report}"
    return found[0]


# ------------------------------------------------------------------------------------------ softmax-one-unit

SOFTMAX_OVER_ONE_UNIT = {
    "Dense(1, softmax)": lambda: [layers.Dense(1, activation="softmax", name="out")],
    "Activation('softmax') after Dense(1)": lambda: [layers.Dense(1), layers.Activation("softmax", name="out")],
    "Softmax() after Dense(1)": lambda: [layers.Dense(1), layers.Softmax(name="out")],
}


@pytest.mark.parametrize("form", list(SOFTMAX_OVER_ONE_UNIT))
def test_a_softmax_over_one_unit_is_found_however_written_and_keras_own_warning_is_quoted(form):
    model = compiled(layers.Dense(4, activation="relu"), *SOFTMAX_OVER_ONE_UNIT[form]())
    finding = only(doctor.diagnose(model, X, BINARY), "softmax-one-unit")
    assert finding.layer == "out" and finding.confirmed and finding.epoch is None
    assert 'Keras warns: "You are using a softmax over axis -1 of a tensor of shape (64, 1). This axis has size 1.' \
        in finding.evidence, finding.evidence
    low, high = re.search(r"its outputs lie in \[(\S+), (\S+)\] for every input", finding.evidence).groups()
    assert abs(float(low) - 1) <= 1e-6 and abs(float(high) - 1) <= 1e-6  # 1.0, give or take the last bit
    assert "sigmoid" in finding.fix


def test_a_softmax_inside_a_nested_model_is_found():
    keras.utils.set_random_seed(0)
    head = keras.Sequential([keras.Input((4,)), layers.Dense(1, activation="softmax", name="nested_out")], name="head")
    inputs = keras.Input((FEATURES,))
    model = keras.Model(inputs, head(layers.Dense(4, activation="relu")(inputs)))
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert only(doctor.diagnose(model, X, BINARY), "softmax-one-unit").layer == "nested_out"


def test_other_warnings_raised_while_the_softmax_is_called_again_are_issued_again():
    def softmax(t):
        warnings.warn("a note from the model's own code")
        return keras.ops.softmax(t)

    model = compiled(layers.Dense(1), layers.Activation(softmax))
    with pytest.warns(UserWarning, match="a note from the model's own code"):
        finding = only(doctor.diagnose(model, X, BINARY), "softmax-one-unit")
    assert "Keras warns" in finding.evidence and "a note" not in finding.evidence


def test_a_softmax_over_two_units_and_a_sigmoid_unit_are_not_softmax_one_unit():
    two = compiled(layers.Dense(2, activation="softmax"), loss="sparse_categorical_crossentropy")
    sigmoid = compiled(layers.Dense(1, activation="sigmoid"))
    assert doctor.diagnose(two, X, BINARY.astype("int32")).findings == []
    assert doctor.diagnose(sigmoid, X, BINARY).findings == []


# ---------------------------------------------------------------------------------------------- output-range

@pytest.mark.parametrize("activation, loss, targets, share", [
    ("relu", "mse", REGRESSION, np.mean(REGRESSION < 0)),
    ("softplus", "mse", REGRESSION, np.mean(REGRESSION < 0)),
    ("sigmoid", "mse", 2 * BINARY, np.mean(BINARY == 1)),
    ("tanh", "mse", 1.5 * BINARY, np.mean(BINARY == 1)),
])
def test_targets_the_output_activation_cannot_reach_are_counted(activation, loss, targets, share):
    model = compiled(layers.Dense(1, activation=activation, name="out"), loss=loss)
    finding = only(doctor.diagnose(model, X, targets), "output-range")
    assert finding.layer == "out" and finding.confirmed
    assert finding.evidence.startswith(f"{share:.0%} of the targets ({round(share * len(targets))} of 64)"), \
        finding.evidence
    assert f"what {activation} can output" in finding.evidence


def test_a_softmax_with_one_hot_or_index_labels_and_a_linear_output_are_in_range():
    one_hot = np.eye(3, dtype="float32")[THREE]
    softmax = compiled(layers.Dense(3, activation="softmax"), loss="categorical_crossentropy")
    sparse = compiled(layers.Dense(3, activation="softmax"), loss="sparse_categorical_crossentropy")
    linear = compiled(layers.Dense(1), loss="mse")
    assert doctor.diagnose(softmax, X, one_hot).findings == []
    assert doctor.diagnose(sparse, X, THREE).findings == []  # indices 0..2 are no values to reach
    assert doctor.diagnose(linear, X, 1000 * REGRESSION).findings == []


# --------------------------------------------------------------------------------------------- loss-mismatch

LOSS_MISMATCHES = {
    "categorical cross-entropy on one unit": (
        [layers.Dense(1, activation="sigmoid")], "categorical_crossentropy", BINARY[:, None],
        "over 1 output unit", True),
    "categorical cross-entropy on sigmoids": (
        [layers.Dense(3, activation="sigmoid")], "categorical_crossentropy", np.eye(3)[THREE],
        "independent sigmoid outputs", False),
    "categorical cross-entropy on class indices": (
        [layers.Dense(3, activation="softmax")], "categorical_crossentropy", THREE,
        "class indices of shape (64,)", True),
    "binary cross-entropy on 3 values": (
        [layers.Dense(1, activation="sigmoid")], "binary_crossentropy", THREE,
        "3 distinct label values (0, 1, 2)", True),
    "binary cross-entropy on a 2-unit softmax, labels (N,)": (
        [layers.Dense(2, activation="softmax")], "binary_crossentropy", BINARY, "both softmax outputs", True),
    "binary cross-entropy on a 2-unit softmax, labels (N, 1)": (
        [layers.Dense(2, activation="softmax")], "binary_crossentropy", BINARY[:, None], "both softmax outputs", True),
    "binary cross-entropy on a linear output": (
        [layers.Dense(1)], keras.losses.BinaryCrossentropy(), BINARY, "without from_logits reads the linear", True),
    "binary cross-entropy on a relu output": (
        [layers.Dense(1, activation="relu")], "binary_crossentropy", BINARY,
        "without from_logits reads the relu", True),
    "logits from a relu": (
        [layers.Dense(1, activation="relu")], keras.losses.BinaryCrossentropy(from_logits=True), BINARY,
        "logits are never negative", True),
    "mean squared error on softmax labels": (
        [layers.Dense(3, activation="softmax")], "mse", THREE[:, None], "regression loss on class indices", False),
    "mean squared error on a sigmoid, class indices 0..2": (
        [layers.Dense(1, activation="sigmoid")], "mse", THREE.astype("float32"), "3 integer label values (0, 1, 2)",
        False),
}


@pytest.mark.parametrize("case", list(LOSS_MISMATCHES))
def test_a_loss_that_does_not_fit_the_output_or_the_labels_is_a_mismatch(case):
    body, loss, labels, message, confirmed = LOSS_MISMATCHES[case]
    model = compiled(*body, loss=loss)
    findings = doctor.diagnose(model, X, labels).of("loss-mismatch")
    matching = [f for f in findings if message in f.evidence]
    assert matching, f"no loss-mismatch saying {message!r} in: {findings}"
    assert matching[0].confirmed is confirmed and matching[0].fix


@pytest.mark.parametrize("body, loss, labels", [
    ([layers.Dense(1, activation="sigmoid")], "bce", BINARY),
    ([layers.Dense(1, activation="sigmoid")], keras.losses.binary_crossentropy, BINARY),
    ([layers.Dense(1)], keras.losses.BinaryCrossentropy(from_logits=True), BINARY),
    ([layers.Dense(3, activation="softmax")], "sparse_categorical_crossentropy", THREE),
    ([layers.Dense(3)], keras.losses.SparseCategoricalCrossentropy(from_logits=True), THREE),
    ([layers.Dense(3, activation="softmax")], keras.losses.CategoricalCrossentropy(), np.eye(3)[THREE]),
    ([layers.Dense(1)], keras.losses.Huber(), REGRESSION),
])
def test_matching_losses_outputs_and_labels_give_no_finding(body, loss, labels):
    assert doctor.diagnose(compiled(*body, loss=loss), X, labels).findings == []


def test_the_loss_is_read_from_strings_functions_objects_and_the_compile_config():
    assert doctor.read_loss(compiled(layers.Dense(1), loss="mse")).name == "mean_squared_error"
    assert doctor.read_loss(compiled(layers.Dense(1), loss=keras.losses.binary_crossentropy)).family == "binary"
    spec = doctor.read_loss(compiled(layers.Dense(1), loss=keras.losses.CategoricalCrossentropy(from_logits=True)))
    assert (spec.name, spec.from_logits) == ("categorical_crossentropy", True)
    model = compiled(layers.Dense(1), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.loss = None  # a model whose loss is known only from its compile config
    assert (doctor.read_loss(model).name, doctor.read_loss(model).from_logits) == ("binary_crossentropy", True)
    assert doctor.read_loss(keras.Sequential([keras.Input((FEATURES,)), layers.Dense(1)])) is None


# --------------------------------------------------------------------------------------------- learning-rate

@pytest.mark.parametrize("optimizer, says", [
    (keras.optimizers.Adam(0.1), "Adam learning rate 0.1;"),
    (keras.optimizers.RMSprop(1e-2), "RMSprop learning rate 0.01;"),
    (keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.5)),
     "Adam its schedule starts at 0.1;"),
    (keras.optimizers.LossScaleOptimizer(keras.optimizers.Nadam(0.05)), "Nadam learning rate 0.05;"),
])
def test_an_adaptive_optimizer_at_1e_2_or_more_is_suspected(optimizer, says):
    finding = only(doctor.diagnose(compiled(layers.Dense(1, activation="sigmoid"), optimizer=optimizer), X, BINARY),
                   "learning-rate")
    assert not finding.confirmed and finding.layer == ""
    assert finding.evidence.startswith(says), finding.evidence


@pytest.mark.parametrize("optimizer", [
    keras.optimizers.Adam(1e-3), keras.optimizers.SGD(0.1),
    keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)),
])
def test_a_moderate_adaptive_rate_or_plain_sgd_is_not_suspected(optimizer):
    model = compiled(layers.Dense(1, activation="sigmoid"), optimizer=optimizer)
    assert doctor.diagnose(model, X, BINARY).findings == []


# ------------------------------------------------------------------------------------------------- dead relus

def _set(layer, kernel_value: float, bias) -> None:
    layer.set_weights([np.full(layer.get_weights()[0].shape, kernel_value, "float32"), np.asarray(bias, "float32")])


@pytest.mark.parametrize("form", ["Dense(relu)", "Activation('relu')", "ReLU()"])
def test_dead_relu_fraction_counts_every_way_of_writing_a_relu(form):
    relu = {"Dense(relu)": [layers.Dense(4, activation="relu", name="h")],
            "Activation('relu')": [layers.Dense(4, name="h"), layers.Activation("relu")],
            "ReLU()": [layers.Dense(4, name="h"), layers.ReLU()]}[form]
    model = compiled(*relu, layers.Dense(1, activation="sigmoid"))
    _set(model.get_layer("h"), 0.0, [-1, -1, -1, 1])  # three units output max(0, -1) = 0 for every input
    assert doctor.dead_relu_fraction(model, X) == 0.75
    assert doctor.dead_relu_units(model, X)[0][1:] == (3, 4)


def test_a_convolution_channel_is_dead_when_it_is_0_everywhere_and_the_output_relu_is_not_hidden():
    model = compiled(layers.Conv2D(2, 3, activation="relu", name="conv"), layers.Flatten(),
                     layers.Dense(1, activation="relu"), loss="mse", inputs=(6, 6, 1))
    _set(model.get_layer("conv"), 0.0, [-1, 1])
    assert doctor.dead_relu_units(model, RNG.normal(size=(5, 6, 6, 1))) == [("conv", 1, 2)]


def test_relus_inside_a_nested_backbone_are_counted():
    keras.utils.set_random_seed(0)
    backbone = keras.Sequential([keras.Input((FEATURES,)), layers.Dense(4, activation="relu", name="b1")])
    inputs = keras.Input((FEATURES,))
    hidden = layers.Dense(4, activation="relu", name="h")(backbone(inputs))
    model = keras.Model(inputs, layers.Dense(1)(hidden))
    _set(backbone.get_layer("b1"), 0.0, [-1, -1, 1, 1])
    _set(model.get_layer("h"), 1.0, [0, 0, 0, 0])
    assert doctor.dead_relu_units(model, X) == [("b1", 2, 4), ("h", 0, 4)]
    assert doctor.dead_relu_fraction(model, X) == 0.25


# ------------------------------------------------------------------------------------ the training callbacks

def watched(model: keras.Model, y_val=None, static=()) -> doctor.Doctor:
    watcher = doctor.Doctor(X, y_val, static=static)
    watcher.set_model(model)
    watcher.on_train_begin()
    return watcher


def epoch(watcher: doctor.Doctor, number: int, loss: float = 0.5) -> None:
    watcher.on_epoch_begin(number)
    watcher.on_epoch_end(number, {"loss": loss})


def test_a_nan_loss_is_reported_with_its_step_and_stops_training():
    watcher = watched(compiled(layers.Dense(1, activation="sigmoid")))
    watcher.on_epoch_begin(0)
    watcher.on_train_batch_end(0, {"loss": 0.7})
    watcher.on_train_batch_end(1, {"loss": float("nan")})
    finding = only(watcher.report, "nan")
    assert finding.evidence.startswith("the training loss became nan at step 2 (epoch 1, batch 2)")
    assert finding.epoch == 1 and watcher.model.stop_training


def test_predictions_all_0_with_a_flat_loss_collapse_at_once_and_are_a_dead_output_after_two_epochs():
    model = compiled(layers.Dense(1, activation="relu", name="out"), loss="mse")
    _set(model.get_layer("out"), 0.0, [-1])
    watcher = watched(model, REGRESSION)
    epoch(watcher, 0, loss=watcher.initial_loss)  # the loss has not fallen: judged now
    assert watcher.report.kinds == ("collapsed-output",)
    evidence = watcher.report.findings[0].evidence
    assert "all 64 validation predictions equal 0" in evidence and "the loss stopped falling" in evidence, evidence
    epoch(watcher, 1, loss=watcher.initial_loss)
    assert watcher.report.kinds == ("collapsed-output", "dead-output")
    assert only(watcher.report, "dead-output").epoch == 2
    assert "Probable cause: dead-output" in only(watcher.report, "collapsed-output").evidence


def test_identical_predictions_while_the_loss_still_falls_are_judged_when_training_ends():
    model = compiled(layers.Dense(1, activation="relu", name="out"), loss="mse")
    _set(model.get_layer("out"), 0.0, [-1])
    watcher = watched(model, REGRESSION)
    epoch(watcher, 0, loss=0.5 * watcher.initial_loss)
    assert watcher.report.findings == []
    watcher.on_train_end()
    assert only(watcher.report, "collapsed-output").epoch == 1
    assert "training ended" in only(watcher.report, "collapsed-output").evidence


def test_an_initial_loss_far_from_chance_is_found_before_the_first_update():
    model = compiled(layers.Dense(1, activation="sigmoid", name="out"))
    _set(model.get_layer("out"), 5.0, [0])  # confident and wrong about half the examples
    finding = only(watched(model, BINARY).report, "initial-loss")
    assert finding.epoch == 0 and "times chance (0.6931)" in finding.evidence, finding.evidence


def test_a_sound_start_gives_no_initial_loss_finding():
    assert watched(compiled(layers.Dense(1, activation="sigmoid")), BINARY).report.findings == []


def test_training_confirms_a_suspected_learning_rate_by_big_steps():
    model = compiled(layers.Dense(8, activation="relu"), layers.Dense(1, activation="sigmoid"),
                     optimizer=keras.optimizers.Adam(0.1))
    watcher = watched(model, BINARY, static=doctor.diagnose(model, X, BINARY))
    assert not only(watcher.report, "learning-rate").confirmed
    watcher.on_epoch_begin(0)
    model.layers[0].kernel.assign(model.layers[0].kernel * 2)  # a step as large as the weights themselves
    watcher.on_epoch_end(0, {"loss": 0.7})
    finding = only(watcher.report, "learning-rate")
    assert finding.confirmed and finding.epoch == 1 and finding.layer == model.layers[0].name
    assert "largest update/weight ratio over the epoch 1 at" in finding.evidence, finding.evidence


def test_a_first_epoch_loss_ten_times_the_initial_one_confirms_the_learning_rate():
    model = compiled(layers.Dense(1, activation="sigmoid"), optimizer=keras.optimizers.SGD(5.0))
    watcher = watched(model, BINARY)
    epoch(watcher, 0, loss=50 * watcher.initial_loss)
    finding = only(watcher.report, "learning-rate")
    assert finding.confirmed and finding.epoch == 1
    assert finding.evidence.startswith("SGD at 5: first-epoch loss") and "is 50 times the initial" in finding.evidence


@pytest.mark.numerics
def test_examine_trains_with_the_doctor_and_combines_its_findings_with_the_static_ones():
    keras.utils.set_random_seed(0)
    model = compiled(layers.Dense(1, activation="softmax"), optimizer=keras.optimizers.SGD(0.01))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = doctor.examine(model, X, BINARY, X[:32], BINARY[:32], epochs=2, batch_size=32, seed=0)
    # Keras's own warning, which it gives as the model is called, is quoted in the finding, not repeated by training
    assert 'Keras warns: "You are using a softmax over axis -1' in report.findings[0].evidence
    assert not [w for w in caught if "softmax over axis" in str(w.message)]
    if loss_reads_logits():  # TensorFlow: the loss, read from the logits, starts at chance
        assert report.kinds == ("softmax-one-unit", "collapsed-output")
        assert [f.epoch for f in report.findings] == [None, 1]
    else:  # JAX, PyTorch: the loss of a constant 1.0 starts at -log(eps) on every class-0 label, far above chance
        assert report.kinds == ("softmax-one-unit", "initial-loss", "collapsed-output")
        assert [f.epoch for f in report.findings] == [None, 0, 1]
    assert "Probable cause: softmax-one-unit" in report.findings[-1].evidence, report.findings[-1].evidence
    assert len(report.measurements["epochs"]) == 2 and report.measurements["loss_family"] == "binary"


# -------------------------------------------------------------------------------------------------- the report

def test_the_report_prints_one_line_per_finding_and_says_so_when_there_is_none():
    assert str(doctor.Report()) == "no problem found"
    report = doctor.Report([doctor.Finding("nan", "", "loss nan at step 3.", "lower the rate.", True, 1),
                            doctor.Finding("learning-rate", "", "Adam at 0.1.", "use 1e-3.", False)])
    assert str(report).splitlines() == ["nan (epoch 1): loss nan at step 3. Fix: lower the rate.",
                                        "learning-rate (before training, suspected): Adam at 0.1. Fix: use 1e-3."]
    assert report.kinds == ("nan", "learning-rate")


def test_the_html_report_is_a_table_with_escaped_text():
    report = doctor.Report([doctor.Finding("dead-relu", "dense<1>", "80% dead.", "lower the rate.", True, 2)])
    html = report._repr_html_()
    assert html.startswith("<table>") and "dense&lt;1&gt;" in html and "<td>epoch 2</td>" in html
    assert doctor.Report()._repr_html_() == "<p>no problem found</p>"


def test_printing_the_doctor_prints_its_static_and_training_findings(capsys):
    model = compiled(layers.Dense(1, activation="relu", name="out"), loss="mse",
                     optimizer=keras.optimizers.Adam(0.1))
    _set(model.get_layer("out"), 0.0, [-1])
    watcher = watched(model, static=doctor.diagnose(model, X, REGRESSION))
    epoch(watcher, 0)
    watcher.on_train_end()
    print(watcher)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[0] for line in lines] == ["output-range", "learning-rate", "collapsed-output"]
    assert lines[0].startswith("output-range at out (before training):")


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown kind 'slow'; the kinds are: softmax-one-unit"):
        doctor.Finding("slow", "", "", "", True)


def test_every_kind_has_a_one_line_meaning():
    assert set(doctor.KINDS) >= {"softmax-one-unit", "output-range", "loss-mismatch", "learning-rate",
                                 "initial-loss", "dead-relu", "collapsed-output", "dead-output", "nan",
                                 "double-activation", "sparse-labels", "unscaled-inputs"}
    assert all(meaning and "\n" not in meaning for meaning in doctor.KINDS.values())


# ------------------------------------------------------------------------------------------------ the catalogue

@pytest.mark.e2e
@pytest.mark.numerics
def test_the_catalogue_finds_every_bug_and_nothing_on_any_twin():
    rows = catalogue.run_catalogue([0, 1])
    assert len(catalogue.PROGRAMS) >= 15
    for row in rows:
        if row.variant == "bug":
            assert row.expected in row.report.kinds, f"{row.program}, seed {row.seed}: {row.report}"
        else:
            assert row.report.findings == [], f"twin of {row.program}, seed {row.seed}: {row.report}"
    for row in rows:
        if row.expected in ("learning-rate", "dead-relu", "nan"):  # confirmed by training, not suspected
            assert only(row.report, row.expected).confirmed, f"{row.program}, seed {row.seed}: {row.report}"
    m = catalogue.margins(rows)
    assert m["dead relu share, twins (max)"] < doctor.DEAD_RELU_SHARE
    assert doctor.DEAD_RELU_SHARE < m["dead relu share, dead-relu programs (min of max)"]
    assert m["update ratio, twins (max)"] < doctor.UPDATE_RATIO < m["update ratio, learning-rate programs (min of max)"]
    assert m["first-epoch loss / initial loss, twins (max)"] < doctor.LOSS_JUMP
    assert 1 / doctor.CLASSIFICATION_LOSS_FACTOR < m["initial loss / chance, classification twins (min)"]
    assert m["initial loss / chance, classification twins (max)"] < doctor.CLASSIFICATION_LOSS_FACTOR
    assert doctor.REGRESSION_LOSS_FACTOR < m["initial loss / reference, initial-loss programs (min)"]
    far_twins = m["target scale, regression twins with an initial loss over the reference factor (max)"]
    assert not far_twins >= doctor.TARGET_SCALE_FACTOR  # NaN: no twin of this catalogue gets that far
    assert doctor.TARGET_SCALE_FACTOR < m["target scale, initial-loss programs (min)"]
    assert (m["update ratio, twins (max)"] < doctor.EXTREME_UPDATE_RATIO
            < m["update ratio, learning-rate programs named by the ratio alone (min of max)"])
    table = catalogue.table(rows)
    assert f"| Dense(1, softmax) for two classes | softmax-one-unit | 2/2 | 0/2 | before training | " \
           f"{keras.backend.backend()} |" in table
    bugs = sum(r.variant == "bug" for r in rows)  # every program at 2 seeds (less the one above on JAX)
    assert bugs >= 2 * len(catalogue.PROGRAMS) - 2
    assert table.endswith(f"Totals: detected {bugs}/{bugs}, false alarms on twins 0/{bugs}.")


def test_a_model_with_nothing_trainable_is_named_before_training_and_one_with_a_trainable_head_is_not():
    inputs = keras.Input((4,))
    frozen = layers.Dense(3, activation="relu")
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(frozen(inputs)))
    model.compile("adam", "binary_crossentropy")
    x, y = np.ones((8, 4), "float32"), np.array([0, 1] * 4, "float32")
    frozen.trainable = False
    assert "nothing-trainable" not in doctor.diagnose(model, x, y).kinds
    model.trainable = False
    [finding] = [f for f in doctor.diagnose(model, x, y).findings if f.kind == "nothing-trainable"]
    assert "0 of the model's 4 weight tensors are trainable" in finding.evidence and finding.confirmed


# ------------------------------------------------------------------- no false alarm on a working program (issue 28)

def test_mean_squared_error_on_a_sigmoid_with_0_1_targets_trains_and_is_no_mismatch():
    """Several accepted answers use it (keras-team/keras#112's XOR): it works, only slower than binary cross-entropy.
    The error stays for class indices above 1 (``LOSS_MISMATCHES``)."""
    sigmoid = compiled(layers.Dense(8, activation="relu"), layers.Dense(1, activation="sigmoid"), loss="mse",
                       optimizer=keras.optimizers.SGD(0.5))
    softmax = compiled(layers.Dense(3, activation="softmax"), loss="mse")
    assert doctor.diagnose(softmax, X, np.eye(3, dtype="float32")[THREE]).findings == []  # one-hot rows of 0/1
    report = doctor.examine(sigmoid, X, BINARY, X, BINARY, epochs=3, batch_size=16)
    assert report.findings == [], str(report)
    losses = [e["loss"] for e in report.measurements["epochs"]]
    assert losses[-1] < report.measurements["initial_loss"]


@pytest.mark.numerics
def test_tiny_initial_weights_whose_loss_still_falls_are_no_collapse():
    """Four sigmoid layers initialised in ±0.05: every prediction within 1e-6 of the others after an epoch (the
    old absolute rule called it a collapse), the loss falling and the spread growing, on every backend."""
    keras.utils.set_random_seed(0)
    tiny = keras.initializers.RandomUniform(-0.05, 0.05)
    x = np.random.default_rng(0).normal(size=(256, FEATURES)).astype("float32")
    y = (x[:, 0] > 0.6).astype("float32")  # a third positive
    model = keras.Sequential([keras.Input((FEATURES,)), *[layers.Dense(8, activation="sigmoid", kernel_initializer=tiny)
                                                          for _ in range(4)],
                              layers.Dense(1, activation="sigmoid", kernel_initializer=tiny)])
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="mse")
    report = doctor.examine(model, x[:128], y[:128], x[128:], y[128:], epochs=6)
    epochs = report.measurements["epochs"]
    assert epochs[0]["prediction_spread"] <= doctor.FLOAT32_TOLERANCE
    losses = [report.measurements["initial_loss"]] + [e["loss"] for e in epochs]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    # grown far beyond float32 rounding (a few units of 3e-8 near 0.3): 7e-6 on TensorFlow, 2e-6 on JAX, measured
    assert epochs[-1]["prediction_spread"] > 10 * max(epochs[0]["prediction_spread"], 6e-8), epochs
    assert "collapsed-output" not in report.kinds, str(report)


def test_a_collapse_is_judged_relative_to_the_outputs_magnitude():
    """Predictions of 1000 that differ by float32 rounding (6e-5 near 1000) are the same prediction."""
    model = compiled(layers.Dense(1, name="out"), loss="mse")
    model.get_layer("out").set_weights([np.full((FEATURES, 1), 2e-5, "float32"), np.array([1000.0], "float32")])
    watcher = watched(model, 1000 + REGRESSION)
    spread = watcher.initial_spread
    assert doctor.FLOAT32_TOLERANCE < spread <= 1000 * doctor.FLOAT32_TOLERANCE
    epoch(watcher, 0, loss=watcher.initial_loss)
    assert "collapsed-output" in watcher.report.kinds


# ------------------------------------------------------------------------------------------------ new kinds

def test_raw_features_in_the_thousands_fed_to_relu_layers_are_unscaled_inputs():
    model = compiled(layers.Dense(16, activation="relu", name="first"), layers.Dense(1), loss="mse")
    finding = only(doctor.diagnose(model, 1000 * X, REGRESSION), "unscaled-inputs")
    assert finding.layer == "first" and "per-feature root mean square reaches" in finding.evidence, finding.evidence
    assert "Normalization" in finding.fix
    assert doctor.diagnose(model, X, REGRESSION).findings == []


def _normalized(x) -> keras.layers.Layer:
    normalization = layers.Normalization()
    normalization.adapt(x)
    return normalization


def test_inputs_a_model_rescales_backbone_features_token_ids_and_frozen_or_linear_layers_are_left_alone():
    raw = 1000 * X
    normalized = compiled(_normalized(raw), layers.Dense(16, activation="relu"), layers.Dense(1), loss="mse")
    assert doctor.diagnose(normalized, raw, REGRESSION).findings == []
    pixels = RNG.integers(0, 256, size=(16, 8, 8, 3)).astype("float32")
    rescaled = compiled(layers.Rescaling(1 / 255), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                        layers.Dense(1, activation="sigmoid"), inputs=(8, 8, 3))
    assert doctor.diagnose(rescaled, pixels, BINARY[:16]).findings == []
    backbone = np.maximum(0, RNG.normal(0.5, 1.0, size=(64, 192))).astype("float32")  # like the lessons' features
    head = compiled(layers.Dense(32, activation="relu"), layers.Dense(1, activation="sigmoid"), inputs=(192,))
    assert doctor.diagnose(head, backbone, BINARY).findings == []
    tokens = RNG.integers(1, 5000, size=(64, 20))
    text = compiled(layers.Embedding(5000, 8), layers.GlobalAveragePooling1D(), layers.Dense(1, activation="sigmoid"),
                    inputs=(20,))
    assert doctor.diagnose(text, tokens, BINARY).findings == []
    frozen = compiled(layers.Dense(16, activation="relu", trainable=False), layers.Dense(1), loss="mse")
    assert doctor.diagnose(frozen, raw, REGRESSION).findings == []
    linear = compiled(layers.Dense(1), loss="mse")  # one layer: the scale only changes the effective rate
    assert doctor.diagnose(linear, raw, REGRESSION).findings == []


def test_inputs_that_are_the_same_for_every_example_are_reported_and_explain_the_collapse():
    """keras-team/keras#255: integer images divided in place by 255 become 0."""
    pixels = RNG.integers(0, 255, size=(64, FEATURES))
    model = compiled(layers.Dense(8, activation="relu"), layers.Dense(1, activation="sigmoid"),
                     optimizer=keras.optimizers.SGD(0.01))
    report = doctor.examine(model, pixels // 255, BINARY, pixels // 255, BINARY, epochs=2)
    assert "the same for all 64 examples" in only(report, "unscaled-inputs").evidence
    assert "Probable cause: unscaled-inputs" in only(report, "collapsed-output").evidence, str(report)


def test_labels_divided_by_255_under_sparse_categorical_cross_entropy_are_sparse_labels():
    model = compiled(layers.Dense(3, activation="softmax"), loss="sparse_categorical_crossentropy")
    finding = only(doctor.diagnose(model, X, THREE / 255), "sparse-labels")
    assert finding.confirmed and "look like class indices divided by 255" in finding.evidence, finding.evidence
    assert "taught 1 class(es) (0)" in finding.evidence
    assert doctor.diagnose(model, X, THREE.astype("float32")).findings == []  # whole numbers in a float array


def test_labels_beyond_the_output_units_are_sparse_labels():
    model = compiled(layers.Dense(2, activation="softmax"), loss="sparse_categorical_crossentropy")
    report = doctor.diagnose(model, X, THREE)
    assert "labels must lie in 0..1" in only(report, "sparse-labels").evidence and "loss-mismatch" not in report.kinds
    assert only(doctor.diagnose(model, X, THREE - 1), "sparse-labels").evidence.startswith(
        "sparse_categorical_crossentropy on labels -1 to 1")


@pytest.mark.numerics
@pytest.mark.parametrize("body, loss, labels, band", [
    ([layers.Dense(1, activation="sigmoid", name="out")], keras.losses.BinaryCrossentropy(from_logits=True), BINARY,
     "[0.5, 0.731]"),
    ([layers.Dense(3, activation="softmax", name="out")], keras.losses.SparseCategoricalCrossentropy(from_logits=True),
     THREE, "a softmax of 3 values in [0, 1]"),
])
def test_a_probability_output_with_from_logits_is_a_double_activation(body, loss, labels, band):
    report = doctor.diagnose(compiled(*body, loss=loss), X, labels)
    finding = only(report, "double-activation")
    assert finding.layer == "out" and band in finding.evidence, finding.evidence
    # TensorFlow takes the logits back from the activation op, so the finding is a suspicion there
    assert finding.confirmed is not loss_reads_logits()
    assert report.kinds == ("double-activation",)


def test_plain_sgd_moving_a_layer_by_hundreds_of_times_its_norm_is_a_learning_rate_finding_by_the_ratio_alone():
    model = compiled(layers.Dense(8, activation="tanh", name="hidden"), layers.Dense(1, activation="sigmoid"),
                     optimizer=keras.optimizers.SGD(0.01))
    watcher = watched(model, BINARY)
    watcher.on_epoch_begin(0)
    model.get_layer("hidden").kernel.assign(model.get_layer("hidden").kernel * 1.5)  # a large step, not extreme
    watcher.on_epoch_end(0, {"loss": watcher.initial_loss * 0.9})
    assert watcher.report.findings == []
    watcher.on_epoch_begin(1)
    model.get_layer("hidden").kernel.assign(model.get_layer("hidden").kernel * 1000)
    watcher.on_epoch_end(1, {"loss": watcher.initial_loss * 0.9})
    finding = only(watcher.report, "learning-rate")
    assert finding.layer == "hidden" and "(threshold 100 whatever the optimizer)" in finding.evidence, finding.evidence


def test_a_tanh_network_at_plain_sgd_1e4_is_named_by_its_update_ratio():
    """The catalogue's program: the loss (mean squared error on a sigmoid) cannot jump tenfold, no rate is
    suspected and no relu can die; only the update ratio shows it."""
    case = catalogue.tanh_layers_at_sgd_1e4(0)
    report = doctor.examine(case.model, case.x, case.y, case.x_val, case.y_val, epochs=2)
    finding = only(report, "learning-rate")
    assert "whatever the optimizer" in finding.evidence and "first-epoch loss" not in finding.evidence, str(report)


def _pretrained_backbone() -> keras.Model:
    """A convolution and a batch normalisation whose moving statistics were learnt on pixels in [-1, 1]."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    conv = layers.Conv2D(4, 3, use_bias=False)
    norm = layers.BatchNormalization()
    backbone = keras.Model(inputs, layers.GlobalAveragePooling2D()(layers.Activation("relu")(norm(conv(inputs)))),
                           name="backbone")
    seen = keras.ops.convert_to_numpy(conv(RNG.uniform(-1, 1, size=(64, 8, 8, 3)).astype("float32")))
    norm.moving_mean.assign(seen.mean(axis=(0, 1, 2)))
    norm.moving_variance.assign(seen.var(axis=(0, 1, 2)))
    backbone.trainable = False
    return backbone


@pytest.mark.parametrize("rescaled", [False, True])
def test_raw_pixels_given_to_a_backbone_pretrained_on_minus_1_to_1_are_unscaled_inputs(rescaled):
    """Lesson 05's bug: the backbone's preprocessing in the data pipeline, the deployed model called on pixels as
    loaded.  Its first batch normalisation's learnt statistics tell what it expects; with the preprocessing as the
    model's first layer, the same pixels are what it expects."""
    pixels = RNG.integers(0, 256, size=(32, 8, 8, 3)).astype("float32")
    inputs = keras.Input((8, 8, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(inputs) if rescaled else inputs
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(_pretrained_backbone()(x)))
    model.compile("adam", "binary_crossentropy")
    report = doctor.diagnose(model, pixels, BINARY[:32])
    if rescaled:
        assert report.findings == [], str(report)
    else:
        finding = only(report, "unscaled-inputs")
        assert "moving statistics were learnt in pretraining" in finding.evidence and "Rescaling" in finding.fix
        assert float(re.search(r"lie (\S+) of its learnt standard deviations", finding.evidence).group(1)) > 50


def test_the_catalogue_tables_of_two_backends_merge_into_one_row_where_they_agree():
    from tlclinic.commands.catalogue import merged_backends

    header = "| program | expected | detected | false alarms on twin | epoch of detection | backend |\n|---|---|---|---|---|---|"
    on_tf = (f"{header}\n| a | kind | 5/5 | 0/5 | epoch 1 | tensorflow |\n| b | kind | 5/5 | 0/5 | epoch 1 | tensorflow |"
             "\n\nTotals: detected 10/10, false alarms on twins 0/10.")
    on_jax = on_tf.replace("tensorflow", "jax").replace("| b | kind | 5/5", "| b | kind | 4/5").replace("10/10", "9/10")
    merged = merged_backends(on_jax, on_tf, "jax").splitlines()
    assert merged[2:5] == ["| a | kind | 5/5 | 0/5 | epoch 1 | tensorflow, jax |",
                           "| b | kind | 5/5 | 0/5 | epoch 1 | tensorflow |", "| b | kind | 4/5 | 0/5 | epoch 1 | jax |"]
    assert merged[-2:] == ["On tensorflow: Totals: detected 10/10, false alarms on twins 0/10.",
                           "On jax: Totals: detected 9/10, false alarms on twins 0/10."]
    assert merged_backends(on_tf, on_tf, "tensorflow") == on_tf  # measured again on the same backend: unchanged
    assert merged_backends(on_jax, "\n".join(merged), "jax") == "\n".join(merged)  # and again on JAX
    # b fixed on JAX: one totals line again, and b's rows as measured (the epochs may differ)
    fixed = merged_backends(on_tf.replace("tensorflow", "jax").replace("| b | kind | 5/5 | 0/5 | epoch 1",
                                                                      "| b | kind | 5/5 | 0/5 | epoch 2"),
                            "\n".join(merged), "jax").splitlines()
    assert fixed[2:5] == ["| a | kind | 5/5 | 0/5 | epoch 1 | tensorflow, jax |",
                          "| b | kind | 5/5 | 0/5 | epoch 1 | tensorflow |", "| b | kind | 5/5 | 0/5 | epoch 2 | jax |"]
    assert fixed[-1] == "Totals: detected 10/10, false alarms on twins 0/10." and not fixed[-2].startswith("On ")


@pytest.mark.parametrize("bias, named", [(1e4, True), (-1e4, True), (0.5, False)])
def test_a_large_step_that_leaves_every_prediction_on_the_sigmoids_bound_is_the_learning_rate(bias, named):
    """Without TensorFlow's logits shortcut a saturated sigmoid's clipped loss has no gradient, so the relus that
    would die stay alive: the saturation itself, after a large step, names the rate (plain SGD, 40% dead)."""
    model = compiled(layers.Dense(8, activation="relu", name="hidden"), layers.Dense(1, activation="sigmoid", name="out"),
                     optimizer=keras.optimizers.SGD(10.0))
    watcher = watched(model, BINARY)
    watcher.on_epoch_begin(0)
    kernel, hidden_bias = model.get_layer("hidden").get_weights()
    model.get_layer("hidden").set_weights([kernel * 1.5, hidden_bias])  # an update half the layer's norm
    out_kernel, _ = model.get_layer("out").get_weights()
    model.get_layer("out").set_weights([out_kernel, np.array([bias], "float32")])
    watcher.on_epoch_end(0, {"loss": 0.7})
    epoch(watcher, 1, loss=0.7)  # a second epoch on the same predictions: a relu's exact 0 twice is a dead output
    assert ("learning-rate" in watcher.report.kinds) is named, str(watcher.report)
    if named:
        assert "every validation prediction on a bound of the output's sigmoid" in only(watcher.report, "learning-rate").evidence
    assert "dead-output" not in watcher.report.kinds  # a sigmoid's exact 0 is saturation, not a dead relu
