"""``callbacks.BackupAndRestore``: a fit killed (SIGKILL) mid-epoch and restarted resumes from the
last backup (weights, optimizer state, epoch, step, RNG states) and ends with the weights of an
uninterrupted fit; backups are atomic; Keras 3's arguments and checkpoint deletion."""

import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from pyrnn import callbacks
from pyrnn import layers as L
from pyrnn.models import Sequential

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from pyrnn import callbacks, layers as L
    from pyrnn.models import Sequential

    backup, out, kill_at, save_freq = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    save_freq = save_freq if save_freq == "epoch" else int(save_freq)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 5, 2)), rng.random((16, 1))
    model = Sequential([L.Input((5, 2)), L.GRU(4, dropout=0.2, recurrent_dropout=0.1, return_sequences=True),
                        L.Dropout(0.3), L.LSTM(3), L.Dense(1)], seed=1)
    model.compile(optimizer="adam", loss="mse")
    seen = [0]

    class Kill(callbacks.Callback):  # the machine dies: no cleanup, no on_train_end
        def on_train_batch_end(self, batch, logs=None):
            seen[0] += 1
            if seen[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    cbs = [callbacks.BackupAndRestore(backup, save_freq=save_freq)] if backup != "-" else []
    model.fit(x, y, epochs=3, batch_size=4, shuffle=True, verbose=0, callbacks=cbs + [Kill()])
    np.savez(out, *model.get_weights())
""")


def _run(tmp_path, backup, out, kill_at, save_freq):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), str(backup), str(out), str(kill_at), str(save_freq)],
                          capture_output=True, text=True, timeout=300)


def _weights(path):
    with np.load(path) as f:
        return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.parametrize("save_freq,kill_at", [(3, 8), ("epoch", 7)])
def test_killed_fit_resumes_to_the_uninterrupted_weights(tmp_path, save_freq, kill_at):
    """4 batches per epoch, 3 epochs. save_freq=3: backups after batches 3 and 6 (epoch 1, step 2);
    killed after batch 8, so batches 7-8 are lost and redone. "epoch": killed in epoch 1."""
    straight = _run(tmp_path, "-", tmp_path / "straight.npz", 0, save_freq)
    assert straight.returncode == 0, straight.stderr
    backup = tmp_path / "backup"
    killed = _run(tmp_path, backup, tmp_path / "never.npz", kill_at, save_freq)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (backup / "latest.keras").exists() and not (tmp_path / "never.npz").exists()
    resumed = _run(tmp_path, backup, tmp_path / "resumed.npz", 0, save_freq)
    assert resumed.returncode == 0, resumed.stderr
    assert not backup.exists()  # delete_checkpoint=True: removed when fit ends
    for a, b in zip(_weights(tmp_path / "resumed.npz"), _weights(tmp_path / "straight.npz")):
        np.testing.assert_array_equal(a, b)


def _model():
    model = Sequential([L.Input((5, 2)), L.GRU(3), L.Dense(1)], seed=2)
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_resume_restores_epoch_and_step_in_process(tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.random((12, 5, 2)), rng.random((12, 1))
    model = _model()

    class Stop(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.model.optimizer.iterations == 5:
                raise KeyboardInterrupt  # interrupted: on_train_end never runs
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=2, batch_size=4, verbose=0,
                  callbacks=[callbacks.BackupAndRestore(tmp_path / "b", save_freq=2), Stop()])
    steps = []

    class Log(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            steps.append(f"epoch {epoch}")

        def on_train_batch_begin(self, batch, logs=None):
            steps.append(batch)
    log = Log()
    again = _model()
    again.fit(x, y, epochs=2, batch_size=4, verbose=0,
              callbacks=[callbacks.BackupAndRestore(tmp_path / "b", save_freq=2, delete_checkpoint=False), log])
    assert steps == ["epoch 1", 1, 2]  # the backup after 4 batches: epoch 1 with its first batch done
    assert again.optimizer.iterations == 6
    assert (tmp_path / "b" / "latest.keras").exists()  # delete_checkpoint=False keeps it


def test_crash_while_writing_keeps_the_previous_backup(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    x, y = rng.random((8, 5, 2)), rng.random((8, 1))
    model = _model()
    cb = callbacks.BackupAndRestore(tmp_path / "b", delete_checkpoint=False)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[cb])
    good = (tmp_path / "b" / "latest.keras").read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk gone")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash)
    with pytest.raises(OSError, match="disk gone"):
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[cb])
    assert (tmp_path / "b" / "latest.keras").read_bytes() == good
    assert os.listdir(tmp_path / "b") == ["latest.keras"]


def test_bad_arguments_and_bad_backup(tmp_path):
    with pytest.raises(ValueError, match="Empty `backup_dir`"):
        callbacks.BackupAndRestore("")
    for bad in ("batch", 0, 1.5, True):
        with pytest.raises(ValueError, match=r"save_freq=.*Expected either 'epoch' or an integer"):
            callbacks.BackupAndRestore(tmp_path, save_freq=bad)
    with pytest.raises(NotImplementedError, match="double_checkpoint"):
        callbacks.BackupAndRestore(tmp_path, double_checkpoint=True)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "latest.keras").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="latest.keras'?: expected a Keras 3 .keras zip archive"):
        _model().fit(np.zeros((2, 5, 2)), np.zeros((2, 1)), verbose=0,
                     callbacks=[callbacks.BackupAndRestore(tmp_path / "c")])


def test_lambda_callback_batch_hooks_are_called():
    """A LambdaCallback's batch functions run (the batch fast path once skipped them: instance
    attributes, not a subclass's methods)."""
    seen = []
    hooks = callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: seen.append(("begin", batch)),
                                     on_train_batch_end=lambda batch, logs: seen.append(("end", batch)))
    _model().fit(np.zeros((8, 5, 2)), np.zeros((8, 1)), batch_size=4, verbose=0, callbacks=[hooks])
    assert seen == [("begin", 0), ("end", 0), ("begin", 1), ("end", 1)]
