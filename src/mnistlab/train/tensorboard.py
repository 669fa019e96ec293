"""keras.callbacks.TensorBoard, per epoch: mnistlab.TensorBoard."""
from __future__ import annotations

from mnistlab.errors import MnistlabError
from mnistlab.train.callback import Callback


class TensorBoard(Callback):
    """Per-epoch scalars (loss, accuracy, val_*, lr, seconds) for TensorBoard in `log_dir`.

    Needs the `tensorboard` package: pip install "mnistlab[tensorboard]"."""

    def __init__(self, log_dir="runs/tensorboard"):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise MnistlabError("the TensorBoard callback needs the tensorboard package; "
                                'pip install "mnistlab[tensorboard]"') from None
        self.log_dir = str(log_dir)
        self._writer_class = SummaryWriter
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = self._writer_class(self.log_dir)

    def on_epoch_end(self, epoch, logs=None):
        if self.writer is None:
            self.on_train_begin()
        for key, value in (logs or {}).items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"epoch_{key}", value, epoch + 1)
        self.writer.flush()

    def on_test_end(self, logs=None):
        """fit's final test (test_loss, test_accuracy), then the log is closed."""
        if self.writer is not None:
            for key, value in (logs or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(key, value, 0)
            self.writer.close()
            self.writer = None
