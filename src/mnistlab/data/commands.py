"""`mnistlab data info` and `mnistlab data show` (thin wrappers over mnistlab.data)."""
from __future__ import annotations


def register(sub, common) -> None:
    p = sub.add_parser("data", parents=[common], help="inspect datasets (built-in or your own files)")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    info = dsub.add_parser("info", parents=[common],
                           help="sizes, per-class counts, pixel mean/std and checksum status")
    info.add_argument("dataset", metavar="NAME_OR_PATH",
                      help="mnist, fashion-mnist, kmnist, or a file/folder (IDX, .npz, .npy, .csv, images)")
    info.add_argument("--allow-pickle", action="store_true",
                      help="allow a pickled .npy dict (pickle can execute code: trusted files only)")
    info.set_defaults(func=cmd_info)

    show = dsub.add_parser("show", parents=[common], help="save a PNG grid of the first N images with labels")
    show.add_argument("dataset", metavar="NAME_OR_PATH")
    show.add_argument("--n", type=int, default=200, help="number of images (default 200)")
    show.add_argument("--cols", type=int, default=20, help="images per row (default 20: 200 -> 10x20)")
    show.add_argument("--split", choices=["train", "test"], default="train")
    show.add_argument("--out", default="grid.png", help="PNG file to write (default grid.png)")
    show.add_argument("--allow-pickle", action="store_true",
                      help="allow a pickled .npy dict (pickle can execute code: trusted files only)")
    show.set_defaults(func=cmd_show)


def format_info(d: dict) -> str:
    h, w, c = d["image_shape"]
    lines = [f"{d['name']}  ({d['source']})",
             f"  images:  {d['train']:,} train, {d['test']:,} test, {h}x{w}x{c} uint8",
             f"  pixels:  mean {d['pixel_mean']:.4f}, std {d['pixel_std']:.4f} "
             f"(train, 0..1 scale; x255: {d['pixel_mean'] * 255:.2f}, {d['pixel_std'] * 255:.2f})",
             f"  classes: {len(d['classes'])}"]
    width = max(5, *(len(c) for c in d["classes"]))
    header = f"    {'label':>5}  {'class':<{width}}  {'train':>7}"
    lines.append(header + (f"  {'test':>7}" if d["test_counts"] is not None else ""))
    for k, name in enumerate(d["classes"]):
        row = f"    {k:>5}  {name:<{width}}  {d['train_counts'][k]:>7,}"
        if d["test_counts"] is not None:
            row += f"  {d['test_counts'][k]:>7,}"
        lines.append(row)
    if d["checksums"]:
        lines.append("  checksums:")
        lines += [f"    {f}: {s}" for f, s in d["checksums"].items()]
    else:
        lines.append("  checksums: none (your own data: structure and values checked)")
    return "\n".join(lines)


def cmd_info(args) -> int:
    from mnistlab.data import load_dataset
    from mnistlab.data.info import describe

    print(format_info(describe(load_dataset(args.dataset, allow_pickle=args.allow_pickle))))
    return 0


def cmd_show(args) -> int:
    from mnistlab.data import load_dataset
    from mnistlab.data.images import save_grid
    from mnistlab.errors import MnistlabError

    if args.n < 1 or args.cols < 1:
        raise MnistlabError("--n and --cols must be at least 1")
    ds = load_dataset(args.dataset, allow_pickle=args.allow_pickle)
    x, y = (ds.x_train, ds.y_train) if args.split == "train" else (ds.x_test, ds.y_test)
    if x is None:
        raise MnistlabError(f"{ds.name} has no test set; use --split train")
    n = min(args.n, len(x))
    path = save_grid(x[:n], [ds.classes[i] for i in y[:n].tolist()], args.out, cols=args.cols,
                     title=f"{ds.name}: first {n} {args.split} images")
    print(f"wrote {path} ({n} images)")
    return 0
