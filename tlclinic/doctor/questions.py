"""Programs from real public questions about Keras models that won't train, each with the fix its accepted answer
(or the maintainer, or the asker who solved it) gives, ported to Keras 3: the catalogue's second list,
``QUESTIONS``.

Each program cites its thread in ``Program.source`` and in its docstring: a GitHub issue or pull request, or a
Stack Exchange question (read through a mirror of it, whose address is given too).  The data are generated from
the seed, of the question's shapes and ranges as far as the thread shows them (pixels 0-255, prices up to
755000, 28x28 images...), a few hundred examples at most so that every program trains in well under two
seconds; where the question's network is large (widths of 1024, LSTMs of 128 units) it is kept in structure and
narrowed, and each docstring says what was changed.  What the threads do not show (an optimizer, a layer width)
is filled with Keras's defaults and said so.

``Program.twin_broken`` is empty when the twin (the accepted fix) really works, else says why it does not: a
finding on such a twin is no false alarm.  Whether a twin works was measured by training the program and its
twin longer than the catalogue does (``trained_longer``; ``python -m tlclinic.commands.catalogue --twins``, 100
epochs, 1000 for y = x**4, 4000 for XOR; seed 0, TensorFlow): every working twin ends well above chance or with
R² of 0.88 or more, the two broken ones stay at chance (the bottleneck head keeping its softmax: accuracy 0.52,
its majority class) or below it (house prices under msle: R² -1.9 after 500 epochs).  ``note`` says where the
bug itself trains on TensorFlow, which takes the logits back from a sigmoid or softmax op: the double
activations, and categorical cross-entropy on two sigmoids.

Left out: questions whose bug Keras 3 itself now rejects at ``fit`` (one-hot labels of shape (N, 2) for one
sigmoid unit, keras-team/keras#13006: "Arguments `target` and `output` must have the same shape") or that stops
with an error on CPU (labels -6..6 for sparse categorical cross-entropy, tplusone/hanser_ml_zeitreihen#3: the
doctor names it before training, ``sparse-labels``, but ``fit`` raises), and questions whose answer did not
survive in the stored copy of the thread.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers

from .catalogue import Case, Program
from .reading import activation_of, output_layer, read_loss

N = 128  # training and validation examples each, unless the question had fewer


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(1000 + seed)


def _split(x, y, n: int = N) -> Case:
    """The first ``n`` examples to train on, the rest to validate on (the model is attached later)."""
    return Case(None, x[:n], y[:n], x[n:], y[n:])


def _compiled(model: keras.Model, loss, optimizer) -> keras.Model:
    model.compile(optimizer=optimizer, loss=loss)
    return model


def _standard_features(rng, features: int, n: int = 2 * N) -> tuple[np.ndarray, np.ndarray]:
    """Standardised features and a linear score of them."""
    x = rng.normal(size=(n, features)).astype("float32")
    return x, x @ rng.normal(size=features) / math.sqrt(features)


# ------------------------------------------------------------------------------- unscaled inputs and targets

def x4_data(seed):
    rng = _rng(seed)
    x = rng.uniform(-100, 100, size=(2 * N, 1)).astype("float32")
    return x, (x[:, 0] ** 4).astype("float32")


def x4_model(seed):
    keras.utils.set_random_seed(seed)
    return _compiled(keras.Sequential([keras.Input((1,)), layers.Dense(10, activation="sigmoid"),
                                       layers.Dense(10, activation="elu"), layers.Dense(1)]), "mse", "adam")


def x4_raw(seed):
    """https://stackoverflow.com/questions/52800582 "Why do I fail to predict y=x**4 with keras? (y=x**3
    works)" (read at http://stackoverflow.com.mevn.net/questions/52800582/): inputs in [-100, 100] and targets up
    to 1e8 into a Dense with a sigmoid, an ELU layer and a linear output.  The answer: "your input and output
    variables have too large values and hence are not compatible with the (initial) weights": the first layer's
    outputs are about 10 and saturate the sigmoid.  The widths (10) and the optimizer (Adam) are not in the
    stored answer and are Keras's usual choices."""
    x, y = x4_data(seed)
    return _split(x, y)._replace(model=x4_model(seed))


def x4_scaled(seed):
    """The answer's fix: inputs divided by 100 and targets by 1e8 (the largest each can be)."""
    x, y = x4_data(seed)
    return _split(x / 100, y / 1e8)._replace(model=x4_model(seed))


def digits(seed, n: int = 2 * N) -> tuple[np.ndarray, np.ndarray]:
    """28x28 images of 10 classes with MNIST's range: 0 background and strokes up to 255, each class a fixed
    pattern of strokes (a fifth of the pixels) with a tenth of them dropped and the intensities varied."""
    rng = _rng(seed)
    templates = (rng.random((10, 28, 28)) < 0.2) * rng.uniform(128, 255, size=(10, 28, 28))
    labels = rng.integers(0, 10, size=n)
    keep = rng.random((n, 28, 28)) > 0.1
    x = np.clip(templates[labels] * keep * rng.uniform(0.8, 1.0, size=(n, 1, 1)), 0, 255).round()
    return x.astype("float32"), labels


