"""Every kind of model the kit trains as a portable folder: model.onnx (runs with onnxruntime: no torch, no
fastai, no pickle) and model.json (what inference must do around it, checked by fastcourse.schema).

- classifier: an image model's Resize and Normalize, its classes;
- segmenter: the U-Net at its training size, the codes of its classes;
- tabular: Categorify's categories, FillMissing's fill values, Normalize's means and stds, the form's columns;
- collab: the user and item ids, in the model's order, and the rating range.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

FORMAT = "fastcourse-portable/2"


def export(learn, out: Path, task: str) -> dict:
    """Write model.onnx and model.json of `learn` (trained for `task`) into `out`; returns the spec."""
    from ..fileio import atomic_write_text, atomic_write_with

    spec, net, inputs = {"vision": classifier, "segment": segmenter, "tabular": tabular, "collab": collab}[task](learn)
    atomic_write_with(out / "model.onnx", lambda tmp: to_onnx(net, inputs, spec["inputs"], tmp))
    atomic_write_text(out / "model.json", json.dumps({"format": FORMAT, **spec}, indent=2))
    return spec


def _image_norm(learn) -> tuple[list[float], list[float]]:
    """The Normalize of an image model's batches (vision_learner adds ImageNet's), else the identity."""
    from fastai.vision.all import Normalize

    norm = next((t for t in learn.dls.after_batch if isinstance(t, Normalize)), None)
    if norm is None:
        return [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    return [float(v) for v in norm.mean.flatten()], [float(v) for v in norm.std.flatten()]


def classifier(learn):
    """An image classifier: its validation Resize (size, method, padding) and Normalize, then softmax."""
    import torch
    from fastai.vision.all import Resize

    resize = next(t for t in learn.dls.after_item if isinstance(t, Resize))
    mean, std = _image_norm(learn)
    size = [int(resize.size[1]), int(resize.size[0])]  # height, width
    spec = {"kind": "classifier", "classes": [str(c) for c in learn.dls.vocab], "size": size,
            "resize": str(resize.method).lower(), "pad_mode": str(resize.pad_mode).lower(), "mean": mean, "std": std,
            "inputs": ["image"], "input": "RGB, HWC uint8 -> CHW float / 255, normalized",
            "output": "class probabilities (softmax)"}
    net = torch.nn.Sequential(plain_pooling(_cpu(learn.model)), torch.nn.Softmax(dim=1))
    return spec, net, (torch.zeros(2, 3, *size),)


def segmenter(learn):
    """A U-Net at its training image size: per-pixel class probabilities."""
    import torch

    x = learn.dls.one_batch()[0]
    size = [int(x.shape[-2]), int(x.shape[-1])]
    mean, std = _image_norm(learn)
    codes = getattr(learn, "_fc_codes", None) or next((t.codes for t in learn.dls.after_item
                                                       if getattr(t, "codes", None) is not None), None)
    if codes is None:
        with torch.no_grad():
            codes = range(_cpu(learn.model)(x[:1].float().cpu()).shape[1])
    codes = [str(c) for c in codes]
    spec = {"kind": "segmenter", "classes": codes, "size": size, "mean": mean, "std": std, "inputs": ["image"],
            "input": "RGB resized to size (squish), CHW float / 255, normalized",
            "output": "per-pixel class probabilities (softmax over classes)"}
    net = torch.nn.Sequential(_cpu(learn.model), torch.nn.Softmax(dim=1))
    return spec, net, (torch.zeros(2, 3, *size),)


def tabular(learn):
    """A tabular classifier and its preprocessing: categories, fill values, means and stds, and for a form the
    columns' kinds and ranges (from the training rows)."""
    import torch

    procs, train = learn.dls.procs, learn.dls.train.items
    cats = {c: [str(v) for v in procs.categorify.classes[c]] for c in learn.dls.cat_names}
    fill = {c: float(v) for c, v in procs.fill_missing.na_dict.items()}
    means = {c: float(procs.normalize.means[c]) for c in learn.dls.cont_names}
    stds = {c: float(procs.normalize.stds[c]) for c in learn.dls.cont_names}
    columns = {c: {"kind": "category", "values": v[1:]} for c, v in cats.items() if not c.endswith("_na")}
    for c in learn.dls.cont_names:
        raw = train[c] * stds[c] + means[c]
        columns[c] = {"kind": "number", "min": round(float(raw.min()), 4), "max": round(float(raw.max()), 4),
                      "median": round(float(raw.median()), 4)}
    spec = {"kind": "tabular", "classes": [str(c) for c in learn.dls.vocab], "target": learn.dls.y_names[0],
            "cat_names": list(learn.dls.cat_names), "cont_names": list(learn.dls.cont_names), "categories": cats,
            "fill": fill, "means": means, "stds": stds, "columns": columns, "inputs": ["x_cat", "x_cont"],
            "output": "class probabilities (softmax)"}
    net = _Softmax(_cpu(learn.model))
    n_cat, n_cont = len(spec["cat_names"]), len(spec["cont_names"])
    return spec, net, (torch.zeros(2, n_cat, dtype=torch.long), torch.zeros(2, n_cont))


def collab(learn):
    """A collaborative-filtering model: the ids it knows, in its order, and the range of its ratings."""
    import torch

    classes = learn.dls.classes
    spec = {"kind": "collab", "users": [str(u) for u in classes["user"]], "items": [str(i) for i in classes["item"]],
            "y_range": [float(v) for v in getattr(learn.model, "y_range", None) or (0.0, 5.0)],
            "inputs": ["pairs"], "output": "predicted rating of each (user index, item index) pair"}
    return spec, _cpu(learn.model), (torch.ones(2, 2, dtype=torch.long),)


def _cpu(model):
    """A float32 CPU copy of `model` in evaluation mode (the learner's own is left as it is)."""
    import copy

    return copy.deepcopy(model).float().cpu().eval()


def _Softmax(model):
    """`model(x_cat, x_cont)` followed by a softmax over classes."""
    import torch

    class WithSoftmax(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x_cat, x_cont):
            return torch.softmax(self.inner(x_cat, x_cont), dim=1)

    return WithSoftmax(model)


def plain_pooling(model):
    """Swap fastai's AdaptiveConcatPool2d(1) for the same max+mean in ops every ONNX exporter knows."""
    import torch
    from fastai.layers import AdaptiveConcatPool2d

    class GlobalConcatPool(torch.nn.Module):
        def forward(self, x):
            return torch.cat([x.amax((2, 3), keepdim=True), x.mean((2, 3), keepdim=True)], 1)

    for name, child in model.named_children():
        if isinstance(child, AdaptiveConcatPool2d) and child.size in (1, (1, 1), None):
            setattr(model, name, GlobalConcatPool())
        else:
            plain_pooling(child)
    return model


def to_onnx(net, inputs: tuple, names: list[str], path: Path) -> None:
    """Export `net` to ONNX with a dynamic batch dimension on every input: torch.export first; where it cannot
    trace fastai's code (the U-Net sets attributes on tensors), the TorchScript exporter."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=4096)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            prog = torch.onnx.export(net.eval(), inputs, input_names=names, output_names=["output"],
                                     dynamic_shapes=tuple({0: batch} for _ in inputs), dynamo=True, verbose=False)
            prog.save(str(path))
        except Exception:  # torch.onnx's TorchExportError and what torch.export raises inside it
            axes = {n: {0: "batch"} for n in [*names, "output"]}
            torch.onnx.export(net.eval(), inputs, str(path), input_names=names, output_names=["output"],
                              dynamic_axes=axes, dynamo=False, opset_version=17)
