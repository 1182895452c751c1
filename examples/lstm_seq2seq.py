"""Character-level sequence-to-sequence (encoder-decoder LSTM) with the Keras functional API.

The structure of keras.io's "Character-level recurrent sequence-to-sequence model"
(examples/nlp/lstm_seq2seq), on a translation task generated here offline: a word of random
letters is "translated" into its letters reversed and shifted by one (abc -> dcb). The training
model reads the source word and, with teacher forcing, the target shifted by one step; the
inference models are built from its trained layers (an encoder giving the states, a one-step
decoder taking them) and decode greedily. Prints the training accuracy and the exact-match
rate of decoded words on held-out ones.

    python examples/lstm_seq2seq.py [--epochs 120] [--samples 3000]   # ~20 s on 2 cores
"""

import argparse

import numpy as np

import pyrnn as keras

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=120)
parser.add_argument("--samples", type=int, default=3000)
parser.add_argument("--latent", type=int, default=128)
args = parser.parse_args()

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
letters = "abcdefghij"


def translate(word):
    return "".join(letters[(letters.index(ch) + 1) % len(letters)] for ch in reversed(word))


sources = ["".join(rng.choice(list(letters), rng.integers(3, 9))) for _ in range(args.samples)]
targets = ["\t" + translate(w) + "\n" for w in sources]  # tab starts a target, newline ends it

source_chars = sorted(set("".join(sources)) | {" "})
target_chars = sorted(set("".join(targets)) | {" "})
src_index = {c: i for i, c in enumerate(source_chars)}
tgt_index = {c: i for i, c in enumerate(target_chars)}
max_src, max_tgt = max(map(len, sources)), max(map(len, targets))


def one_hot(texts, index, length):
    out = np.zeros((len(texts), length, len(index)), np.float32)
    for i, text in enumerate(texts):
        padded = text + " " * (length - len(text))
        out[i, np.arange(length), [index[c] for c in padded]] = 1.0
    return out


encoder_data = one_hot(sources, src_index, max_src)
decoder_data = one_hot(targets, tgt_index, max_tgt)
decoder_target = np.concatenate([decoder_data[:, 1:], one_hot([" "] * len(targets), tgt_index, 1)], axis=1)

# ---- the training model
encoder_inputs = keras.Input(shape=(None, len(source_chars)))
_, state_h, state_c = keras.layers.LSTM(args.latent, return_state=True)(encoder_inputs)
decoder_inputs = keras.Input(shape=(None, len(target_chars)))
decoder_lstm = keras.layers.LSTM(args.latent, return_sequences=True, return_state=True)
decoder_seq, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
decoder_dense = keras.layers.Dense(len(target_chars), activation="softmax")
model = keras.Model([encoder_inputs, decoder_inputs], decoder_dense(decoder_seq))
model.summary()

held_out = args.samples // 10
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
history = model.fit([encoder_data[held_out:], decoder_data[held_out:]], decoder_target[held_out:],
                    batch_size=64, epochs=args.epochs, validation_split=0.1, verbose=2)

# ---- the inference models, from the trained layers
encoder_model = keras.Model(model.input[0], model.layers[2].output[1:])
state_in = [keras.Input(shape=(args.latent,)), keras.Input(shape=(args.latent,))]
step_out, h_out, c_out = model.layers[3](model.input[1], initial_state=state_in)
decoder_model = keras.Model([model.input[1]] + state_in, [model.layers[4](step_out), h_out, c_out])


def decode(batch):
    """Greedy decoding of a batch of one-hot source words."""
    states = encoder_model.predict(batch, verbose=0)
    token = np.zeros((len(batch), 1, len(target_chars)), np.float32)
    token[:, 0, tgt_index["\t"]] = 1.0
    words = [""] * len(batch)
    done = np.zeros(len(batch), bool)
    for _ in range(max_tgt):
        probs, h, c = decoder_model.predict([token] + states, verbose=0)
        ids = probs[:, -1].argmax(-1)
        for i, k in enumerate(ids):
            if not done[i]:
                if target_chars[k] == "\n":
                    done[i] = True
                else:
                    words[i] += target_chars[k]
        token = np.zeros_like(token)
        token[np.arange(len(batch)), 0, ids] = 1.0
        states = [h, c]
    return words


decoded = decode(encoder_data[:held_out])
exact = np.mean([d == translate(w) for d, w in zip(decoded, sources[:held_out])])
for w, d in list(zip(sources, decoded))[:5]:
    print(f"{w:>10} -> {d:<10} (expected {translate(w)})")
print(f"training accuracy {history.history['accuracy'][-1]:.3f}, "
      f"validation accuracy {history.history['val_accuracy'][-1]:.3f}, "
      f"held-out exact-match rate of decoded words {exact:.3f}")