def screenshots(seed):
    """32x32 RGB screenshots as 8-bit integers 0..254 (two classes: a bright patch at the left or at the right)
    and one-hot labels [1, 0] / [0, 1], as in the thread."""
    x, labels = pets_data(seed)
    return np.round(x * 254).astype("uint8"), np.eye(2, dtype="float32")[labels.astype(int)]


def game_cnn(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(16, 3, activation="relu"),
                              layers.MaxPooling2D(), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                              layers.Flatten(), layers.Dense(64, activation="relu"),
                              layers.Dense(2, activation="softmax")])
    return _compiled(model, "categorical_crossentropy",
                     keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True))


def screenshots_as_integers(seed):
    """https://github.com/keras-team/keras/issues/255 "model doesn't learn/weights don't get updated": a
    two-class image classifier whose loss stays at 17.27 and accuracy at 0.5.  The asker found it: "When
    normalizing each pixel to [0, 1], the array was still int, and each pixel became 0."  The network (the
    cifar10 example's kind: two convolutions, a softmax over 2, SGD with Nesterov momentum) is narrowed."""
    x, y = screenshots(seed)
    return _split(x // 255, y)._replace(model=game_cnn(seed))


def screenshots_as_floats(seed):
    """The asker's fix: convert to float before dividing by 255."""
    x, y = screenshots(seed)
    return _split(x.astype("float32") / 255, y)._replace(model=game_cnn(seed))


def square_data(scaled: bool):
    x = np.arange(100, dtype="float32")[:, None]
    y = x ** 2 + 3
    x = (x - x.mean()) / x.std()
    y = (y - y.mean()) / y.std() if scaled else y
    return Case(None, x, y, x, y)


def two_linear_layers(seed):
    keras.utils.set_random_seed(seed)
    return _compiled(keras.Sequential([keras.Input((1,)), layers.Dense(1), layers.Dense(1)]), "mse", "sgd")


def square_unscaled_target(seed):
    """https://stats.stackexchange.com/questions/418955 "Why is deep neural net with linear activation
    diverges?" (read at https://wiki.hoelee.com/content/stats.stackexchange.com_en_all_2022-05/questions/418955/):
    x = 0..99 standardised, y = x**2 + 3 (3 to 9804), two Dense(1) layers, plain SGD, mean squared error.  The
    asker's update: "this particular behavior is caused by not scaled target variable".  The 100 points are both
    the training and the validation set, as in the question."""
    return square_data(False)._replace(model=two_linear_layers(seed))


def square_scaled_target(seed):
    """The fix the asker found: the target standardised too."""
    return square_data(True)._replace(model=two_linear_layers(seed))


def line_data():
    x = np.arange(200, dtype="float32")[:, None]
    return Case(None, x, 2 * x[:, 0], x, 2 * x[:, 0])


def one_dense(rate: float):
    def build(seed):
        keras.utils.set_random_seed(seed)
        model = _compiled(keras.Sequential([keras.Input((1,)), layers.Dense(1)]), "mse",
                          keras.optimizers.SGD(learning_rate=rate))
        return line_data()._replace(model=model)
    return build


line_at_1e_3 = one_dense(1e-3)
line_at_1e_3.__doc__ = """https://github.com/keras-team/keras/issues/3040 "Simple Linear Regression Nan's after a few
iterations": x = 0..199, y = 2x, Dense(1), SGD at 0.001, batch size 1, one epoch; "realized my learning rate was
too high" (the asker)."""
line_at_1e_5 = one_dense(1e-5)
line_at_1e_5.__doc__ = """The fix: a lower learning rate; the thread gives no value, 1e-5 keeps lr * max(x)**2 = 0.4
under 2, where plain gradient descent on this line stops diverging."""


def ames_data(seed):
    """Standardised features (the workshop's recipe normalises them) and sale prices from 35000 to 755000, skewed
    like Ames's (log-normal around 160000)."""
    rng = _rng(seed)
    x, score = _standard_features(rng, 32)
    price = np.clip(np.exp(12.0 + 0.4 * score + 0.1 * rng.normal(size=len(score))), 35000, 755000)
    return x, price.astype("float32")


def ames_model(seed, loss):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32,)), layers.Dense(64, activation="relu"),
                              layers.Dense(32, activation="relu"), layers.Dense(1)])
    return _compiled(model, loss, keras.optimizers.SGD(learning_rate=0.1))


def ames_mse(seed):
    """https://github.com/rstudio-conf-2020/dl-keras-tf/issues/9 "train/valid loss = NAN when loss =
    mean_squared_error due to exploding values": sale prices up to about 755000, plain SGD at 0.1, batch size
    16, mean squared error: the loss is NaN from the first epoch.  "When the error gets squared, the sum
    explodes! That's why msle was recommended in the instructions."  The network's widths (64, 32) are not in
    the thread."""
    x, y = ames_data(seed)
    return _split(x, y)._replace(model=ames_model(seed, "mse"))


def ames_msle(seed):
    """The fix the thread recommends: mean squared logarithmic error on the same prices."""
    x, y = ames_data(seed)
    return _split(x, y)._replace(model=ames_model(seed, "msle"))


# ------------------------------------------------------------------------------------------- output range

