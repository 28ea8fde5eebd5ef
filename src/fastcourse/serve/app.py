"""Gradio app for a fastcourse model; the same file runs locally (`inv app`) and on Spaces.

Usage: python app.py [MODEL_DIR] [--port 7860] [--share]   (a Space runs it with no arguments)
"""

import argparse
from pathlib import Path

from fastcourse.serve.interfaces import make_app

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    cli = argparse.ArgumentParser(description="Serve a fastcourse model with gradio")
    cli.add_argument("model", nargs="?", default=HERE / "model", help="model folder (model.onnx + model.json)")
    cli.add_argument("--port", type=int, default=7860, help="port to listen on")
    cli.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    args = cli.parse_args()
    examples = sorted((HERE / "examples").glob("*.*"))
    make_app(args.model, examples).launch(server_port=args.port, share=args.share)  # 127.0.0.1 unless GRADIO_SERVER_NAME
