"""Keras-style summary of any torch nn.Module (the user's own model), via forward hooks.

Forward hooks rather than torchinfo: one dummy forward pass with a hook on every leaf
module gives the output shape and parameters of each layer in call order, which is all the
table needs; it adds no dependency and returns the same Summary object (table in a
terminal, HTML in Jupyter) as the zoo's specs. Shapes are torch's (C, H, W), not Keras'.
"""
from __future__ import annotations

from mnistlab.errors import MnistlabError
from mnistlab.models.table import LayerRow, Summary


class ModuleSummary(Summary):
    # no @dataclass here: it adds no fields, and re-decorating would give the subclass a
    # generated __repr__ (a field dump) in place of Summary's Keras table
    def __str__(self) -> str:
        head = ("Layer (type)", "Output Shape", "Param #", "MACs")
        cells = [(f"{r.name} ({r.type})", "(None, " + ", ".join(map(str, r.output_shape)) + ")",
                  f"{r.params:,}", f"{r.macs:,}") for r in self.layers]
        widths = [max(len(c[j]) for c in [head, *cells]) + 2 for j in range(4)]
        line = lambda c: (" " + c[0].ljust(widths[0]) + c[1].ljust(widths[1]) + c[2].ljust(widths[2])
                          + c[3].rjust(widths[3] - 2)).rstrip()
        rule = sum(widths) + 1
        out = [f'Model: "{self.name}" (torch module; shapes are (C, H, W))', "_" * rule, line(head), "=" * rule]
        out += [line(c) for c in cells]
        out += ["=" * rule, f"Total params: {self.total:,}", f"Trainable params: {self.trainable:,}",
                f"Non-trainable params: {self.non_trainable:,}", f"Total MACs: {self.macs:,}", "_" * rule]
        return "\n".join(out)


def _macs(module, out) -> int:
    import torch.nn as nn
    if isinstance(module, nn.Conv2d):
        k = module.weight[0].numel()  # in/groups * kh * kw
        return int(out.numel() // out.shape[0] * k)
    if isinstance(module, nn.Linear):
        return int(out.numel() // out.shape[0] * module.in_features)
    return 0


def module_summary(model, input_shape=(1, 28, 28), name: str | None = None) -> ModuleSummary:
    """One row per leaf module in the order the forward pass calls it (input_shape: C, H, W)."""
    import torch

    if isinstance(model, type):
        model = model()
    if not isinstance(model, torch.nn.Module):
        raise MnistlabError(f"summary() needs a zoo name, a spec or a torch nn.Module, not {type(model).__name__}")
    rows, seen, counted, hooks = [], {}, set(), []

    def hook(module, inputs, out):
        if not isinstance(out, torch.Tensor):
            return
        cls = type(module).__name__
        n = seen.get(cls, 0)
        seen[cls] = n + 1
        own = [p for p in module.parameters(recurse=False) if id(p) not in counted]
        counted.update(id(p) for p in own)
        trainable = sum(p.numel() for p in own if p.requires_grad)
        frozen = sum(p.numel() for p in own if not p.requires_grad)
        frozen += sum(b.numel() for b in module.buffers(recurse=False) if b.is_floating_point())
        rows.append(LayerRow(len(rows), cls.lower() if n == 0 else f"{cls.lower()}_{n}", cls,
                             tuple(out.shape[1:]), trainable + frozen, trainable, frozen, _macs(module, out)))

    for m in model.modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    try:
        device = next(model.parameters(), torch.empty(0)).device
        with torch.no_grad():
            model.eval()(torch.zeros((1, *input_shape), device=device))
    except Exception as err:  # the user's module: say what shape was tried, in one line
        raise MnistlabError(f"the model's forward pass failed on a zeros input of shape (1, "
                            f"{', '.join(map(str, input_shape))}): {type(err).__name__}: "
                            f"{str(err).splitlines()[0] if str(err) else ''}; pass input_shape=(C, H, W)") from None
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    rest = [p for p in model.parameters() if id(p) not in counted]
    if rest:  # parameters used outside any leaf module (e.g. an nn.Parameter on the model)
        t = sum(p.numel() for p in rest if p.requires_grad)
        f = sum(p.numel() for p in rest if not p.requires_grad)
        rows.append(LayerRow(len(rows), "(other parameters)", "Parameter", (), t + f, t, f, 0))
    return ModuleSummary(name or type(model).__name__, tuple(input_shape), rows)