def thousand_data(seed):
    rng = _rng(seed)
    x, score = _standard_features(rng, 16)
    return x, (1000 / (1 + np.exp(-2 * score))).astype("float32")


def sigmoid_regressor(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((16,)), layers.Dense(32, activation="relu"),
                              layers.Dense(1, activation="sigmoid")])
    return _compiled(model, "mse", "adam")


def sigmoid_on_0_to_1000(seed):
    """https://github.com/keras-team/keras/issues/2399 "How to use mlp for regression": a sigmoid output (as an
    answer suggests for a bounded range) on targets in [0, 1000].  The asker: "If I use sigmoid, but the output
    is range in [0,1000], then i should first normalize the label to [0,1]... then deNormalize?"  The answer: "Yes
    to all the questions."  The network (one relu layer of 32) and Adam are not in the thread."""
    x, y = thousand_data(seed)
    return _split(x, y)._replace(model=sigmoid_regressor(seed))


def sigmoid_on_0_to_1(seed):
    """The fix: the targets divided by 1000 (and the predictions multiplied back)."""
    x, y = thousand_data(seed)
    return _split(x, y / 1000)._replace(model=sigmoid_regressor(seed))


# ----------------------------------------------------------------------------------------- sparse labels

def masks_data(seed, classes: int = 3):
    """32x32 RGB images in [0, 1] (the repository divides the images by 255) and masks of class indices: each
    pixel's class is its dominant colour channel, in blocks of 4x4."""
    rng = _rng(seed)
    blocks = rng.random((2 * N, 8, 8, classes))
    masks = np.argmax(blocks, axis=-1).repeat(4, axis=1).repeat(4, axis=2)
    images = np.clip(blocks.repeat(4, axis=1).repeat(4, axis=2) + 0.1 * rng.normal(size=(2 * N, 32, 32, 3)), 0, 1)
    return images.astype("float32"), masks.astype("float32")


def segmenter(seed, classes: int = 3):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(16, 3, padding="same", activation="relu"),
                              layers.Conv2D(classes, 1, activation="softmax")])
    return _compiled(model, "sparse_categorical_crossentropy", "adam")


def masks_divided_by_255(seed):
    """https://github.com/HasnainRaz/FC-DenseNet-TensorFlow/issues/17 "normalize_data problem why image/255 and
    mask/255 when training": masks of class indices divided by 255 like the images, "if mask/255 they will all be
    0 (class: background)".  The author: "You can comment out the normalization function in the dataloader. It
    was written for binary class segmentation problems where the mask has [0, 255] values."  Ported to a
    two-convolution Keras segmenter with sparse categorical cross-entropy on 3 classes."""
    x, masks = masks_data(seed)
    return _split(x, masks / 255)._replace(model=segmenter(seed))


def masks_as_indices(seed):
    """The fix: the masks' class indices as they are."""
    x, masks = masks_data(seed)
    return _split(x, masks)._replace(model=segmenter(seed))


# ------------------------------------------------------------------------------------- double activation

def binary_data(seed, features: int = 16):
    rng = _rng(seed)
    x, score = _standard_features(rng, features)
    return x, (score > 0).astype("float32")


def logit_head(activation, from_logits: bool):
    def build(seed):
        x, y = binary_data(seed)
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((16,)), layers.Dense(16, activation="relu"),
                                  layers.Dense(1, activation=activation)])
        return _split(x, y)._replace(model=_compiled(
            model, keras.losses.BinaryCrossentropy(from_logits=from_logits), "adam"))
    return build


sigmoid_with_logits_loss = logit_head("sigmoid", True)
sigmoid_with_logits_loss.__doc__ = """https://github.com/keras-team/keras/issues/15271 "Missing _keras_logits from
model.predict(x) leads to difference in loss evaluation": a sigmoid output with BinaryCrossentropy(from_logits=True).
The maintainer: "`from_logits=True` means there should not be a sigmoid... I changed activation="sigmoid" to
activation=None. It works as expected with from_logits=True."  The head (a relu layer of 16, Adam) is the
catalogue's own."""
linear_with_logits_loss = logit_head(None, True)
linear_with_logits_loss.__doc__ = """The maintainer's fix: no activation on the output."""


def pets_data(seed):
    """32x32 RGB images in [0, 1] of two classes (a bright patch at the left or at the right)."""
    rng = _rng(seed)
    labels = rng.integers(0, 2, size=2 * N)
    x = 0.3 * rng.random((2 * N, 32, 32, 3))
    for i, label in enumerate(labels):
        x[i, 8:24, (2 if label else 18):(14 if label else 30)] += 0.6
    return x.astype("float32"), labels.astype("float32")


def small_cnn(seed, from_logits: bool):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(16, 3, activation="relu"),
                              layers.MaxPooling2D(), layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                              layers.Flatten(), layers.Dense(64, activation="relu"),
                              layers.Dense(1, activation="sigmoid")])
    return _compiled(model, keras.losses.BinaryCrossentropy(from_logits=from_logits), "adam")


