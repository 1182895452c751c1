"""Multivariate time-series forecasting with ``timeseries_dataset_from_array`` (the pipeline of
keras.io's "Timeseries forecasting for weather prediction", examples/timeseries/
timeseries_weather_forecasting), on a weather-like series generated here offline.

Seven features observed every 10 minutes (a daily and a yearly cycle, a slow random walk, noise;
the temperature, feature 1, depends on the others with a lag); the model sees the past 720
observations sampled hourly (``sampling_rate=6``) and predicts the temperature 72 observations
(12 hours) ahead. EarlyStopping and ModelCheckpoint watch the validation loss. Prints the
validation MSE against the baseline of predicting the last seen temperature.

    python examples/timeseries_forecasting.py [--epochs 6]   # ~30 s on 2 cores
"""

import argparse
import os
import tempfile

import numpy as np

import pyrnn as keras

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=6)
args = parser.parse_args()
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)

n = 60000  # ~14 months of 10-minute observations
t = np.arange(n)
day, year = 2 * np.pi * t / 144, 2 * np.pi * t / (144 * 365)
walk = np.cumsum(rng.standard_normal(n)) * 0.02
features = np.stack([
    1000 + 5 * np.sin(year) + walk,                                              # pressure
    np.zeros(n),                                                                 # temperature, below
    np.sin(day - 0.5) + 0.1 * rng.standard_normal(n),                            # radiation
    60 - 20 * np.sin(day) + 3 * rng.standard_normal(n),                          # humidity
    2 + np.abs(rng.standard_normal(n)),                                          # wind
    np.cos(year) + 0.1 * rng.standard_normal(n),                                 # season
    walk + 0.1 * rng.standard_normal(n),                                         # front
], axis=1)
lagged = np.roll(features[:, 2], 36)
features[:, 1] = 10 + 8 * np.cos(year + np.pi) + 4 * lagged + 3 * walk + 0.3 * rng.standard_normal(n)

split = int(0.715 * n)
step, past, future = 6, 720, 72
mean, std = features[:split].mean(0), features[:split].std(0)
features = ((features - mean) / std).astype(np.float32)
sequence_length = past // step

x_train = features[:split - past - future]
y_train = features[past + future:split, [1]]
train = keras.utils.timeseries_dataset_from_array(x_train, y_train, sequence_length=sequence_length,
                                                  sampling_rate=step, batch_size=256)
x_val = features[split:n - past - future]
y_val = features[split + past + future:, [1]]
val = keras.utils.timeseries_dataset_from_array(x_val, y_val, sequence_length=sequence_length,
                                                sampling_rate=step, batch_size=256)

for inputs, targets in train.take(1):
    print("Input shape:", inputs.numpy().shape, "Target shape:", targets.numpy().shape)

inputs = keras.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
outputs = keras.layers.Dense(1)(keras.layers.LSTM(32)(inputs))
model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
model.summary()

checkpoint = os.path.join(tempfile.mkdtemp(), "model_checkpoint.weights.h5")
callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5),
             keras.callbacks.ModelCheckpoint(monitor="val_loss", filepath=checkpoint, save_weights_only=True,
                                             save_best_only=True)]
history = model.fit(train, epochs=args.epochs, validation_data=val, callbacks=callbacks, verbose=2)
model.load_weights(checkpoint)

baseline = np.mean([np.mean((x.numpy()[:, -1, 1] - y.numpy()[:, 0]) ** 2) for x, y in val])
print(f"validation MSE {min(history.history['val_loss']):.3f} (normalised temperature; predicting the last "
      f"seen value: {baseline:.3f})")
