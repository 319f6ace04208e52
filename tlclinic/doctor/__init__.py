"""Say why a Keras 3 model won't train: findings with their evidence and their fix.

``diagnose(model, x, y)`` reads a compiled model, a data sample and its targets before any training;
``Doctor(x_val, y_val)`` is a callback that watches training on a fixed validation sample and confirms or
adds findings; ``examine`` does both and returns the combined ``Report``.  Everything goes through
``keras.ops``, ``keras.layers`` and NumPy, so it runs on every Keras backend.

The parts, each importing only parts listed above it:

- ``findings``: ``Finding``, ``Report``, ``merged``; the kinds of finding (``KINDS``, each explained there) and
  the thresholds, with their margins measured on the catalogue;
- ``reading``: what a compiled model says of itself: its loss (``read_loss``), its output layer, the activation
  of each layer and the values it can take, the optimizer's learning rate, its layers in order and the first
  one with weights;
- ``probes``: the inputs or outputs of chosen layers (``LayerProbe``) and the dead relu units among them
  (``dead_relu_units``, ``dead_relu_fraction``);
- ``static``: the checks before training, one function each, and ``diagnose``, which runs them all;
- ``callback``: ``Doctor``, and what it measures while training (``chance_loss``, ``target_scale``, the update
  ratio...), and ``with_collapse_cause``, which names what explains a collapse;
- ``examination``: ``examine``, the static checks then training with a ``Doctor``.

``catalogue`` holds small programs that won't train, each with its correct twin, on which the thresholds are
measured, and ``questions`` the programs ported from real public questions, each with its accepted fix; their
command line is ``python -m tlclinic.commands.catalogue``.  Every public name of the parts is
imported here: ``from tlclinic import doctor``, then ``doctor.diagnose``, ``doctor.Doctor``, ``doctor.KINDS``...
"""
from .callback import COLLAPSE_CAUSES, Doctor, chance_loss, target_scale, with_collapse_cause
from .examination import examine
from .findings import (CLASSIFICATION_LOSS_FACTOR, DEAD_RELU_SHARE, EXTREME_UPDATE_RATIO, FLOAT32_TOLERANCE, KINDS,
                       LOSS_JUMP, LOSS_PLATEAU, REGRESSION_LOSS_FACTOR, SPREAD_GROWTH, SUSPECT_ADAPTIVE_RATE,
                       TARGET_SCALE_FACTOR, UNSCALED_INPUT, UPDATE_RATIO, Finding, Report, merged)
from .probes import LayerProbe, dead_relu_fraction, dead_relu_units, hidden_relu_probe
from .reading import (ACTIVATION_RANGES, ADAPTIVE_OPTIMIZERS, BINARY_LOSSES, CATEGORICAL_LOSSES, NORMALIZING_LAYERS,
                      PROBABILITY_ACTIVATIONS, REGRESSION_LOSSES, SCALE_PRESERVING_LAYERS, SPARSE_LOSSES, LossSpec,
                      activation_of, activation_range, applies_softmax, first_weighted_layer, is_relu, leaf_layers,
                      learning_rate_of, output_layer, read_loss)
from .static import (STATIC_SAMPLE, check_double_activation, check_learning_rate, check_loss_mismatch,
                     check_output_range, check_softmax_one_unit, check_sparse_labels, check_trainable,
                     check_unscaled_inputs, diagnose, input_scale)

__all__ = [
    # findings
    "KINDS", "DEAD_RELU_SHARE", "LOSS_JUMP", "UPDATE_RATIO", "EXTREME_UPDATE_RATIO", "SUSPECT_ADAPTIVE_RATE",
    "CLASSIFICATION_LOSS_FACTOR", "REGRESSION_LOSS_FACTOR", "TARGET_SCALE_FACTOR", "FLOAT32_TOLERANCE",
    "SPREAD_GROWTH", "LOSS_PLATEAU", "UNSCALED_INPUT", "Finding", "Report", "merged",
    # reading
    "ADAPTIVE_OPTIMIZERS", "BINARY_LOSSES", "CATEGORICAL_LOSSES", "SPARSE_LOSSES", "REGRESSION_LOSSES",
    "PROBABILITY_ACTIVATIONS", "ACTIVATION_RANGES", "NORMALIZING_LAYERS", "SCALE_PRESERVING_LAYERS", "LossSpec",
    "read_loss", "output_layer", "activation_of", "activation_range", "learning_rate_of", "is_relu",
    "applies_softmax", "leaf_layers", "first_weighted_layer",
    # probes
    "LayerProbe", "hidden_relu_probe", "dead_relu_units", "dead_relu_fraction",
    # static
    "STATIC_SAMPLE", "check_softmax_one_unit", "check_output_range", "check_loss_mismatch",
    "check_double_activation", "check_sparse_labels", "check_unscaled_inputs", "input_scale", "check_learning_rate",
    "check_trainable", "diagnose",
    # callback
    "chance_loss", "target_scale", "with_collapse_cause", "COLLAPSE_CAUSES", "Doctor",
    # examination
    "examine",
]