def cats_dogs_logits(seed):
    """https://github.com/lovedlim/tensorflow/issues/2 (the book's 4.5 dogs and cats; Keras warns "binary_crossentropy
    received from_logits=True, but the output argument was produced by a sigmoid"): a convolutional classifier
    ending in a sigmoid, BinaryCrossentropy(from_logits=True).  The author: "if the last layer has a sigmoid or a
    softmax, from_logits=False is right" (translated).  The images are 32x32 here, not the book's size."""
    x, y = pets_data(seed)
    return _split(x, y)._replace(model=small_cnn(seed, True))


def cats_dogs_probabilities(seed):
    """The author's fix: from_logits=False with the sigmoid kept."""
    x, y = pets_data(seed)
    return _split(x, y)._replace(model=small_cnn(seed, False))


def activity_data(seed, steps: int = 24, channels: int = 3, classes: int = 6):
    """Windows of accelerometer-like signals: (steps, channels, 1), each class a sine of its own frequency."""
    rng = _rng(seed)
    labels = rng.integers(0, classes, size=2 * N)
    t = np.arange(steps)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, size=(2 * N, 1, channels))
    x = np.sin(2 * np.pi * (labels[:, None, None] + 1) * t / steps + phase) + 0.3 * rng.normal(
        size=(2 * N, steps, channels))
    return x[..., None].astype("float32"), labels.astype("int32")


def conv_lstm(seed, from_logits: bool, classes: int = 6):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((24, 3, 1))
    h = inputs
    for _ in range(4):
        h = layers.Conv2D(16, (5, 1), activation="relu")(h)
    h = layers.Reshape((h.shape[1], h.shape[2] * h.shape[3]))(h)
    h = layers.LSTM(16, return_sequences=True)(h)
    h = layers.Dropout(0.5)(h)
    h = layers.LSTM(16)(h)
    h = layers.Dropout(0.5)(h)
    model = keras.Model(inputs, layers.Dense(classes, activation="softmax")(h))
    return _compiled(model, keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), "adam")


def activity_logits(seed):
    """https://github.com/mmalekzadeh/dana/issues/1 "Potential bug - Usage of from_logits=True on the model that
    has softmax activated output": Ordonez2016DeepOriginal, four (5, 1) convolutions, two LSTMs and a softmax,
    trained with SparseCategoricalCrossentropy(from_logits=True).  Narrowed here (16 filters and units instead
    of 64 and 128, windows of 24 steps of 3 channels)."""
    x, y = activity_data(seed)
    return _split(x, y)._replace(model=conv_lstm(seed, True))


def activity_probabilities(seed):
    """The fix the issue proposes (closed): from_logits=False on the softmax output."""
    x, y = activity_data(seed)
    return _split(x, y)._replace(model=conv_lstm(seed, False))


def real_and_fake(seed):
    """28x28x1 images in [-1, 1] (a GAN's tanh range): stroke patterns labelled 1, noise labelled 0."""
    x, _ = digits(seed)
    rng = _rng(seed)
    fake = rng.uniform(-1, 1, size=x.shape)
    real = x / 127.5 - 1
    labels = rng.integers(0, 2, size=len(x))
    images = np.where(labels[:, None, None] == 1, real, fake)[..., None]
    return images.astype("float32"), labels.astype("float32")


def discriminator(seed, from_logits: bool):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 5, strides=2, padding="same"),
                              layers.LeakyReLU(0.2), layers.Conv2D(64, 5, strides=2, padding="same"),
                              layers.LeakyReLU(0.2), layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    return _compiled(model, keras.losses.BinaryCrossentropy(from_logits=from_logits), keras.optimizers.Adam(1e-4))


def gan_discriminator_logits(seed):
    """https://github.com/jeffheaton/t81_558_deep_learning/pull/81 "Fixed error in loss function": the course's GAN
    computes the discriminator's loss with BinaryCrossentropy(from_logits=True) "since the discriminator already
    has a sigmoid activation function" it is wrong (merged: "Good catch!").  Ported as the discriminator alone,
    on real strokes against noise; the widths (32, 64) are the usual DCGAN ones."""
    x, y = real_and_fake(seed)
    return _split(x, y)._replace(model=discriminator(seed, True))


def gan_discriminator_probabilities(seed):
    """The merged fix: BinaryCrossentropy() (from_logits=False)."""
    x, y = real_and_fake(seed)
    return _split(x, y)._replace(model=discriminator(seed, False))


# ------------------------------------------------------------------------------------------ loss mismatch

def reviews_data(seed, length: int = 250, vocabulary: int = 10000, classes: int = 4):
    """Sequences of 250 token ids below 10000 (0 pads the end), 4 classes each favouring 50 tokens of its own."""
    rng = _rng(seed)
    labels = rng.integers(0, classes, size=2 * N)
    favoured = rng.integers(1, vocabulary, size=(classes, 50))
    lengths = rng.integers(40, length, size=2 * N)
    x = np.zeros((2 * N, length), dtype="int32")
    for i, (label, n) in enumerate(zip(labels, lengths)):
        words = rng.integers(1, vocabulary, size=n)
        chosen = rng.random(n) < 0.3
        words[chosen] = rng.choice(favoured[label], size=int(chosen.sum()))
        x[i, :n] = words
    return x, labels.astype("int32")


