"""The gradio interface of each kind of portable model, guarded as `inv predict` is: the same decompression
limit and image checks, and a bad upload answered with one line (a gradio error), never a traceback.
A Space bundle carries this file beside app.py."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..errors import DataError
from ..images import MAX_PIXELS, open_image
from ..predict import PortableModel


def refuse(message: str):
    """A gradio error shown to the caller, with no traceback in the terminal."""
    return gr.Error(message, print_exception=False)


def image_input(label: str = "image") -> gr.Image:
    """An image input that hands over the uploaded file's path; what gradio cannot open is one line."""
    component = gr.Image(type="filepath", sources=["upload", "webcam", "clipboard"], label=label)
    preprocess = component.preprocess

    def guarded(payload):
        try:
            return preprocess(payload)
        except Exception as e:  # PIL's errors for a non-image or a bomb, from gradio's own check
            if "DecompressionBomb" in type(e).__name__:
                raise refuse(f"the upload has more than {MAX_PIXELS // 1_000_000} megapixels — send a smaller "
                             "image") from None
            raise refuse("the upload is not an image that can be read — send a JPEG, PNG or WebP") from None

    component.preprocess = guarded
    return component


def read_upload(path):
    """The uploaded image, decoded within the pixel limit; a gradio error otherwise."""
    if path is None:
        raise refuse("no image — upload one, take one with the webcam or paste one")
    try:
        return open_image(path, name="the upload")
    except DataError as e:
        raise refuse(str(e)) from None


def classifier(model: PortableModel, examples=()) -> gr.Interface:
    """Image in, class probabilities out."""
    return gr.Interface(
        fn=lambda path: model.predict([read_upload(path)])[0]["probs"], api_name="predict",
        inputs=image_input(), outputs=gr.Label(num_top_classes=min(5, len(model.classes)), label="prediction"),
        examples=[[str(e)] for e in examples] or None, flagging_mode="never",
        title=f"Is it a {' or a '.join(model.classes[:3])}?")


def make_app(model_dir, examples=()) -> gr.Interface:
    """The interface for the portable model in `model_dir`."""
    return classifier(PortableModel(Path(model_dir)), examples)
