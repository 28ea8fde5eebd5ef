"""Datasets: search, fetch, build, the embedded offline dataset, cleaning.

    inv data.search --name birds --categories "bird,forest" [--queries "{} photo,{} sun photo"]
    inv data.fetch --name birds --urls data/birds/urls
    inv data.build --name birds --categories "bird,forest"     (search + fetch)
    inv data.embedded                                           (offline: sklearn's digits 3 vs 7)
    inv data.clean --name birds --model models/birds [--apply]
    inv data.kaggle --comp titanic                              (Kaggle competition data, lessons 5-10)
"""

from collections import Counter

from fastcourse.console import table
from fastcourse.data import embedded, fetch as fe, manifest, search as se
from fastcourse.errors import DataError
from fastcourse.paths import dataset_dir, project_root

from ._opts import number, task

SEARCH_HELP = {
    "name": "dataset name: files go to data/NAME/",
    "categories": "comma-separated categories, e.g. 'bird,forest'",
    "queries": f"comma-separated query templates, {{}} = category (default '{se.QUERIES}')",
    "max": f"results per query (default {se.MAX_RESULTS})",
    "proxy": "proxy for the search, e.g. socks5h://127.0.0.1:9150 or 'tb' for Tor Browser",
}
FETCH_HELP = {
    "name": "dataset name: images go to data/NAME/images/<category>/",
    "urls": "a <category>.txt URL file or a folder of them (default data/NAME/urls)",
    "max_size": f"longer side of stored images in pixels (default {fe.FetchOptions.max_size})",
    "workers": f"concurrent downloads (default {fe.FetchOptions.workers})",
    "retry_failed": "try again the URLs that failed in earlier runs",
}
MAX_SIZE, WORKERS = str(fe.FetchOptions.max_size), str(fe.FetchOptions.workers)  # string defaults: see _opts


@task(help=SEARCH_HELP)
def search(c, name, categories, queries=se.QUERIES, max=str(se.MAX_RESULTS), proxy=None):
    """Search images per category with ddgs; write data/NAME/urls/<category>.txt."""
    files = se.search_categories(project_root(), name, categories.split(","), queries,
                                 number(int, "max", max, 1, 1000), se.ddgs_searcher(proxy) if proxy else None)
    for cat, path in files.items():
        n = sum(1 for l in path.read_text().splitlines() if l and not l.startswith("#"))
        print(f"{cat}: {n} URLs -> {path}")


@task(help=FETCH_HELP)
def fetch(c, name, urls=None, max_size=MAX_SIZE, workers=WORKERS, retry_failed=False):
    """Download, verify, resize and dedupe images in one pass; every URL goes in manifest.csv."""
    root = project_root()
    ds = dataset_dir(root, name)
    opts = fe.FetchOptions(max_size=number(int, "max_size", max_size, 16, 10_000),
                           workers=number(int, "workers", workers, 1, 256))
    items = se.read_url_files(urls or ds / "urls")
    rows = fe.fetch(root, name, items, opts, retry_failed=retry_failed)
    print(table(manifest.summary(rows)))
    for reason, n in Counter(r["reason"] for r in rows if r["status"] == "failed").most_common():
        print(f"  failed: {n} x {reason}")
    print(f"images: {ds / 'images'}   manifest: {ds / 'manifest.csv'}")


@task(help={**SEARCH_HELP, **{k: v for k, v in FETCH_HELP.items() if k != "urls"}})
def build(c, name, categories, queries=se.QUERIES, max=str(se.MAX_RESULTS), proxy=None, max_size=MAX_SIZE,
          workers=WORKERS, retry_failed=False):
    """Search then fetch: the whole lesson-1 data step in one command."""
    search(c, name, categories, queries, max, proxy)
    fetch(c, name, None, max_size, workers, retry_failed)


@task(name="embedded", help={"name": f"dataset name (default {embedded.NAME})",
            "classes": "comma-separated digits to include (default 3,7, the course's MNIST sample)"})
def write_embedded(c, name=embedded.NAME, classes=",".join(embedded.CLASSES)):
    """Write the offline dataset (scikit-learn's handwritten digits) as image folders; no network."""
    ds = embedded.write_digits(project_root(), name, classes.split(","))
    print(table(manifest.summary(manifest.read(ds / "manifest.csv"))))
    print(f"images: {ds / 'images'}")


@task(help={"comp": "competition slug as in its URL, e.g. titanic or paddy-disease-classification",
            "timeout": "seconds the whole download may take (default 14400); run again to resume",
            "stall": "seconds without a new byte before the download is stopped (default 120); run again to resume"})
def kaggle(c, comp, timeout="14400", stall="120"):
    """Download and unzip a Kaggle competition's data into data/kaggle/COMP/ (needs Kaggle credentials)."""
    from fastcourse.data import kaggle as kg

    dest = kg.download(comp, deadline=number(float, "timeout", timeout, 1), stall=number(float, "stall", stall, 1))
    files = sorted(p for p in dest.rglob("*") if p.is_file())
    print(f"{comp}: {len(files)} files in {dest}")


@task(help={"name": "dataset name (data/NAME)", "model": "model folder (default models/NAME)",
            "apply": "apply data/NAME/clean/decisions.csv instead of writing the report",
            "top": "how many top-loss images the report shows (default 30)"})
def clean(c, name, model=None, apply=False, top="30"):
    """Report top losses and failures per query; with --apply, carry out the edited decisions.csv."""
    from fastcourse.data import clean as cl

    top = number(int, "top", top, 1, 1000)
    root = project_root()
    ds = dataset_dir(root, name)
    if not (ds / "manifest.csv").exists() and (ds / "images").is_dir() and not apply:
        from fastcourse.data import manifest

        with manifest.locked(ds):  # your own photos, put in by hand: indexed once, then cleaned like fetched ones
            print(f"indexed {manifest.adopt(ds)} of your own images into {ds / 'manifest.csv'}", flush=True)
    if not (ds / "manifest.csv").exists():
        raise DataError(f"no images in {ds} — build the dataset first (inv data.build --name {name} --categories "
                        f"...) or put your photos in {ds}/images/<category>/")
    if apply:
        if not (ds / "clean/decisions.csv").exists():
            raise DataError(f"{ds}/clean/decisions.csv not found — run inv data.clean --name {name} first")
        done = cl.apply(ds)
        print(", ".join(f"{k}: {v}" for k, v in done.items()) or "nothing to apply (all keep)")
        return
    from fastcourse.schema import describe

    folder = root / (model or f"models/{name}")
    print(describe(folder), flush=True)
    path = cl.report(ds, folder, top)
    print(f"report: {path}\nedit {ds / 'clean/decisions.csv'}, then: inv data.clean --name {name} --apply")