def text_classifier(seed, from_logits: bool):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((250,), dtype="int32"), layers.Embedding(10001, 16), layers.Dropout(0.2),
                              layers.GlobalAveragePooling1D(), layers.Dropout(0.2), layers.Dense(4)])
    return _compiled(model, keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), "adam")


def text_probabilities_expected(seed):
    """https://github.com/tensorflow/docs/pull/2102 "tutorials/keras/text_classification.ipynb: Refine exercise
    instruction": the exercise's 4-class model (Embedding, pooling, Dense(4) with no activation) trained with
    SparseCategoricalCrossentropy() reaches "around 0.3, not far away from the random-guess 0.25".  The maintainer:
    "Instead of adding a softmax layer... set the loss function to SparseCategoricalCrossentropy(from_logits=True)"
    (merged)."""
    x, y = reviews_data(seed)
    return _split(x, y)._replace(model=text_classifier(seed, False))


def text_logits(seed):
    """The maintainer's fix: from_logits=True."""
    x, y = reviews_data(seed)
    return _split(x, y)._replace(model=text_classifier(seed, True))


def pooled_features(seed, features: int = 1280, n: int = 4 * N):
    """Features pooled from a frozen MobileNetV2 (relu6: in [0, 6], most near 0) and a binary label that 20 of
    them decide."""
    rng = _rng(seed)
    labels = rng.integers(0, 2, size=n)
    x = rng.gamma(0.6, 0.6, size=(n, features))
    x[:, :20] += labels[:, None]  # 20 of the features carry the class
    return np.clip(x, 0, 6).astype("float32"), labels.astype("float32")


def transfer_head(seed, from_logits: bool):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((1280,)), layers.Dense(1)])
    return _compiled(model, keras.losses.BinaryCrossentropy(from_logits=from_logits), keras.optimizers.RMSprop(1e-4))


def transfer_head_probabilities(seed):
    """https://github.com/tensorflow/tensorflow/issues/28718 "Transfer Learning Using Pretrained ConvNets tutorial
    should use sigmoid activation": the tutorial's head is a Dense(1) with no activation ("treated as a logit")
    but the model compiles with loss="binary_crossentropy", from_logits=False.  The maintainer's answer: "set
    from_logits=True in the loss function".  Ported as the head on MobileNetV2's pooled features, RMSprop at
    1e-4 as in the tutorial."""
    x, y = pooled_features(seed)
    return _split(x, y, 3 * N)._replace(model=transfer_head(seed, False))


def transfer_head_logits(seed):
    """The maintainer's fix: BinaryCrossentropy(from_logits=True)."""
    x, y = pooled_features(seed)
    return _split(x, y, 3 * N)._replace(model=transfer_head(seed, True))


def cancer_data(seed):
    """30 standardised features (the asker applies StandardScaler) and a 0/1 diagnosis, 37% positive like the
    Wisconsin data set's."""
    rng = _rng(seed)
    x, score = _standard_features(rng, 30)
    return x, (score > np.quantile(score, 0.63)).astype("float32")


def cancer_model(seed, loss):
    keras.utils.set_random_seed(seed)
    tiny = lambda: keras.initializers.RandomUniform(-0.05, 0.05)  # noqa: E731 Keras 2's "uniform"
    model = keras.Sequential([keras.Input((30,)),
                              layers.Dense(16, activation="relu", kernel_initializer=tiny()), layers.Dropout(0.1),
                              layers.Dense(16, activation="relu", kernel_initializer=tiny()), layers.Dropout(0.1),
                              layers.Dense(1, activation="sigmoid", kernel_initializer=tiny())])
    return _compiled(model, loss, keras.optimizers.Adam())


def cancer_categorical(seed):
    """https://github.com/keras-team/keras/issues/14729 "too low accuracy": breast-cancer data, 30 standardised
    features, two relu layers of 16 and a sigmoid unit, all initialised "uniform" (±0.05), Adam, batch size
    100, keras.losses.categorical_crossentropy.  The thread's answer is cut off in the stored copy; the fix is the
    one a maintainer gives for this mistake in https://github.com/keras-team/keras/issues/17029 ("When use
    categorical_crossentropy for binary classification... all the losses equal to 0") and the merged
    https://github.com/01-edu/public/pull/1779 gives for the same data set: binary cross-entropy."""
    x, y = cancer_data(seed)
    return _split(x, y)._replace(model=cancer_model(seed, keras.losses.categorical_crossentropy))


def cancer_binary(seed):
    """The fix: binary cross-entropy; the ±0.05 initial weights stay (a twin with tiny weights, whose predictions
    are all but equal at first)."""
    x, y = cancer_data(seed)
    return _split(x, y)._replace(model=cancer_model(seed, keras.losses.binary_crossentropy))


def two_class_head(seed, activation):
    x, y = binary_data(seed)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((16,)), layers.Dense(32, activation="relu"),
                              layers.Dense(2, activation=activation)])
    return _split(x, np.eye(2, dtype="float32")[y.astype(int)])._replace(
        model=_compiled(model, "categorical_crossentropy", "adam"))


