"""The findings and the report: ``Finding``, ``Report``, ``merged``, the kinds of finding (``KINDS``) and the
thresholds the checks share.

The kinds of finding (``KINDS``):

- ``softmax-one-unit``: a softmax over an axis of size 1 outputs 1.0 whatever its input; the finding quotes
  the warning Keras itself raises when the layer is called.
- ``output-range``: the output activation cannot reach some targets (relu/softplus below 0, sigmoid/softmax
  outside [0, 1], tanh outside [-1, 1]); the evidence gives the share of targets out of reach.
- ``loss-mismatch``: loss, output activation and labels disagree (categorical cross-entropy on one unit or on
  sigmoids, binary cross-entropy on more than two label values or on a 2-unit softmax with 0/1 labels, a
  cross-entropy on an output that is not what its ``from_logits`` says, a regression loss on class labels).
- ``learning-rate``: an adaptive optimizer at a rate of 1e-2 or more is suspect before training; training
  confirms it by a first-epoch loss more than 10 times the initial loss, or by a hidden layer whose weights
  moved by more than 0.1 of their norm in one epoch when the rate was suspect or most relu units died (any
  optimizer: training adds the finding when nothing was suspected).
- ``initial-loss``: the loss before any update is far from what an uninformed model scores.
- ``dead-relu``: more than 70% of the hidden relu units output 0 for every validation input.
- ``collapsed-output``: every validation prediction is the same, within 1e-6.
- ``dead-output``: every validation prediction is exactly 0 after two consecutive epochs.
- ``nan``: the loss or the weights are NaN or infinite (with the training step where it started).
- ``nothing-trainable``: the compiled model has no trainable weight, so ``fit`` changes nothing (question 000
  froze ``model.layers[:249]``, InceptionV3's count: on a smaller backbone that is every layer, the new head too).

Thresholds, and their margins measured on the catalogue (``python -m tlclinic.commands.catalogue --seeds 5``:
18 programs and their twins, seeds 0-4, the same under ``TF_ENABLE_ONEDNN_OPTS=0`` and ``=1``):

- ``DEAD_RELU_SHARE`` = 0.7 of the hidden relu units dead (DeepDiagnosis, AUTOTRAINER): at most 0.016 on the
  twins; the program whose bug is dead units reaches at least 0.94 within its 3 epochs.
- ``LOSS_JUMP`` = a first-epoch training loss 10 times the initial loss: at most 1.16 times on the twins.
- ``UPDATE_RATIO`` = 0.1, the norm of a layer's weight change over an epoch over the norm of its weights
  (AUTOTRAINER), on the hidden layers: at most 0.048 on the twins, at least 1.2 on the programs whose bug is
  the learning rate.  The output layer is left out: a sound run moves it furthest, by up to 0.30 of its norm
  in an epoch on the twins (plain SGD at 0.01 on the regression with targets in [0, 5]).
- ``SUSPECT_ADAPTIVE_RATE`` = 1e-2 for Adam, AdamW, Adamax, Nadam, RMSprop, Adagrad, Lion and Lamb, read from
  the optimizer's config (a schedule at step 0).
- initial loss against chance, -log(1/C) for C classes: more than ``CLASSIFICATION_LOSS_FACTOR`` = 3 times it
  or less than a third; the classification twins start at 0.92 to 1.51 times chance.  For a regression the
  reference is the loss of predicting 0 for the targets standardised (1 for mean squared error) and the
  initial loss is far at more than ``REGRESSION_LOSS_FACTOR`` = 100 times it: the regression twins start at
  most 12.3 times it (targets in [0, 5]), the targets scaled by 1000 at least 8.7e5 times.
- ``FLOAT32_TOLERANCE`` = 1e-6: predictions closer than that count as the same (collapsed-output).

The update ratio measures steps, not their effect: plain SGD at 0.05 on the regression with targets in
[0, 5], a run that trains, moves its hidden layer by 0.10 to 0.14 in the first epoch and would be reported.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Iterable

KINDS = {
    "softmax-one-unit": "a softmax over an axis of size 1: it outputs 1.0 whatever its input, so nothing is learnt",
    "output-range": "the output activation cannot reach some of the targets",
    "loss-mismatch": "the loss does not fit the output layer or the labels",
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
