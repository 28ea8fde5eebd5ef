"""The one HTML page every report uses (training, cleaning): a title, a lead paragraph, then sections of
tables, images and preformatted text. Everything passed in as text is escaped here."""

from __future__ import annotations

import html

STYLE = ("body{font-family:system-ui,sans-serif;max-width:62em;margin:2em auto;padding:0 1em;line-height:1.45}"
         "td,th{padding:.2em .8em;text-align:left}th{border-bottom:1px solid #999}"
         "figure{display:inline-block;margin:.4em;font-size:12px;vertical-align:top}"
         "pre,code{background:#f4f4f4}pre{padding:.6em;overflow:auto;white-space:pre-wrap}img{max-width:100%}")


def esc(text) -> str:
    """HTML-escaped text."""
    return html.escape(str(text))


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """An HTML table of dict rows (values escaped)."""
    if not rows:
        return "<p>(nothing)</p>"
    columns = columns or list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def image(src: str, alt: str) -> str:
    """An <img> of a file beside the page."""
    return f'<p><img src="{esc(src)}" alt="{esc(alt)}"></p>'


def pre(text: str) -> str:
    """Preformatted text (commands, configs)."""
    return f"<pre>{esc(text)}</pre>"


def render(title: str, lead: str, sections: list[tuple[str, str]]) -> str:
    """The page: `lead` and each section's body are HTML made with the helpers above."""
    parts = "".join(f"<h2>{esc(h)}</h2>{body}" for h, body in sections)
    return (f'<!doctype html><meta charset="utf-8"><title>{esc(title)}</title><style>{STYLE}</style>'
            f"<h1>{esc(title)}</h1>{lead}{parts}\n")
