"""Probing the layers of a functional or sequential model: ``LayerProbe`` computes the inputs or outputs of the
layers wanted; ``dead_relu_units`` and ``dead_relu_fraction`` count the hidden relu units that output 0 for
every input."""
from __future__ import annotations

from typing import Callable

import keras
import numpy as np

from .reading import is_relu, output_layer


def _graph_inputs(model: keras.Model):
    """The symbolic inputs of a functional or sequential model, in the structure its call takes."""
    return model.inputs if isinstance(model, keras.Sequential) else model.input


def _call_input(model: keras.Model, x):
    return [x] if isinstance(model, keras.Sequential) else x


def _input_in(model: keras.Model, layer: keras.layers.Layer):
    """What ``layer`` is called on inside ``model``: for a nested model called once, the tensor of that call (its
    own ``input`` is its inner Input, which a backbone called after preprocessing layers is not fed directly)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    return nodes[0].input_tensors[0] if isinstance(layer, keras.Model) and len(nodes) == 1 else layer.input


class LayerProbe:
    """The inputs or outputs (``side``) of every layer with ``wanted(layer)`` of a functional or sequential
    model, nested models included, computed in inference mode by probe models on the same graph.

    Built once, called on any ``x``: ``probe(x)`` gives ``[(layer, value as a NumPy array), ...]``.
    """

    def __init__(self, model: keras.Model, wanted: Callable[[keras.layers.Layer], bool], side: str = "output"):
        self.model = model
        self.found = [layer for layer in model.layers if isinstance(layer, keras.Model) or wanted(layer)]
        tensors = {str(i): _input_in(model, layer) if isinstance(layer, keras.Model) or side == "input"
                   else layer.output
                   for i, layer in enumerate(self.found)}  # a dict: a list of one output would come back unlisted
        self._probe = keras.Model(_graph_inputs(model), tensors) if self.found else None
        self._nested = {i: LayerProbe(layer, wanted, side) for i, layer in enumerate(self.found)
                        if isinstance(layer, keras.Model)}

    def __call__(self, x) -> list[tuple[keras.layers.Layer, np.ndarray]]:
        if self._probe is None:
            return []
        values = self._probe(_call_input(self.model, x), training=False)
        pairs = []
        for i, layer in enumerate(self.found):
            if i in self._nested:
                pairs += self._nested[i](values[str(i)])
            else:
                pairs.append((layer, keras.ops.convert_to_numpy(values[str(i)])))
        return pairs


def hidden_relu_probe(model: keras.Model) -> LayerProbe:
    """A probe of the outputs of every relu layer but the output layer."""
    last = output_layer(model)
    return LayerProbe(model, lambda layer: is_relu(layer) and layer is not last)


def _unit_axis(layer: keras.layers.Layer) -> int:
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def dead_relu_units(model: keras.Model, x, probe: LayerProbe | None = None) -> list[tuple[str, int, int]]:
    """(layer name, dead units, units) for every hidden relu layer: a unit (a Dense unit, a convolution's
    channel) is dead when it outputs exactly 0 at every position for every example of ``x``.  ``probe``, a
    ``hidden_relu_probe(model)`` kept from an earlier call, saves building it again."""
    counts = []
    for layer, value in (probe or hidden_relu_probe(model))(x):
        axis = _unit_axis(layer) % value.ndim
        dead = np.all(value == 0, axis=tuple(a for a in range(value.ndim) if a != axis))
        counts.append((layer.name, int(dead.sum()), int(dead.size)))
    return counts


def _dead_share(counts: list[tuple[str, int, int]]) -> float:
    total = sum(units for _, _, units in counts)
    return sum(dead for _, dead, _ in counts) / total if total else 0.0


def dead_relu_fraction(model: keras.Model, x) -> float:
    """Share of the hidden relu units of a functional or sequential model that output 0 for every example of
    ``x`` (0.0 for a model without any).

    Every relu counts however it is written (``Dense``/``Conv*`` with ``activation="relu"``,
    ``Activation("relu")``, ``ReLU()``).  A relu's 0 is exact, ``max(0, z)`` whatever kernels computed ``z``,
    so no tolerance is needed.  A dead unit passes no gradient back for any of these inputs: it has stopped
    learning, and once many are dead the layers below rarely bring them back.
    """
    return _dead_share(dead_relu_units(model, x))
