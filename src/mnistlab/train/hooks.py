"""Old import path of the callback base and TensorBoard (kept for code written against it):
the protocol is train/callback.py, TensorBoard train/tensorboard.py."""
from mnistlab.train.callback import Callback  # noqa: F401
from mnistlab.train.tensorboard import TensorBoard  # noqa: F401
