"""Image search through ddgs (DuckDuckGo's successor library), with bounded backoff on rate limits.

Results land in data/NAME/urls/<category>.txt as `url<TAB>query<TAB>title` lines, so a polluted
query can be traced back from any image.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

from ..errors import DataError, OptionError, SearchError
from ..fileio import atomic_write_text, read_text
from ..paths import check_label, dataset_dir

QUERIES = "{} photo"  # comma-separated templates; {} is the category (course: "{} photo,{} sun photo,...")
MAX_RESULTS = 200  # per query
MAX_TRIES, BASE_DELAY, MAX_WAIT = 5, 2.0, 60.0  # backoff: up to 5 tries, 2 s doubling, 60 s in all

Searcher = Callable[[str, int], list[dict]]


def ddgs_searcher(proxy: str | None = None, timeout: int = 10) -> Searcher:
    """The real searcher: ddgs' DDGS().images(query, max_results=n)."""
    from ddgs import DDGS

    return lambda query, n: DDGS(proxy=proxy, timeout=timeout).images(query, max_results=n)


def _transient(e: Exception) -> bool:
    from ddgs.exceptions import RatelimitException, TimeoutException

    return isinstance(e, (RatelimitException, TimeoutException))


def search_images(searcher: Searcher, query: str, max_results: int = MAX_RESULTS,
                  sleep=time.sleep, jitter=random.random, dataset: str = "NAME") -> list[dict]:
    """One query with exponential backoff and jitter on rate limits/timeouts, bounded in total wait."""
    waited = 0.0
    for attempt in range(MAX_TRIES):
        try:
            return searcher(query, max_results)
        except Exception as e:  # ddgs raises DDGSException subclasses
            if "No results" in str(e):
                return []
            if not _transient(e):
                raise SearchError(f"image search for {query!r} failed ({_why(e)}) — offline? Put your own photos "
                                  f"in data/{dataset}/images/<category>/ (one folder per category) and run inv "
                                  f"train --data {dataset}, or train offline on the embedded digits: inv train") from e
            delay = min(BASE_DELAY * 2**attempt * (1 + jitter()), MAX_WAIT - waited)
            if attempt == MAX_TRIES - 1 or delay <= 0:
                raise SearchError(f"image search for {query!r} is still rate-limited after {waited:.0f} s "
                                  "— wait a few minutes, use fewer --queries, or pass --proxy") from e
            sleep(delay)
            waited += delay
    raise AssertionError("unreachable")


def _why(e: Exception) -> str:
    """A search failure in a few words (the client's message names URLs and DNS internals)."""
    text = str(e)
    for mark, words in (("DNS", "no DNS: the network is unreachable"), ("onnect", "could not connect"),
                        ("imed out", "timed out"), ("403", "refused (403)"), ("certificate", "TLS certificate")):
        if mark in text:
            return words
    return type(e).__name__


def search_categories(root: Path, name: str, categories: list[str], queries: str = QUERIES,
                      max_results: int = MAX_RESULTS, searcher: Searcher | None = None) -> dict[str, Path]:
    """Search every category with every query template; write one URL file per category."""
    if not categories or not all(c.strip() for c in categories):
        raise OptionError("--categories must name at least one category, e.g. --categories 'bird,forest'")
    cats = [check_label(c) for c in categories]
    templates = [q.strip() for q in queries.split(",") if q.strip()]
    if not templates or not all(_one_slot(t) for t in templates):
        raise OptionError(f"--queries {queries!r}: each template needs exactly one {{}} for the category and no "
                          "other braces, e.g. '{} photo,{} sun photo'")
    path = dataset_dir(root, name)  # checks the name before any search
    searcher = searcher or ddgs_searcher()
    out = {}
    for cat in cats:
        seen, lines = set(), ["# url\tquery\ttitle"]
        for template in templates:
            query = template.format(cat)
            for r in search_images(searcher, query, max_results, dataset=name):
                url = r.get("image") or r.get("url")
                if url and url not in seen:
                    seen.add(url)
                    title = " ".join(str(r.get("title", "")).split())
                    lines.append(f"{url}\t{query}\t{title}")
        out[cat] = atomic_write_text(path / "urls" / f"{cat}.txt", "\n".join(lines) + "\n")
    return out


def _one_slot(template: str) -> bool:
    """True when `template` formats with one category and nothing else ('{} photo')."""
    import string

    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError:  # a lone { or }
        return False
    return fields == [""]


def read_url_files(path: Path) -> list[dict]:
    """URL entries from one `<category>.txt` file or a folder of them: [{category, url, query, title}]."""
    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise DataError(f"--urls {path}: no URL files — give a <category>.txt file or a folder of them")
    items = []
    for f in files:
        category = check_label(f.stem, f"URL file {f.name}: category")
        text = read_text(f, f"--urls {f}")
        for line in text.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            url, query, title = (line.split("\t") + ["", ""])[:3]
            items.append({"category": category, "url": url.strip(), "query": query, "title": title})
    return items
