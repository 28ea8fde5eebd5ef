"""The gradio app: serve a model locally, or bundle it as a Hugging Face Space.

    inv app [--model models/NAME] [--port 7860] [--share]
    inv app.bundle [--model models/NAME] [--title TITLE]     -> build/space/NAME/ (python build/space/NAME/app.py)
"""

from pathlib import Path

from fastcourse.errors import UserError
from fastcourse.console import table
from fastcourse.paths import project_root, space_dir

from ._opts import number, task

MODEL_HELP = "model folder made by inv train (default models/digits)"


def model_dir(model: str) -> Path:
    """The model folder, relative to the project unless absolute."""
    return project_root() / model


@task(name="serve", default=True, help={"model": MODEL_HELP, "port": "port on 127.0.0.1 (default 7860)",
                                         "share": "also create a temporary public gradio.live link"})
def serve(c, model="models/digits", port="7860", share=False):
    """Serve the model as a local gradio app on 127.0.0.1 (upload, webcam or paste an image)."""
    from fastcourse.serve.interfaces import make_app
    from fastcourse.serve.bundle import example_images, model_config

    port = number(int, "port", port, 1, 65535)
    folder = model_dir(model)
    app = make_app(folder, example_images(model_config(folder)))
    try:
        app.launch(server_name="127.0.0.1", server_port=port, share=share, prevent_thread_lock=True,
                   quiet=True)
    except OSError as e:
        raise UserError(f"app: cannot listen on 127.0.0.1:{port} ({e}) — pass another --port")
    print(f"app for {folder} running at {app.local_url}" + (f" and {app.share_url}" if app.share_url else ""),
          flush=True)
    app.block_thread()


@task(help={"model": MODEL_HELP, "title": "Space title (default: the model name)",
            "name": "bundle folder name under build/space/ (default: the model name)",
            "check": "prove it self-contained: resolve its requirements for the Space's Python, run it from a "
                     "clean virtualenv and ask it about an example image",
            "port": "port for --check's app (default: a free one)"})
def bundle(c, model="models/digits", title=None, name=None, check=False, port="0"):
    """Build the Space folder build/space/NAME/ (app.py, portable model, examples, requirements, README)."""
    from fastcourse.serve.bundle import bundle as make_bundle, listing

    folder = model_dir(model)
    name = name or folder.name
    out = make_bundle(folder, space_dir(project_root(), name), title or name)
    print(table(listing(out)))
    print(f"bundle: {out}   (try it: python {out / 'app.py'})")
    if check:
        check_bundle(out, number(int, "port", port, 0, 65535))
    return out


def check_bundle(folder: Path, port: int = 0) -> None:
    """Run the self-containment check and print what it found."""
    from fastcourse.serve.bundle import check

    print("checking the bundle in a clean virtualenv made from its requirements.txt alone ...", flush=True)
    r = check(folder, port)
    print(f"check: Python {r['python']}, {r['example']} -> {r['label']}, first answer after {r['first_answer_s']} s "
          f"(venv {r['venv']})")

