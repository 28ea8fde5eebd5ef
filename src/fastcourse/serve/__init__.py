"""Serving a model (inv app, inv deploy): the gradio app, the Space bundle and its check, the Hub."""
