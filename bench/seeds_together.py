"""Many seeds of one head trained at once (``jax.vmap``) against one at a time: is it faster here?

    KERAS_BACKEND=jax python bench/seeds_together.py [--seeds 20] [--epochs 5]      (make bench runs it)

Lesson 01's fixed head (question 000's, sigmoid + binary cross-entropy, Adam) on the cached shapes features,
batch 32, each seed's batches in the order ``training.fit_shuffled`` draws.  One at a time: a compiled head kept
and reset per seed (``training.CompiledHeads``), as calibration trains.  At once: K heads built one per seed,
their weights, optimizer and metric states stacked, and Keras's stateless ``train_step`` mapped over them with
``jax.vmap`` in one jitted step (its state donated, as ``fit`` does).  Both include building and tracing.  Each
copy's validation predictions are compared with the lone run at its seed (the largest difference per seed).
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"

import tlclinic  # noqa: E402,F401  (first: TensorFlow's start-up lines stay quiet)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from tlclinic.tasks import fixed_classifier, shapes_features  # noqa: E402
from tlclinic.training import CompiledHeads, fit_shuffled  # noqa: E402


def one_at_a_time(build, x, y, x_val, seeds, epochs, batch_size) -> list[np.ndarray]:
    heads, predictions = CompiledHeads(), []
    for seed in seeds:
        model = heads.head("head", build, x.shape[1], seed)
        if epochs:  # none: the initial weights (tests/test_training.py compares them with the copies')
            fit_shuffled(model, x, y, epochs, batch_size, seed)
        predictions.append(keras.ops.convert_to_numpy(model(x_val)))
    return predictions


def all_at_once(build, x, y, x_val, seeds, epochs, batch_size) -> list[np.ndarray]:
    models = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        model = build(x.shape[1])
        model._symbolic_build(data_batch=(x[:batch_size], y[:batch_size]))  # its metrics' variables
        model.optimizer.build(model.trainable_variables)
        models.append(model)
    template = models[0]

    def state_of(model):
        return ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
                [v.value for v in model.optimizer.variables], [v.value for v in model.metrics_variables])

    state = jax.tree.map(lambda *values: jnp.stack(values), *map(state_of, models))
    step = jax.jit(jax.vmap(lambda s, xb, yb: template.train_step(s, (xb, yb))), donate_argnums=0)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    steps = -(-len(x) // batch_size)
    for _ in range(epochs):
        orders = np.stack([rng.permutation(len(x)) for rng in rngs])
        for i in range(steps):
            taken = orders[:, i * batch_size:(i + 1) * batch_size]
            _, state = step(state, x[taken], y[taken])
    predictions = []
    for k, model in enumerate(models):
        for variable, value in zip(model.trainable_variables, state[0]):
            variable.assign(value[k])
        for variable, value in zip(model.non_trainable_variables, state[1]):
            variable.assign(value[k])
        predictions.append(keras.ops.convert_to_numpy(model(x_val)))
    return predictions


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/seeds_together.py", description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args(argv)
    (x, y), (x_val, _) = shapes_features()
    build, seeds = fixed_classifier(), list(range(args.seeds))
    result = {"seeds": args.seeds, "epochs": args.epochs, "batch_size": 32, "backend": keras.backend.backend()}
    for name, train in (("one_at_a_time", one_at_a_time), ("all_at_once", all_at_once)):
        start = time.perf_counter()
        result[name] = train(build, x, y, x_val, seeds, args.epochs, 32)
        result[f"{name}_s"] = time.perf_counter() - start
    differences = [float(np.max(np.abs(a - b))) for a, b in zip(result.pop("one_at_a_time"),
                                                                  result.pop("all_at_once"))]
    result["prediction_difference_per_seed"] = differences  # largest over the validation set, per seed
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
