"""The gradio app: serve a model locally, or bundle it as a Hugging Face Space.

    inv app [--model models/NAME] [--port 7860] [--share]
    inv app.bundle [--model models/NAME] [--title TITLE]     -> build/space/NAME/ (python build/space/NAME/app.py)
"""

from pathlib import Path

from invoke import Exit, task

from fastcourse.util import project_root, table

from ._opts import number

MODEL_HELP = "model folder made by inv train (default models/digits)"


def model_dir(model: str) -> Path:
    """The model folder, relative to the project unless absolute."""
    return project_root() / model


@task(name="serve", default=True, help={"model": MODEL_HELP, "port": "port on 127.0.0.1 (default 7860)",
                                         "share": "also create a temporary public gradio.live link"})
def serve(c, model="models/digits", port="7860", share=False):
    """Serve the model as a local gradio app on 127.0.0.1 (upload, webcam or paste an image)."""
    from fastcourse.app import make_app
    from fastcourse.deploy import example_images, model_config
    from fastcourse.predict import ModelError

    port = number(int, "port", port)
    folder = model_dir(model)
    try:
        app = make_app(folder, example_images(model_config(folder)))
    except ModelError as e:
        raise Exit(f"app: {e}")
    try:
        app.launch(server_name="127.0.0.1", server_port=port, share=share, prevent_thread_lock=True,
                   quiet=True)
    except OSError as e:
        raise Exit(f"app: cannot listen on 127.0.0.1:{port} ({e}) — pass another --port")
    print(f"app for {folder} running at {app.local_url}" + (f" and {app.share_url}" if app.share_url else ""),
          flush=True)
    app.block_thread()


@task(help={"model": MODEL_HELP, "title": "Space title (default: the model name)",
            "name": "bundle folder name under build/space/ (default: the model name)"})
def bundle(c, model="models/digits", title=None, name=None):
    """Build the Space folder build/space/NAME/ (app.py, portable model, examples, requirements, README)."""
    from fastcourse.deploy import DeployError, bundle as make_bundle, listing
    from fastcourse.predict import ModelError

    folder = model_dir(model)
    name = name or folder.name
    try:
        out = make_bundle(folder, project_root() / "build" / "space" / name, title or name)
    except (ModelError, DeployError) as e:
        raise Exit(f"bundle: {e}")
    print(table(listing(out)))
    print(f"bundle: {out}   (try it: python {out / 'app.py'})")
    return out
