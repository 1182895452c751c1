"""Forecast a noisy sine wave one step ahead with an LSTM (Keras-style API).

Run: python examples/sine_forecast.py
"""
import numpy as np

from pyrnn import callbacks
from pyrnn.layers import LSTM, Dense
from pyrnn.models import Sequential

rng = np.random.default_rng(0)
t = np.arange(3000) * 0.05
series = np.sin(t) + 0.5 * np.sin(0.3 * t) + rng.normal(0, 0.05, t.shape)
window = 30
X = np.stack([series[i:i + window] for i in range(len(series) - window)])[..., None]
Y = series[window:, None]
split = int(0.8 * len(X))

model = Sequential([LSTM(32, input_shape=(window, 1), seed=0), Dense(1, seed=1)])
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
model.summary()
model.fit(X[:split], Y[:split], epochs=15, batch_size=64, validation_split=0.1, verbose=2,
          callbacks=[callbacks.EarlyStopping(patience=3, restore_best_weights=True)])
test_mse = model.evaluate(X[split:], Y[split:], verbose=0)[0]
naive = float(np.mean((X[split:, -1, 0] - Y[split:, 0]) ** 2))
print(f"test MSE {test_mse:.5f} (repeat-last-value baseline {naive:.5f})")
