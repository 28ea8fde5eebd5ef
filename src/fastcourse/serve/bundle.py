"""A model as a Hugging Face Space folder (`inv app.bundle`): app.py, the portable model, example images,
requirements pinned for the Space's Python, the card; and the check that it runs from a clean virtualenv."""

from __future__ import annotations

import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

from ..console import human_bytes
from ..errors import DeployError
from ..paths import remove_tree

PKG = Path(__file__).resolve().parents[1]  # src/fastcourse
APP_REQUIREMENTS = ["gradio", "onnxruntime", "numpy", "pillow"]  # what app.py needs: no torch, no fastai
SPACE_MODULES = ("errors.py", "images.py", "predict.py", "schema.py")  # the part of fastcourse a Space runs
EXAMPLES_PER_CLASS = 2


def model_config(model_dir: Path) -> dict:
    """The training config saved beside a model (empty for a model exported elsewhere), checked."""
    from ..schema import config

    return config(model_dir)


def example_images(config: dict, kind: str = "classifier", per_class: int = EXAMPLES_PER_CLASS) -> list[Path]:
    """A few images from the dataset the model was trained on: per class (classifier), or the first few images
    (segmenter); none for tabular and collab models (their apps make an example from the model itself)."""
    data = Path(config.get("data", ""))
    if kind == "segmenter" and (data / "images").is_dir():
        return sorted(f for f in (data / "images").iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))[:2]
    if kind != "classifier" or not data.is_dir():
        return []
    out = []
    for cls in sorted(d for d in data.iterdir() if d.is_dir()):
        out += sorted(f for f in cls.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))[:per_class]
    return out


def example_call(model, examples: list[str]) -> dict:
    """What the Space check sends to /predict: {"args": [...], "files": [indexes of args that are files]}."""
    if model.kind in ("classifier", "segmenter"):
        return {"args": [f"examples/{examples[0]}"], "files": [0]}
    if model.kind == "tabular":
        return {"args": [c["values"][0] if c["kind"] == "category" else c["median"]
                         for c in model.spec["columns"].values()], "files": []}
    return {"args": [model.spec["users"][1], model.spec["items"][1]], "files": []}


def bundle(model_dir: Path, dest: Path, title: str, examples: list[Path] = ()) -> Path:
    """Write the Space into `dest`: app.py, the portable model, examples (given, else from the training data),
    requirements, README. An image model with no example gets a plain image for the check alone (hidden)."""
    from ..predict import load

    model = load(model_dir)  # fails here, clearly, on a missing or broken model
    config = model_config(model_dir)
    owner = dest.parent  # build/space/: the only folder a bundle may replace things in
    tmp = owner / f".{dest.name}.tmp"
    remove_tree(tmp, owner)
    (tmp / "model").mkdir(parents=True)
    (tmp / "fastcourse" / "serve").mkdir(parents=True)
    (tmp / "examples").mkdir()
    shutil.copy(Path(__file__).with_name("app.py"), tmp / "app.py")
    for module in SPACE_MODULES:
        shutil.copy(PKG / module, tmp / "fastcourse" / module)
    shutil.copy(Path(__file__).with_name("interfaces.py"), tmp / "fastcourse" / "serve" / "interfaces.py")
    (tmp / "fastcourse" / "__init__.py").write_text('"""The part of fastcourse a Space needs."""\n')
    (tmp / "fastcourse" / "serve" / "__init__.py").write_text('"""The Space\'s gradio interfaces."""\n')
    for name in ("model.onnx", "model.json"):
        shutil.copy(model_dir / name, tmp / "model" / name)
    names = []
    for img in list(examples) or example_images(config, model.kind):
        names.append(f"{img.parent.name}-{img.name}")
        shutil.copy(img, tmp / "examples" / names[-1])
    if model.kind in ("classifier", "segmenter") and not names:  # e.g. a notebook's model.pkl: no dataset known
        from PIL import Image

        Image.new("RGB", (64, 64), (128, 128, 128)).save(tmp / "examples" / ".check.png")
        names.append(".check.png")
    (tmp / "examples" / "example.json").write_text(json.dumps(example_call(model, names)))
    (tmp / "requirements.txt").write_text("".join(f"{p}=={metadata.version(p)}\n" for p in APP_REQUIREMENTS))
    (tmp / "README.md").write_text(readme(title, model_dir, model))
    remove_tree(dest, owner)  # replace the previous bundle only once the new one is complete
    tmp.rename(dest)
    return dest


KIND_WORDS = {"classifier": "An image classifier", "segmenter": "A segmentation model (a class for every pixel)",
              "tabular": "A tabular classifier", "collab": "A collaborative-filtering (rating) model"}


def readme(title: str, model_dir: Path, model) -> str:
    """The Space card: front matter Spaces reads, then what it runs: task, classes or columns, the validation
    metric, the versions it was trained with, and the date."""
    import time

    from ..schema import HEADLINES, read_json

    metrics = read_json(model_dir / "metrics.json") if (model_dir / "metrics.json").exists() else {}
    config = model_config(model_dir)
    versions = metrics.get("versions") or config.get("versions") or {}
    score = next((f"{label} {fmt.format(metrics[k])} on {metrics.get('valid_items', '?')} validation items"
                  for k, label, fmt in HEADLINES if isinstance(metrics.get(k), (int, float))), "not measured")
    spec = model.spec
    if model.kind == "tabular":
        what = f"predicts {spec.get('target')} ({', '.join(spec['classes'])}) from {', '.join(spec['columns'])}"
    elif model.kind == "collab":
        what = f"rates {len(spec['items']) - 1} items for {len(spec['users']) - 1} users"
    else:
        what = f"classes: {', '.join(spec['classes'])}"
    trained = ", ".join(f"{p} {v}" for p, v in versions.items() if p in ("fastai", "torch", "torchvision"))
    when = time.strftime("%Y-%m-%d", time.localtime((model_dir / "model.onnx").stat().st_mtime))
    return (f"---\ntitle: {title}\nemoji: 🐦\ncolorFrom: blue\ncolorTo: green\nsdk: gradio\n"
            f"sdk_version: {metadata.version('gradio')}\npython_version: \"{space_python()}\"\napp_file: app.py\n"
            "license: apache-2.0\npinned: false\n"
            f"tags:\n- fastcourse\n- {config.get('task', model.kind)}\n---\n\n"
            f"# {title}\n\n{KIND_WORDS[model.kind]} trained with fastcourse (fast.ai's Practical Deep Learning "
            f"for Coders): {what}.\n\n- task: {config.get('task', model.kind)}\n- validation: {score}\n"
            f"- trained with: {trained or 'unknown versions'}, on {when}\n"
            "- runs the exported ONNX model with onnxruntime (no torch, no fastai in the Space)\n")


def space_python() -> str:
    """The Python the bundle's requirements are pinned for: this one (the lock resolved them for it)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def check(folder: Path, port: int = 0) -> dict:
    """The bundle resolves for the Space's Python on Linux x86_64 and answers from a clean virtualenv."""
    from . import spacecheck

    problem = spacecheck.resolves(folder)
    if problem:
        raise DeployError(f"{folder}/requirements.txt does not resolve for Python {spacecheck.pinned_python(folder)} "
                          f"on Linux x86_64 ({problem}) — the Space would not build")
    return spacecheck.self_contained(folder, port)


def listing(folder: Path) -> list[dict]:
    """Files of a bundle with their sizes, for --dry-run."""
    return [{"file": p.relative_to(folder).as_posix(), "size": human_bytes(p.stat().st_size)}
            for p in sorted(folder.rglob("*")) if p.is_file()]
