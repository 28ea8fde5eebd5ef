"""inv data.search: ddgs results to URL files, backoff on rate limits, offline in one line."""

from collections import Counter

import pytest
from conftest import closed_port_url
from ddgs.exceptions import RatelimitException

from fastcourse.data import search as se


def test_search_writes_urls_with_query_and_title(tmp_path):
    """search should write one URL file per category with the query and title of each URL, deduplicated."""
    def fake(query, n):
        return [{"image": f"http://x/{query.split()[0]}/{i}.jpg", "title": f"a {query}\tresult"} for i in range(3)]

    files = se.search_categories(tmp_path, "birds", ["bird", "forest"], "{} photo,{} photo", 5, fake)
    lines = [l for l in files["bird"].read_text().splitlines() if not l.startswith("#")]
    assert lines == [f"http://x/bird/{i}.jpg\tbird photo\ta bird photo result" for i in range(3)]
    items = se.read_url_files(tmp_path / "data/birds/urls")
    assert Counter(i["category"] for i in items) == {"bird": 3, "forest": 3}


def test_search_backs_off_on_rate_limit_then_succeeds():
    """Two rate limits then success: two growing, jittered sleeps within the total bound."""
    calls, sleeps = [], []

    def flaky(query, n):
        calls.append(query)
        if len(calls) <= 2:
            raise RatelimitException("202 Ratelimit")
        return [{"image": "http://x/1.jpg", "title": "t"}]

    out = se.search_images(flaky, "bird photo", 10, sleep=sleeps.append, jitter=lambda: 0.5)
    assert out and len(calls) == 3
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] > 0
    assert sum(sleeps) <= se.MAX_WAIT


def test_search_gives_up_with_clear_error():
    """Always rate-limited: a bounded total sleep, then an error naming the query and the fixes."""
    sleeps = []

    def limited(query, n):
        raise RatelimitException("202 Ratelimit")

    with pytest.raises(se.SearchError) as e:
        se.search_images(limited, "crocodile photo", 10, sleep=sleeps.append, jitter=lambda: 1.0)
    assert sum(sleeps) <= se.MAX_WAIT and len(sleeps) < se.MAX_TRIES
    assert "'crocodile photo'" in str(e.value) and "--proxy" in str(e.value)


@pytest.mark.parametrize("task", ["data.search", "data.build"])
def test_search_offline_is_one_line_error(inv, tmp_path, task):
    """Offline (forced: ddgs' proxy is a closed local port), data.search and data.build should exit non-zero
    with one line saying where your own photos go instead, and the embedded digits."""
    p = inv(task, "--name", "b", "--categories", "bird", home=tmp_path, timeout=120,
            env={"DDGS_PROXY": closed_port_url()})
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1
    assert "put your own photos in data/b/images/<category>/" in p.stderr.replace("Put", "put")
    assert "inv train --data b" in p.stderr and "embedded digits" in p.stderr
