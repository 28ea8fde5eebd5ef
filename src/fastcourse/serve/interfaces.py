"""The gradio interface of each kind of portable model — an image classifier, a segmentation model (the mask
over the image, a legend of its classes), a tabular model (a form), a collab model (user and item) — guarded
as `inv predict` is: the same decompression limit and image checks, and a bad input answered with one line
(a gradio error), never a traceback. A Space bundle carries this file beside app.py."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..errors import DataError
from ..images import MAX_PIXELS, PALETTE, open_image
from ..predict import load


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


def classifier(model, examples=()) -> gr.Interface:
    """Image in, class probabilities out."""
    return gr.Interface(
        fn=lambda path: model.predict([read_upload(path)])[0]["probs"], api_name="predict",
        inputs=image_input(), outputs=gr.Label(num_top_classes=min(5, len(model.classes)), label="prediction"),
        examples=[[str(e)] for e in examples] or None, flagging_mode="never",
        title=f"Is it a {' or a '.join(model.classes[:3])}?")


def segmenter(model, examples=()) -> gr.Interface:
    """Image in, the mask over it out, with a legend of its classes (background left clear)."""
    colours = {c: "#%02x%02x%02x" % PALETTE[i % len(PALETTE)] for i, c in enumerate(model.classes)}

    def segment(path):
        image = read_upload(path)
        mask = model.masks([image])[0]
        return image, [(mask == i, c) for i, c in enumerate(model.classes) if i > 0 and (mask == i).any()]

    return gr.Interface(fn=segment, api_name="predict", inputs=image_input(),
                        outputs=gr.AnnotatedImage(label="mask", color_map=colours),
                        examples=[[str(e)] for e in examples] or None, flagging_mode="never",
                        title=f"Segmentation: {', '.join(model.classes)}")


def tabular(model, examples=()) -> gr.Interface:
    """A form with one input per column (its kind and range from training), the class probabilities out."""
    columns = model.spec["columns"]
    inputs = [gr.Dropdown(choices=c["values"], value=c["values"][0], label=name) if c["kind"] == "category" else
              gr.Number(value=c["median"], label=f"{name} (trained on {c['min']:g} to {c['max']:g})")
              for name, c in columns.items()]

    def classify(*values):
        try:
            return model.predict([dict(zip(columns, values))])[0]["probs"]
        except DataError as e:
            raise refuse(str(e)) from None

    example = [c["values"][0] if c["kind"] == "category" else c["median"] for c in columns.values()]
    return gr.Interface(fn=classify, api_name="predict", inputs=inputs, examples=[example], flagging_mode="never",
                        outputs=gr.Label(num_top_classes=min(5, len(model.spec["classes"])), label=model.spec["target"]),
                        title=f"Predict {model.spec['target']}")


def collab(model, examples=()) -> gr.Interface:
    """A user and an item (the ids the model knows), the predicted rating and that user's top items out."""
    users, items = model.spec["users"][1:], model.spec["items"][1:]

    def rate(user, item):
        try:
            return float(model.ratings([(user, item)])[0]), [[i, round(r, 3)] for i, r in model.top(user, 5)]
        except DataError as e:
            raise refuse(str(e)) from None

    return gr.Interface(fn=rate, api_name="predict", flagging_mode="never",
                        inputs=[gr.Dropdown(choices=users, value=users[0], label="user"),
                                gr.Dropdown(choices=items, value=items[0], label="item")],
                        outputs=[gr.Number(label="predicted rating"),
                                 gr.Dataframe(headers=["item", "predicted rating"], label="top items for this user")],
                        examples=[[users[0], items[0]]], title="What would this user rate it?")


def make_app(model_dir, examples=()) -> gr.Interface:
    """The interface for the portable model in `model_dir`, whatever its kind."""
    model = load(Path(model_dir))
    return {"classifier": classifier, "segmenter": segmenter, "tabular": tabular, "collab": collab}[model.kind](
        model, examples)
