"""The findings and the report: ``Finding``, ``Report``, ``merged``, the kinds of finding (``KINDS``) and the
thresholds the checks share.

The kinds of finding (``KINDS``):

- ``softmax-one-unit``: a softmax over an axis of size 1 outputs 1.0 whatever its input; the finding quotes
  the warning Keras itself raises when the layer is called.
- ``output-range``: the output activation cannot reach some targets (relu/softplus below 0, sigmoid/softmax
  outside [0, 1], tanh outside [-1, 1]); the evidence gives the share of targets out of reach.
- ``loss-mismatch``: loss, output activation and labels disagree (categorical cross-entropy on one unit or on
  sigmoids, binary cross-entropy on more than two label values or on a 2-unit softmax with 0/1 labels, a
  cross-entropy without ``from_logits`` on an output that is no probability, a regression loss on class indices
  above 1).  A regression loss on a sigmoid or softmax output with 0/1 targets is no mismatch and is not
  reported: it trains (binary cross-entropy learns faster, but the program works), and ``Report`` has no
  severity to say "works, but" without counting as a problem on a working program.
- ``double-activation``: a sigmoid or softmax output with a cross-entropy told ``from_logits=True``: the loss
  squashes the probabilities a second time.
- ``sparse-labels``: sparse categorical cross-entropy on labels that are not class indices 0..C-1 of the C
  output units: non-integer labels (Keras truncates them silently: a mask divided by 255 becomes class 0
  everywhere), negative ones or ones at C or above (an error on CPU, NaN on GPU).
- ``unscaled-inputs``: inputs not what the first layer expects, before training: far larger than its
  initialisation expects (values of order 1) with no normalisation layer in the model, not preprocessed as a
  pretrained backbone was (its first batch normalisation's learnt statistics tell), or the same for every
  example (integer images divided by 255 in place).
- ``learning-rate``: an adaptive optimizer at a rate of 1e-2 or more is suspect before training; training
  confirms it by a first-epoch loss more than 10 times the initial loss, or by a hidden layer whose weights
  moved by more than 0.1 of their norm in one epoch when the rate was suspect or most relu units died (any
  optimizer: training adds the finding when nothing was suspected); or, whatever the optimizer and however
  the rest looks, by an update/weight ratio over 100 in an epoch.
- ``initial-loss``: the loss before any update is far from what an uninformed model scores.
- ``dead-relu``: more than 70% of the hidden relu units output 0 for every validation input.
- ``collapsed-output``: every validation prediction is the same (within 1e-6 of the outputs' magnitude), the
  spread across inputs has not grown since the start of training, and the loss has stopped falling (or
  training ended); the finding names the probable cause when another finding explains it.
- ``dead-output``: every validation prediction is exactly 0 after two consecutive epochs.
- ``nan``: the loss or the weights are NaN or infinite (with the training step where it started).
- ``nothing-trainable``: the compiled model has no trainable weight, so ``fit`` changes nothing (question 000
  froze ``model.layers[:249]``, InceptionV3's count: on a smaller backbone that is every layer, the new head too).

Thresholds, and their margins measured on the catalogue and the programs from real questions
(``python -m tlclinic.commands.catalogue --seeds 5``: 19 programs and 20 from questions, each with its twin,
seeds 0-4, the same numbers under ``TF_ENABLE_ONEDNN_OPTS=0`` and ``=1``; twins whose accepted fix is itself
broken are left out of the twins' side):

- ``DEAD_RELU_SHARE`` = 0.7 of the hidden relu units dead (DeepDiagnosis, AUTOTRAINER): at most 0.016 on the
  catalogue's twins and 0.38 on the questions' (a Dense(256) on sparse bottleneck features); the program whose
  bug is dead units reaches at least 0.94 within its 3 epochs.
- ``LOSS_JUMP`` = a first-epoch training loss 10 times the initial loss: at most 1.16 times on the catalogue's
  twins, 1.71 on the questions'.
- ``UPDATE_RATIO`` = 0.1, the norm of a layer's weight change over an epoch over the norm of its weights
  (AUTOTRAINER), on the hidden layers, counted with a suspected adaptive rate or dead units: at most 0.076 on the
  catalogue's twins, at least 1.2 on the programs whose bug is the learning rate.  The output layer is left
  out: a sound run moves it furthest, by up to 0.30 of its norm in an epoch on the twins (plain SGD at 0.01 on
  the regression with targets in [0, 5]).
- ``EXTREME_UPDATE_RATIO`` = 100, the same ratio counted alone, whatever the optimizer: at most 6.8 on the twins
  (two Dense(1) layers, the first drawn near 0, moved by a sound plain SGD: the ratio is relative), at least
  415 on the program named by it alone (tanh layers at plain SGD 1e4, whose loss cannot jump on a sigmoid).
- ``SUSPECT_ADAPTIVE_RATE`` = 1e-2 for Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Lion and Lamb, read from
  the optimizer's config (a schedule at step 0).
- initial loss against chance, -log(1/C) for C classes: more than ``CLASSIFICATION_LOSS_FACTOR`` = 3 times it or
  less than a third; the classification twins start at 0.92 to 1.51 times chance (0.82 on the questions').  For a
  regression the reference is the loss of predicting 0 for the targets standardised (1 for mean squared error) and
  the initial loss is far at more than ``REGRESSION_LOSS_FACTOR`` = 100 times it (the programs whose bug it names
  start at 8.7e5 times or more) and when, besides, the last layer's weights must grow to more than
  ``TARGET_SCALE_FACTOR`` = 100 times their initial size to reach the targets (``callback.target_scale``): the
  twins over the first threshold (y = 2x on raw x up to 199, one Dense fitted at a small rate; up to 1.1e5 times
  the reference) need at most 2.8 times, the programs at least 1170 times (targets in the thousands).
- ``UNSCALED_INPUT`` = 10: the largest per-feature root mean square of the inputs of a first layer initialised
  for values of order 1 (at most 1.22 on the twins, 1.56 on the lessons' backbone features; at least 55 on the
  programs, x in [-100, 100]); for a pretrained backbone, the root mean square distance of what its first batch
  normalisation receives from its learnt statistics, in learnt standard deviations, above 10 or below 1/10 (1.05
  to 1.15 on lessons 04 and 05 fed as in pretraining, 309 on lesson 05's pixels 0..255 to a backbone trained on
  [-1, 1]).
- ``FLOAT32_TOLERANCE`` = 1e-6 of the predictions' magnitude (at least 1): predictions closer than that count as
  the same (collapsed-output), judged once the loss falls by less than ``LOSS_PLATEAU`` = 1% in an epoch (or
  training ends) and only if their spread has not grown past ``SPREAD_GROWTH`` = 2 times its value before
  training: four sigmoid layers initialised in ±0.05 agree to 6e-8 after an epoch, their spread growing 4 times
  in 3 epochs while the loss falls 22% (``tests/test_doctor.py``); a collapse's spread is 0 or float noise.

The update ratio measures steps, not their effect: plain SGD at 0.05 on the regression with targets in
[0, 5], a run that trains, moves its hidden layer by 0.10 to 0.14 in the first epoch and would be reported
were its optimizer an adaptive one at a suspect rate; plain SGD at 3 to 30 on a tanh network, whose loss rises,
moves it by 1 to 37 and is not reported.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Iterable

KINDS = {
    "softmax-one-unit": "a softmax over an axis of size 1: it outputs 1.0 whatever its input, so nothing is learnt",
    "output-range": "the output activation cannot reach some of the targets",
    "loss-mismatch": "the loss does not fit the output layer or the labels",
    "double-activation": "the loss applies a sigmoid or softmax to outputs that already went through one",
    "sparse-labels": "sparse categorical cross-entropy on labels that are not class indices 0..C-1",
    "unscaled-inputs": "the inputs are not what the first layer expects: far too large, constant, or not preprocessed",
    "learning-rate": "the learning rate is too high: the loss jumps or the weights move by a large share of their size",
    "initial-loss": "the loss before training is far from what an uninformed model scores",
    "dead-relu": "most hidden relu units output 0 for every input and no longer learn",
    "collapsed-output": "the model gives the same prediction for every input",
    "dead-output": "every prediction is exactly 0, epoch after epoch: the output unit is dead",
    "nan": "the loss or the weights became NaN or infinite",
    "nothing-trainable": "no weight of the model is trainable: training changes nothing",
}

DEAD_RELU_SHARE = 0.7
LOSS_JUMP = 10.0
UPDATE_RATIO = 0.1
SUSPECT_ADAPTIVE_RATE = 1e-2
CLASSIFICATION_LOSS_FACTOR = 3.0
REGRESSION_LOSS_FACTOR = 100.0
# Two float32 predictions meant to be equal differ by a few units in the last place depending on the kernels
# that summed them (6e-8 near 1.0); 1e-6 is well above that and well below any difference a model makes.
FLOAT32_TOLERANCE = 1e-6
UNSCALED_INPUT = 10.0
EXTREME_UPDATE_RATIO = 100.0
SPREAD_GROWTH = 2.0
TARGET_SCALE_FACTOR = 100.0
LOSS_PLATEAU = 0.01


@dataclass(frozen=True)
class Finding:
    """One reason the model won't train.

    ``kind`` is a key of ``KINDS``; ``layer`` the name of the layer it points at ("" for the optimizer, the
    data or the whole model); ``evidence`` the numbers that show it; ``fix`` one sentence; ``confirmed`` False
    for a suspicion that training has not (yet) borne out; ``epoch`` the epoch it was seen at (counted from 1,
    0 for before the first update; None for a finding read off the model before training).
    """

    kind: str
    layer: str
    evidence: str
    fix: str
    confirmed: bool
    epoch: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}; the kinds are: {', '.join(KINDS)}")

    def when(self) -> str:
        """'before training' (static), 'before the first update', 'epoch 2'..., with ', suspected' for an
        unconfirmed finding."""
        moment = ("before training" if self.epoch is None else f"epoch {self.epoch}" if self.epoch
                  else "before the first update")
        return moment if self.confirmed else f"{moment}, suspected"

    def __str__(self) -> str:
        where = f" at {self.layer}" if self.layer else ""
        return f"{self.kind}{where} ({self.when()}): {self.evidence} Fix: {self.fix}"


@dataclass
class Report:
    """The findings on one model, printable (one line each) and shown as a table in a notebook."""

    findings: list[Finding] = field(default_factory=list)
    # What the training findings were judged on (empty for a static report): "loss_family", "initial_loss",
    # "chance_loss" and "epochs", one {"loss", "update_ratio", "dead_relu_share", "prediction_spread"} each.
    measurements: dict = field(default_factory=dict)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds found, each once, in the order found."""
        return tuple(dict.fromkeys(f.kind for f in self.findings))

    def of(self, kind: str) -> list[Finding]:
        """The findings of ``kind``."""
        return [f for f in self.findings if f.kind == kind]

    def __str__(self) -> str:
        return "\n".join(str(f) for f in self.findings) or "no problem found"

    def _repr_html_(self) -> str:
        if not self.findings:
            return "<p>no problem found</p>"
        head = "".join(f"<th>{name}</th>" for name in ("kind", "layer", "when", "evidence", "fix"))
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in
                             (f.kind, f.layer, f.when(), f.evidence, f.fix)) + "</tr>"
            for f in self.findings)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def merged(static: Iterable[Finding], trained: Iterable[Finding], measurements: dict | None = None) -> Report:
    """Static findings followed by training ones; a training finding replaces a suspicion of its kind."""
    trained = list(trained)
    seen = {f.kind for f in trained}
    kept = [f for f in static if f.confirmed or f.kind not in seen]
    return Report(kept + trained, dict(measurements or {}))
