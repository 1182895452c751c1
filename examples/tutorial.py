"""The classic Keras RNN tutorial program, with only its imports changed to pyrnn.

Run: python examples/tutorial.py  (learns the mean of random targets: final loss near 1/12)
"""
import numpy as np
from pyrnn.models import Sequential
from pyrnn.layers import SimpleRNN, Dense
model = Sequential()
model.add(SimpleRNN(units=50, input_shape=(10, 1)))
model.add(Dense(units=1))
model.compile(optimizer='adam', loss='mean_squared_error')
X = np.random.random((1000, 10, 1))
Y = np.random.random((1000, 1))
model.fit(X, Y, epochs=100, batch_size=32)
