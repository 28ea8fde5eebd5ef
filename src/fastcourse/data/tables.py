"""CSV datasets for `--task tabular` and `--task collab`: read once, checked before anything is trained.

Each problem gets its own line (a missing column, text in a number column, too few rows), so the learner
fixes the file once instead of meeting a traceback per problem.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError

MIN_ROWS = 20  # fewer rows cannot be split into training and validation rows that teach anything
# Known layouts: (categorical, continuous, target)
LAYOUTS = {
    "penguins": (["island", "sex"], ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"],
                 "species"),
    "adult": (["workclass", "education", "marital-status", "occupation", "relationship", "race"],
              ["age", "fnlwgt", "education-num"], "salary"),
}


def read_csv(path: Path, what: str = "--data"):
    """A CSV as a DataFrame; DataError naming the file and why it cannot be read."""
    import pandas as pd

    from ..fileio import read_text

    try:
        text = read_text(path, f"{what} {path}")
    except (FileNotFoundError, IsADirectoryError):
        raise DataError(f"{what} {path}: no such CSV file — give a .csv file, or leave --data out for the "
                        "embedded dataset") from None
    import io

    try:
        return pd.read_csv(io.StringIO(text), skipinitialspace=True)
    except (ValueError, pd.errors.ParserError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:100]
        raise DataError(f"{what} {path}: not a readable CSV ({first}) — one header line, then one row per line")


def layout(df, path: Path) -> tuple[list[str], list[str], str]:
    """(categorical, continuous, target) columns: a known layout, or inferred (target = the last column)."""
    have = set(df.columns)
    for name, (cats, conts, y) in LAYOUTS.items():
        want = cats + conts + [y]
        if set(want) <= have:
            return list(cats), list(conts), y
        missing = [c for c in want if c not in have]
        if len(missing) < len(want) / 2:
            raise DataError(f"{path}: looks like the {name} layout but lacks the column(s) {', '.join(missing)} — "
                            "add them, or rename your columns")
    if len(df.columns) < 2:
        raise DataError(f"{path}: needs at least two columns (features, then the target last); found "
                        f"{list(df.columns)}")
    y = df.columns[-1]
    cats = [c for c in df.columns[:-1] if df[c].dtype == object or df[c].dtype == bool]
    conts = [c for c in df.columns[:-1] if c not in cats]
    return cats, conts, y


def problems(df, path: Path, cats, conts, y) -> list[str]:
    """Every reason the table cannot be trained on, one line each."""
    import pandas as pd

    out = []
    for col in conts:
        numbers = pd.to_numeric(df[col], errors="coerce")
        bad = df[col][numbers.isna() & df[col].notna()]
        if len(bad):
            out.append(f"{path}: column {col} holds text ({str(bad.iloc[0])[:20]!r} on row {bad.index[0] + 2}) — "
                       "numbers only there (leave a cell empty when it is missing)")
    rows = int(df[y].notna().sum()) if y in df else 0
    if rows < MIN_ROWS:
        out.append(f"{path}: {rows} row(s) with a {y} value — need at least {MIN_ROWS} to hold some out for validation")
    elif df[y].nunique() < 2:
        out.append(f"{path}: the target column {y} has a single value ({df[y].dropna().iloc[0]!r}) — "
                   "a classifier needs at least two")
    return out


def read_tabular(data: Path):
    """(DataFrame, (cats, conts, target)) for a tabular dataset: a CSV file, or the folder untar_data gives."""
    import pandas as pd

    path = data / "adult.csv" if Path(data).is_dir() else Path(data)
    df = read_csv(path)
    cats, conts, y = layout(df, path)
    found = problems(df, path, cats, conts, y)
    if found:
        raise DataError("\n".join(found))
    df = df.dropna(subset=[y]).reset_index(drop=True)
    for col in conts:
        df[col] = pd.to_numeric(df[col]).astype("float32")
    return df, (cats, conts, y)


def read_ratings(data: Path, need_rating: bool = False):
    """user,item[,rating] columns from our CSV or movielens' ratings.csv (userId,movieId,rating)."""
    import pandas as pd

    path = data / "ratings.csv" if Path(data).is_dir() else Path(data)
    df = read_csv(path).rename(columns={"userId": "user", "movieId": "item"})
    want = ["user", "item"] + (["rating"] if need_rating else [])
    missing = [c for c in want if c not in df.columns]
    if missing:
        raise DataError(f"{path}: needs the column(s) {', '.join(missing)} (or movielens' userId, movieId), "
                        f"found {list(df.columns)[:6]}")
    if need_rating:
        ratings = pd.to_numeric(df["rating"], errors="coerce")
        if ratings.isna().any():
            row = int(ratings.isna().idxmax())
            raise DataError(f"{path}: rating on row {row + 2} is {df['rating'][row]!r} — every rating must be a number")
        if len(df) < MIN_ROWS:
            raise DataError(f"{path}: {len(df)} rating(s) — need at least {MIN_ROWS}")
        df["rating"] = ratings.astype("float32")
    return df
