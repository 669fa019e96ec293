"""Issue 30 item 2: the seeds' printed per-epoch logs, parsed once into seed_epochs.json (the
package reads that file, never ../shared), with the PDF-to-text quirks the seeds have."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mnistlab.reproduce import seedlogs

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"   # ../shared/seeds of the repository

# the quirks of the seeds' text: an epoch line broken across lines and a code fence (000, 003),
# Keras 2's `acc` with escaped underscores (001), and an evaluate line after the last epoch
QUIRKS = """model.fit(...)

Epoch 1/3

94/94 [=====] - 1s 13ms/step - loss: 0.1190 - accuracy:

0.9624 - val_loss: 0.0922 - val_accuracy: 0.9722
Epoch 2/3
469/469 [=====] - 1s 2ms/step - loss: 0.1717
```

```

- acc: 0.9499 - val\\_loss: 0.1574 - val\\_acc: 0.9527
Epoch 3/3
469/469 [=====] - 1s 2ms/step - loss: 0.0709
- accuracy: 0.9790 - val_loss: 0.0978 - val_accuracy: 0.9691
313/313 [=====] - 0s 919us/step - loss:
0.5000 - accuracy: 0.1000
"""


def test_the_quirks_of_the_seeds_text_parse():
    log, = seedlogs.parse(QUIRKS)
    assert log["epochs"] == 3 and log["first_line"] == 3
    assert log["log"] == [
        {"epoch": 1, "loss": 0.1190, "accuracy": 0.9624, "val_loss": 0.0922, "val_accuracy": 0.9722},
        {"epoch": 2, "loss": 0.1717, "accuracy": 0.9499, "val_loss": 0.1574, "val_accuracy": 0.9527},
        # the evaluate line's loss 0.5000 / accuracy 0.1000 come after the epoch's own numbers
        {"epoch": 3, "loss": 0.0709, "accuracy": 0.9790, "val_loss": 0.0978, "val_accuracy": 0.9691}]


def test_a_missing_number_or_a_skipped_epoch_is_an_error():
    with pytest.raises(ValueError, match="epoch 1/2 prints no val_accuracy"):
        seedlogs.parse("Epoch 1/2\n- loss: 0.1 - accuracy: 0.9 - val_loss: 0.2\nEpoch 2/2\n")
    line = "- loss: 0.1 - accuracy: 0.9 - val_loss: 0.2 - val_accuracy: 0.8\n"
    with pytest.raises(ValueError, match="epoch 3/3 out of order"):
        seedlogs.parse(f"Epoch 1/3\n{line}Epoch 3/3\n{line}")


def test_the_committed_logs_hold_every_printed_epoch():
    lengths = {(nb, row): len(seedlogs.seed_log(nb, row)["log"])
               for nb, rows in seedlogs.ROWS.items() for row in rows}
    assert lengths == {("000", "cnn"): 75, ("001", "keras-cnn"): 3, ("001", "elu-cnn"): 10,
                       ("003", "mlp-64-64"): 10, ("003", "cnn"): 10,
                       ("004", "bn-cnn"): 25, ("004", "resnet"): 25}
    assert seedlogs.seed_log("002", "cnn") is None  # 002 printed no epochs
    # numbers the seeds print elsewhere too: 000's last epoch is its "Train loss / accuracy",
    # 004's last training losses are the ones its closing cell compares
    assert seedlogs.seed_log("000", "cnn")["log"][-1]["loss"] == 0.0519
    assert seedlogs.seed_log("000", "cnn")["log"][-1]["accuracy"] == 0.9828
    assert seedlogs.seed_log("004", "bn-cnn")["log"][0]["val_accuracy"] == 0.3957
    assert [seedlogs.seed_log("004", r)["log"][-1]["loss"] for r in ("bn-cnn", "resnet")] == [0.2965, 0.5955]
    entry = seedlogs.seed_log("001", "keras-cnn")
    assert entry["seed_file"].startswith("001_") and entry["first_line"] > 0
    assert [tuple(e[k] for k in seedlogs.KEYS) for e in entry["log"]] == [
        (0.4280, 0.8660, 0.1187, 0.9652), (0.1306, 0.9605, 0.0901, 0.9714),
        (0.0941, 0.9714, 0.0641, 0.9823)]


def test_seed_log_hands_out_a_copy():
    seedlogs.seed_log("003", "cnn")["log"].clear()
    assert len(seedlogs.seed_log("003", "cnn")["log"]) == 10


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed notebooks' text (../shared/seeds) is not here")
def test_the_committed_file_is_what_the_seeds_parse_to():
    committed = json.loads(seedlogs.DATA.read_text())
    assert seedlogs.parse_seeds(SEEDS) == committed
