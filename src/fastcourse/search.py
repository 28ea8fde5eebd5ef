"""Image search through ddgs (DuckDuckGo's successor library), with bounded backoff on rate limits.

Results land in data/NAME/urls/<category>.txt as `url<TAB>query<TAB>title` lines, so a polluted
query can be traced back from any image.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Callable

from . import manifest
from .util import atomic_write_text

QUERIES = "{} photo"  # comma-separated templates; {} is the category (course: "{} photo,{} sun photo,...")
MAX_RESULTS = 200  # per query
MAX_TRIES, BASE_DELAY, MAX_WAIT = 5, 2.0, 60.0  # backoff: up to 5 tries, 2 s doubling, 60 s in all

Searcher = Callable[[str, int], list[dict]]


class SearchError(Exception):
    """A search that failed for good (offline, or still rate-limited after backing off)."""


def ddgs_searcher(proxy: str | None = None, timeout: int = 10) -> Searcher:
    """The real searcher: ddgs' DDGS().images(query, max_results=n)."""
    from ddgs import DDGS

    return lambda query, n: DDGS(proxy=proxy, timeout=timeout).images(query, max_results=n)


def _transient(e: Exception) -> bool:
    from ddgs.exceptions import RatelimitException, TimeoutException

    return isinstance(e, (RatelimitException, TimeoutException))


def search_images(searcher: Searcher, query: str, max_results: int = MAX_RESULTS,
                  sleep=time.sleep, jitter=random.random) -> list[dict]:
    """One query with exponential backoff and jitter on rate limits/timeouts, bounded in total wait."""
    waited = 0.0
    for attempt in range(MAX_TRIES):
        try:
            return searcher(query, max_results)
        except Exception as e:  # ddgs raises DDGSException subclasses
            if "No results" in str(e):
                return []
            if not _transient(e):
                raise SearchError(f"image search for {query!r} failed: {str(e)[:100]} — are you offline? "
                                  "`inv train` works offline on the embedded dataset") from e
            delay = min(BASE_DELAY * 2**attempt * (1 + jitter()), MAX_WAIT - waited)
            if attempt == MAX_TRIES - 1 or delay <= 0:
                raise SearchError(f"image search for {query!r} is still rate-limited after {waited:.0f} s "
                                  "— wait a few minutes, use fewer --queries, or pass --proxy") from e
            sleep(delay)
            waited += delay
    raise AssertionError("unreachable")


def search_categories(root: Path, name: str, categories: list[str], queries: str = QUERIES,
                      max_results: int = MAX_RESULTS, searcher: Searcher | None = None) -> dict[str, Path]:
    """Search every category with every query template; write one URL file per category."""
    if not categories or not all(c.strip() for c in categories):
        raise ValueError("--categories must name at least one category, e.g. --categories 'bird,forest'")
    searcher = searcher or ddgs_searcher()
    templates = [q.strip() for q in queries.split(",") if q.strip()]
    if not templates or any("{}" not in t for t in templates):
        raise ValueError(f"--queries {queries!r}: each template needs {{}} for the category, e.g. '{{}} photo'")
    out = {}
    for cat in (c.strip() for c in categories):
        seen, lines = set(), ["# url\tquery\ttitle"]
        for template in templates:
            query = template.format(cat)
            for r in search_images(searcher, query, max_results):
                url = r.get("image") or r.get("url")
                if url and url not in seen:
                    seen.add(url)
                    title = " ".join(str(r.get("title", "")).split())
                    lines.append(f"{url}\t{query}\t{title}")
        path = manifest.dataset_dir(root, name) / "urls" / f"{cat}.txt"
        atomic_write_text(path, "\n".join(lines) + "\n")
        out[cat] = path
    return out


def read_url_files(path: Path) -> list[dict]:
    """URL entries from one `<category>.txt` file or a folder of them: [{category, url, query, title}]."""
    path = Path(path)
    files = sorted(path.glob("*.txt")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise FileNotFoundError(f"--urls {path}: no URL files — give a <category>.txt file or a folder of them")
    items = []
    for f in files:
        for line in f.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            url, query, title = (line.split("\t") + ["", ""])[:3]
            items.append({"category": f.stem, "url": url.strip(), "query": query, "title": title})
    return items