def two_sigmoids_categorical(seed):
    """https://github.com/keras-team/keras/issues/6327 "Prediction on binary classification with softmax": two
    outputs that do not sum to 1 under categorical cross-entropy; the asker found the cause: "instead of using
    softmax I was using sigmoid".  The network below the output is not in the thread (a relu layer of 32 here)."""
    return two_class_head(seed, "sigmoid")


def two_softmax_categorical(seed):
    """The asker's fix: softmax over the two units."""
    return two_class_head(seed, "softmax")


def flags_data(seed):
    """31 features and two independent 0/1 flags per example (rows [0, 0] included)."""
    rng = _rng(seed)
    x, _ = _standard_features(rng, 31)
    flags = (x @ rng.normal(size=(31, 2)) > 1.0).astype("float32")
    return x, flags


def flags_model(seed, loss):
    keras.utils.set_random_seed(seed)
    tiny = lambda: keras.initializers.RandomUniform(-0.05, 0.05)  # noqa: E731 Keras 2's "uniform"
    model = keras.Sequential([keras.Input((31,)), layers.Dense(40, activation="relu", kernel_initializer=tiny()),
                              layers.Dense(31, activation="relu", kernel_initializer=tiny()),
                              layers.Dense(2, activation="sigmoid", kernel_initializer=tiny())])
    return _compiled(model, loss, "adam")


def flags_categorical(seed):
    """https://github.com/keras-team/keras/issues/6421 "Discrepancies between evaluate accuracy and predict
    result": two sigmoid outputs (initialised "uniform", ±0.05) for two flag columns whose rows are often
    [0, 0], trained with categorical cross-entropy, Adam, batch size 10.  The answer: "You're using categorical
    crossentropy" on outputs that are not one class among two; the fix is binary cross-entropy."""
    x, y = flags_data(seed)
    return _split(x, y)._replace(model=flags_model(seed, "categorical_crossentropy"))


def flags_binary(seed):
    """The fix: binary cross-entropy, one per flag (the ±0.05 initial weights stay)."""
    x, y = flags_data(seed)
    return _split(x, y)._replace(model=flags_model(seed, "binary_crossentropy"))


# -------------------------------------------------------------------------------------- softmax on one unit

def logo_data(seed):
    """32x32 RGB images in [0, 1] with a bright 8x8 logo somewhere, and its 0/1 mask (32, 32, 1)."""
    rng = _rng(seed)
    x = 0.4 * rng.random((2 * N, 32, 32, 3))
    masks = np.zeros((2 * N, 32, 32, 1), dtype="float32")
    for i, (r, c) in enumerate(rng.integers(0, 24, size=(2 * N, 2))):
        x[i, r:r + 8, c:c + 8] += 0.5
        masks[i, r:r + 8, c:c + 8] = 1
    return x.astype("float32"), masks


def logo_model(seed, activation):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(8, 3, padding="same", activation="relu"),
                              layers.Conv2D(8, 3, padding="same", activation="relu"),
                              layers.Conv2D(1, 1, activation=activation)])
    return _compiled(model, "binary_crossentropy", "adam")


def logo_softmax(seed):
    """https://github.com/AyanKumarBhunia/Deep-One-Shot-Logo-Retrieval/issues/7 "Why softmax for binary cross
    entropy loss": the paper's segmentation map of shape (batch, H, W, 1) ends in a softmax and binary
    cross-entropy: "Having softmax as the final layer does not show any good results".  The author: "You need to
    use sigmoid instead of softmax."  Ported as a two-convolution map on 32x32 images."""
    x, masks = logo_data(seed)
    return _split(x, masks)._replace(model=logo_model(seed, "softmax"))


def logo_sigmoid(seed):
    """The author's fix: a sigmoid on the one-channel map."""
    x, masks = logo_data(seed)
    return _split(x, masks)._replace(model=logo_model(seed, "sigmoid"))


def bottleneck_data(seed):
    """VGG16's block5 features of 150x150 images rescaled to [0, 1] (not preprocess_input): (4, 4, 512),
    non-negative, mostly 0, the rest of order 1; labels half 0 then half 1, as the script makes them."""
    rng = _rng(seed)
    labels = np.repeat([0, 1], N)
    x = np.maximum(0, rng.normal(-0.5, 1.0, size=(2 * N, 4, 4, 512)))
    x[labels == 1, :, :, :64] += np.maximum(0, rng.normal(0.5, 0.5, size=(N, 4, 4, 64)))
    order = rng.permutation(2 * N)
    return x[order].astype("float32"), labels[order].astype("float32")


def bottleneck_head(seed, activation, loss):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4, 4, 512)), layers.Flatten(), layers.Dense(256, activation="relu"),
                              layers.Dropout(0.3), layers.Dense(1, activation=activation)])
    return _compiled(model, loss, keras.optimizers.Adam())


def _bottleneck(activation, loss, doc):
    def build(seed):
        x, y = bottleneck_data(seed)
        return _split(x, y)._replace(model=bottleneck_head(seed, activation, loss))
    build.__doc__ = doc
    return build


