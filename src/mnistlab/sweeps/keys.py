"""Sweep and tuning keys: where a swept value lands in a recipe.

A key is written the way `mnistlab train --set` writes one, with two additions:

    optimizer.lr                         a dotted path; list items by index: model.layers.3.l2
    model.layers.*.l2                    `*`: every list item (or dict value) that already
                                         has the rest of the path -- notebook 003 puts the
                                         same L2 factor on each hidden Dense layer, so the
                                         base spec marks those layers with `l2: 0`
    model.layers.1.l2, model.layers.2.l2 comma-separated paths: each gets the same value

When a key reaches into `model` and the recipe names a zoo model, the zoo spec is
inlined first so its layers can be addressed.
"""
from __future__ import annotations

import copy
from typing import Any

from mnistlab.errors import MnistlabError, did_you_mean

Path = tuple  # a concrete path: str keys and int list indices


def _split(key: str) -> list[str]:
    parts = [p.strip() for p in str(key).split(",")]
    if not all(parts) or any(not all(s for s in p.split(".")) for p in parts):
        raise MnistlabError(f"bad sweep key '{key}': write dotted keys like optimizer.lr or "
                            "model.layers.*.l2, several separated by commas")
    return parts


def _walk(node: Any, parts: list[str], done: tuple, key: str, wild: bool) -> list[Path]:
    """All concrete paths matching `parts` below `node`; `done` is the path so far."""
    if not parts:
        return [done]
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(node, list):
            items = list(enumerate(node))
        elif isinstance(node, dict):
            items = list(node.items())
        else:
            return []
        found: list[Path] = []
        for k, child in items:
            found += _walk(child, rest, done + (k,), key, True)
        return found
    if isinstance(node, list):
        if not head.lstrip("-").isdigit() or not -len(node) <= int(head) < len(node):
            if wild:
                return []
            raise MnistlabError(f"sweep key '{key}': '{'.'.join(map(str, done))}' is a list of "
                                f"{len(node)} items; use an index 0..{len(node) - 1} or '*'")
        i = int(head) % len(node)
        return _walk(node[i], rest, done + (i,), key, wild)
    if isinstance(node, dict):
        if head not in node:
            if wild:  # a wildcard only matches items that already have the key
                return []
            if rest:  # a missing section: created on assignment, the recipe check names typos
                return [done + (head,) + tuple(rest)]
            return [done + (head,)]
        return _walk(node[head], rest, done + (head,), key, wild)
    if wild:
        return []
    raise MnistlabError(f"sweep key '{key}': '{'.'.join(map(str, done))}' is a value "
                        f"({node!r}), not a section, so it has no '{head}'")


def _inline_model(recipe: dict) -> None:
    """Replace a zoo name (or spec file path) by the spec it names, as written there, so
    that keys can reach into its layers."""
    if isinstance(recipe.get("model"), str):
        from mnistlab.models.spec import load_named  # zoo name or YAML path -> raw spec

        recipe["model"] = copy.deepcopy(load_named(recipe["model"]))


def resolve(key: str, recipe: dict) -> list[Path]:
    """The concrete paths a (possibly wildcard or comma) key stands for in `recipe`."""
    paths: list[Path] = []
    for part in _split(key):
        steps = part.split(".")
        if steps[0] == "model" and len(steps) > 1:
            _inline_model(recipe)
        found = _walk(recipe, steps, (), key, False)
        if not found:
            hint = did_you_mean(steps[-1], _all_keys(recipe))
            raise MnistlabError(f"sweep key '{part}' matches nothing in the recipe{hint}; a '*' "
                                "only matches items that already have the key (e.g. mark the "
                                "layers to regularise with `l2: 0` in the base spec)")
        paths += found
    return paths


def _all_keys(node: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            keys.add(str(k))
            keys |= _all_keys(v)
    elif isinstance(node, list):
        for v in node:
            keys |= _all_keys(v)
    return keys


def set_path(recipe: dict, path: Path, value: Any) -> None:
    """Set one concrete path. List items are stepped into here; the dotted dict part after
    the last list index is set by the recipe's own `--set` logic (train.recipe.set_dotted),
    which creates missing sections."""
    from mnistlab.train.recipe import set_dotted

    last_index = max((i for i, step in enumerate(path) if isinstance(step, int)), default=-1)
    node = recipe
    for step in path[:last_index + 1]:
        node = node[step]
    rest = path[last_index + 1:]
    if not rest:  # the path ends on a list item: replace it
        parent = recipe
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = copy.deepcopy(value)
        return
    if not isinstance(node, dict):
        raise MnistlabError(f"cannot set '{'.'.join(map(str, path))}': "
                            f"item {path[last_index]} is {node!r}, not a mapping")
    set_dotted(node, ".".join(map(str, rest)), copy.deepcopy(value))


def apply(recipe: dict, values: dict[str, Any]) -> dict:
    """A copy of `recipe` with every key of `values` set (wildcards and commas expanded)."""
    out = copy.deepcopy(recipe)
    for key, value in values.items():
        for path in resolve(key, out):
            set_path(out, path, value)
    return out
