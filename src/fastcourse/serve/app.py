"""Gradio app for a fastcourse model; the same file runs locally (`inv app`) and on Spaces.

Usage: python app.py [MODEL_DIR] [--port 7860] [--share]   (a Space runs it with no arguments)
"""

import argparse
from pathlib import Path

import gradio as gr

from fastcourse.predict import PortableModel

HERE = Path(__file__).resolve().parent


def make_app(model_dir, examples=()) -> gr.Interface:
    """An image-in, class-probabilities-out interface over the portable (ONNX) model."""
    model = PortableModel(model_dir)
    return gr.Interface(
        fn=lambda img: model.predict([img])[0]["probs"], api_name="predict",
        inputs=gr.Image(type="pil", sources=["upload", "webcam", "clipboard"], label="image"),
        outputs=gr.Label(num_top_classes=min(5, len(model.classes)), label="prediction"),
        examples=[[str(e)] for e in examples] or None, flagging_mode="never",
        title=f"Is it a {' or a '.join(model.classes[:3])}?")


if __name__ == "__main__":
    cli = argparse.ArgumentParser(description="Serve a fastcourse model with gradio")
    cli.add_argument("model", nargs="?", default=HERE / "model", help="model folder (model.onnx + model.json)")
    cli.add_argument("--port", type=int, default=7860, help="port to listen on")
    cli.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = cli.parse_args()
    examples = sorted((HERE / "examples").glob("*.*"))
    make_app(args.model, examples).launch(server_port=args.port, share=args.share)  # 127.0.0.1 unless GRADIO_SERVER_NAME