SOURCE_BOTTLENECK = "https://github.com/PacktPublishing/Deep-Learning-for-Computer-Vision/issues/2"
bottleneck_softmax_categorical = _bottleneck("softmax", keras.losses.categorical_crossentropy, f"""{SOURCE_BOTTLENECK}
"about the categorical_crossentropy in line 51" of Chapter02/7_cat_vs_dog_bottleneck.py: VGG16's bottleneck
features, Flatten, Dense(1024, relu), Dropout(0.3), Dense(1, activation='softmax'), categorical cross-entropy,
Adam.  The Dense layer is narrowed to 256 here.""")
bottleneck_softmax_binary = _bottleneck("softmax", "binary_crossentropy", f"""{SOURCE_BOTTLENECK}: the fix the
asker gives (changing categorical_crossentropy to binary_crossentropy "solved the problem") is broken, "its val_acc
output always are 0.5000 in all epoch" (a later comment), since the softmax over one unit stays.""")
bottleneck_sigmoid_binary = _bottleneck("sigmoid", "binary_crossentropy", """The fix that works (a third comment):
"you have also to change the softmax activation function to a sigmoid".""")


def xor_data():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = np.array([[0], [1], [1], [0]], dtype="float32")
    return Case(None, x, y, x, y)


def xor_softmax(seed):
    """https://github.com/keras-team/keras/issues/112 "Can't get a simple XOR problem network to work, answer always
    array([0])": Dense(2) and a sigmoid, Dense(1) and a softmax, categorical cross-entropy, SGD, 5 epochs at batch
    size 32 on the 4 points: "predict_proba result always being array([[ 1.]])".  The 4 points are the
    validation set too."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((2,)), layers.Dense(2), layers.Activation("sigmoid"), layers.Dense(1),
                              layers.Activation("softmax")])
    return xor_data()._replace(model=_compiled(model, "categorical_crossentropy", "sgd"))


def xor_sigmoid_mse(seed):
    """The working XOR in the thread (dcgrigsby; "this works perfectly. Gives me a loss of 0.0010", amit4111989):
    a sigmoid output with mean squared error on the 0/1 targets, SGD at 0.1 with Nesterov momentum 0.9.  Its
    outputs are probabilities scored by a regression loss: no mismatch, and the doctor must say nothing."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((2,)), layers.Dense(2), layers.Activation("sigmoid"), layers.Dense(1),
                              layers.Activation("sigmoid")])
    return xor_data()._replace(model=_compiled(
        model, "mean_squared_error", keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)))


# ------------------------------------------------------------------------------------------------ the list

ON_TENSORFLOW = ("the bug trains on TensorFlow, which takes the logits back from the sigmoid or softmax op (Keras "
                 "warns); it squashes twice on JAX and PyTorch")
CATEGORICAL_ON_TENSORFLOW = ("the bug trains on TensorFlow, which computes categorical cross-entropy from the "
                             "sigmoids' logits, as a softmax would")

QUESTIONS = (
    Program("y = x**4, inputs in [-100, 100]", x4_raw, x4_scaled, "unscaled-inputs",
            source="https://stackoverflow.com/questions/52800582"),
    Program("images divided in place as integers: all 0", screenshots_as_integers, screenshots_as_floats,
            "unscaled-inputs", source="https://github.com/keras-team/keras/issues/255"),
    Program("y = x**2 + 3 unscaled, two linear layers", square_unscaled_target,
            square_scaled_target, "initial-loss", source="https://stats.stackexchange.com/questions/418955"),
    Program("y = 2x, SGD at 0.001, batch 1", line_at_1e_3, line_at_1e_5, "nan",
            source="https://github.com/keras-team/keras/issues/3040", epochs=1, batch_size=1),
    Program("house prices to 755000, SGD at 0.1", ames_mse, ames_msle, "initial-loss",
            twin_broken="mean squared logarithmic error on the raw prices stays finite but does not fit them "
                        "(R² -5.1 after 100 epochs, -1.9 after 500): the outputs must grow from about 1 to 160000",
            source="https://github.com/rstudio-conf-2020/dl-keras-tf/issues/9", batch_size=16),
    Program("sigmoid output, targets in [0, 1000]", sigmoid_on_0_to_1000, sigmoid_on_0_to_1,
            "output-range", source="https://github.com/keras-team/keras/issues/2399"),
    Program("masks divided by 255, sparse labels", masks_divided_by_255, masks_as_indices,
            "sparse-labels", source="https://github.com/HasnainRaz/FC-DenseNet-TensorFlow/issues/17"),
    Program("sigmoid with from_logits=True", sigmoid_with_logits_loss, linear_with_logits_loss,
            "double-activation", note=ON_TENSORFLOW, source="https://github.com/keras-team/keras/issues/15271"),
    Program("CNN sigmoid with from_logits=True", cats_dogs_logits, cats_dogs_probabilities,
            "double-activation", note=ON_TENSORFLOW, source="https://github.com/lovedlim/tensorflow/issues/2"),
    Program("conv-LSTM softmax with from_logits=True", activity_logits, activity_probabilities,
            "double-activation", note=ON_TENSORFLOW, source="https://github.com/mmalekzadeh/dana/issues/1"),
    Program("GAN discriminator, sigmoid with from_logits=True", gan_discriminator_logits,
            gan_discriminator_probabilities, "double-activation",
            note=ON_TENSORFLOW, source="https://github.com/jeffheaton/t81_558_deep_learning/pull/81"),
    Program("Dense(4) logits, SparseCategoricalCrossentropy()", text_probabilities_expected,
            text_logits, "loss-mismatch", source="https://github.com/tensorflow/docs/pull/2102"),
    Program("Dense(1) logits, binary_crossentropy", transfer_head_probabilities,
            transfer_head_logits, "loss-mismatch", source="https://github.com/tensorflow/tensorflow/issues/28718"),
    Program("one sigmoid, categorical cross-entropy, ±0.05 weights", cancer_categorical,
            cancer_binary, "loss-mismatch", source="https://github.com/keras-team/keras/issues/14729",
            batch_size=100),
    Program("two sigmoids, categorical cross-entropy", two_sigmoids_categorical,
            two_softmax_categorical, "loss-mismatch", note=CATEGORICAL_ON_TENSORFLOW,
            source="https://github.com/keras-team/keras/issues/6327"),
    Program("two flags, categorical cross-entropy, ±0.05 weights", flags_categorical, flags_binary,
            "loss-mismatch", source="https://github.com/keras-team/keras/issues/6421", batch_size=10),
    Program("softmax over a (H, W, 1) map", logo_softmax, logo_sigmoid, "softmax-one-unit",
            source="https://github.com/AyanKumarBhunia/Deep-One-Shot-Logo-Retrieval/issues/7"),
    Program("bottleneck head, Dense(1, softmax), categorical", bottleneck_softmax_categorical,
            bottleneck_softmax_binary, "softmax-one-unit", source=SOURCE_BOTTLENECK,
            twin_broken="the accepted fix, binary cross-entropy, keeps the softmax over one unit: val_acc stays "
                        "0.5 (a later comment)"),
    Program("bottleneck head, Dense(1, softmax), binary (the first fix)", bottleneck_softmax_binary,
            bottleneck_sigmoid_binary, "softmax-one-unit", source=SOURCE_BOTTLENECK),
    Program("XOR, Dense(1) softmax", xor_softmax, xor_sigmoid_mse, "softmax-one-unit",
            source="https://github.com/keras-team/keras/issues/112", epochs=5),
)

# Epochs a twin is trained for to tell whether it works (``trained_longer``): enough for the question's own
# data and optimizer; XOR at one update an epoch needs thousands (the thread: "convergence will hit after 3500+").
LONGER = {xor_sigmoid_mse: 4000, xor_softmax: 4000, line_at_1e_5: 5, line_at_1e_3: 5, x4_scaled: 1000,
          x4_raw: 1000}


def trained_longer(build, seed: int = 0, epochs: int = 100, batch_size: int = 32) -> dict[str, float | str]:
    """Train ``build(seed)``'s model without the doctor for ``epochs`` and score it on its validation set: the
    first and last epochs' training loss and, for a classifier, the accuracy (of the output unit or units, per
    example or per pixel) against the majority class's share; for a regression, R² (1 - mean squared error over
    the targets' variance, in the targets' own units)."""
    case = build(seed)
    model = case.model
    keras.utils.set_random_seed(seed)
    history = model.fit(case.x, case.y, epochs=LONGER.get(build, epochs), batch_size=batch_size, verbose=0)
    losses = history.history["loss"]
    predictions = np.asarray(model.predict(case.x_val, verbose=0), dtype=np.float64)
    spec = read_loss(model)
    y = np.asarray(case.y_val, dtype=np.float64)
    scores = {"loss_first": losses[0], "loss_last": losses[-1]}
    if spec is not None and spec.family == "regression" and predictions.shape[-1] == 1 and y.ndim < predictions.ndim:
        predictions = predictions[..., 0]
    if spec is not None and spec.family == "regression" and not set(np.unique(y)) <= {0, 1}:
        scores.update(metric="R2", value=1 - float(np.mean((predictions - y) ** 2) / np.var(y)), chance=0.0)
        return scores
    if predictions.shape[-1] > 1:  # one unit per class: argmax against indices or one-hot rows
        truth = y if y.ndim == predictions.ndim - 1 else np.argmax(y, axis=-1)
        if y.ndim == predictions.ndim and set(np.unique(y)) <= {0, 1} and np.any(y.sum(axis=-1) != 1):
            guess = predictions > (0.5 if activation_of(output_layer(model)) in ("sigmoid", "softmax") else 0)
            chance = float(max(np.mean(y), 1 - np.mean(y)))
            scores.update(metric="accuracy per flag", value=float(np.mean(guess == y)), chance=chance)
            return scores
        guess = np.argmax(predictions, axis=-1)
        counts = np.bincount(truth.astype(int).ravel())
        scores.update(metric="accuracy", value=float(np.mean(guess == truth)),
                      chance=float(counts.max() / counts.sum()))
        return scores
    threshold = 0.5 if activation_of(output_layer(model)) in ("sigmoid", "softmax") else 0.0
    guess = (predictions[..., 0] if predictions.ndim == y.ndim + 1 else predictions) > threshold
    if guess.shape != y.shape:
        guess = guess.reshape(y.shape)
    share = float(np.mean(y))
    scores.update(metric="accuracy", value=float(np.mean(guess == (y > 0.5))), chance=max(share, 1 - share))
    return scores
