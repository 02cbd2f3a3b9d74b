"""The web view over HTTP, against real SQLite and PostgreSQL stores: every page and JSON
endpoint, 404s that say what was not found, the login, the live cursor, and that no request
changes the database.

    python -m pytest tests/integration/test_web.py
"""

from __future__ import annotations

import html
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import MetaData, select

from db.records import EpochRow, EpochWrite, StopCheck
from db.store import STAMP_LAG_SECONDS, Store
from mnistgrid.report.paths import report_paths
from mnistgrid.settings import Settings
from mnistgrid.spec import DataSpec, JobSpec, StopSpec
from orchestrator.plan import new_job
from tests.integration.services import free_port, wait_until
from tests.integration.webtools import Sweep, epoch, web_server, write_sweep

pytestmark = pytest.mark.integration

LEASE = 2.0
BIG = "99999999999999999999999"  # beyond any integer column
FLOWER = "http://127.0.0.1:5555"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        lease_seconds=LEASE,
        reports_dir=tmp_path / "reports",
        flower_url=FLOWER,
    )


@pytest.fixture
def fresh_sweep(store: Store) -> Sweep:
    """The sweep as just written."""
    return write_sweep(store)


@pytest.fixture
def sweep(fresh_sweep: Sweep, store: Store) -> Sweep:
    """The sweep once the vanished worker's lease has expired and every write so far is older
    than a cursor's lag; the running job's worker has just renewed its lease."""
    time.sleep(max(LEASE, STAMP_LAG_SECONDS) + 0.3)
    assert store.heartbeat(fresh_sweep.running, "w2:2")
    return fresh_sweep


@pytest.fixture
def web(settings: Settings, store: Store) -> httpx.Client:
    with web_server(settings, store) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_every_page_shows_the_sweep(web: httpx.Client, sweep: Sweep, settings: Settings) -> None:
    report = report_paths(settings.reports_dir, sweep.name, sweep.sweep_id).html
    report.parent.mkdir(parents=True)
    report.write_text("<p>the report</p>")

    listing = web.get("/")
    assert listing.status_code == 200
    assert "web &lt;test&gt;" in listing.text and "<test>" not in listing.text
    assert "2 succeeded" in listing.text and "1 failed" in listing.text

    for ref in (str(sweep.sweep_id), sweep.name):
        page = web.get(f"/sweeps/{ref}")
        assert page.status_code == 200, page.text
    text = page.text
    for job_id in (sweep.baseline, sweep.finished, sweep.running, sweep.queued, sweep.failed):
        assert f'id="job-{job_id}"' in text
    assert row(text, sweep.lost).count('data-status="lost"') == 1
    assert 'data-status="running"' in row(text, sweep.running) and "1/3" in row(
        text, sweep.running
    )
    assert "3/3" in row(text, sweep.finished) and "0.9100" in row(text, sweep.finished)
    assert "out of memory" in row(text, sweep.failed)  # the error, as the status's note
    for figure in ("curves", "headline", "lr", "losses", "parallel"):
        assert f'id="fig-{figure}"' in text
    assert '"fig-' not in text.split('id="figures">')[1].split("</script>")[0]
    assert "<test>" not in text.split('id="figures">')[1].split("</script>")[0]  # escaped JSON
    flower = f'href="{FLOWER}/tasks?name=%22web%20%3Ctest%3E%3A%20%22"'
    assert flower in row(text, sweep.running)  # each job links to its sweep's tasks
    # `web <test>` breaks the name rule (stored before it): its folder has its id
    report_link = f"/reports/web_test_%40{sweep.sweep_id}/report.html"
    assert f'href="{report_link}"' in text
    assert web.get(report_link).text == "<p>the report</p>"
    assert web.get(f"/api/sweeps/{sweep.sweep_id}/summary").json()["report_url"] == report_link
    plotly_js = web.get(text.split('<script src="')[1].split('"')[0])
    assert plotly_js.status_code == 200 and "plotly" in plotly_js.text[:2000].lower()
    assert web.get("/static/sweep.js").status_code == 200


def test_the_job_page_has_its_epochs_error_and_rerun_line(web: httpx.Client, sweep: Sweep) -> None:
    page = web.get(f"/jobs/{sweep.finished}")
    assert page.status_code == 200
    assert f"mnistgrid rerun {sweep.finished}" in page.text
    assert page.text.count('<tr><td class="num">') >= 3  # its three epochs
    for figure in ("losses", "accuracy", "digits"):
        assert f'id="fig-{figure}"' in page.text
    failed = web.get(f"/jobs/{sweep.failed}").text
    assert "RuntimeError: out of memory" in failed and "traceback" in failed
    lost = web.get(f"/jobs/{sweep.lost}").text
    assert "status-lost" in lost and "w1:1" in lost


def test_json_endpoints(web: httpx.Client, sweep: Sweep) -> None:
    listing = web.get("/api/sweeps").json()
    (entry,) = listing["sweeps"]
    assert entry["name"] == sweep.name and entry["counts"]["succeeded"] == 2
    assert entry["bests"] == {"baseline mse": "0.8200", "linear": "0.9100"}

    full = web.get(f"/api/sweeps/{sweep.sweep_id}").json()
    statuses = {job["job_id"]: job["status"] for job in full["jobs"]}
    assert statuses[sweep.lost] == "lost" and statuses[sweep.queued] == "queued"
    assert full["points"][str(sweep.finished)] == [[1, 0.85], [2, 0.89], [3, 0.91]]

    summary = web.get(f"/api/sweeps/{sweep.name}/summary").json()
    assert [row["family"] for row in summary["headline"]] == ["baseline mse", "linear"]
    assert summary["headline"][1]["best"] == "0.9100"
    assert set(summary["figures"]) >= {"headline", "lr", "losses", "parallel", "curves_layout"}

    job = web.get(f"/api/jobs/{sweep.finished}").json()
    assert [e["valid_acc"] for e in job["epochs"]] == [0.85, 0.89, 0.91]
    later = web.get(f"/api/jobs/{sweep.finished}/updates", params={"after": 2}).json()
    assert later["last"] == 3 and later["extension"]["accuracy"]["y"] == [[0.91]]


def test_a_live_update_carries_only_what_changed(
    web: httpx.Client, sweep: Sweep, store: Store
) -> None:
    cursor = web.get(f"/api/sweeps/{sweep.sweep_id}").json()["cursor"]
    store.record_epoch(sweep.running, "w2:2", epoch(2, 0.8))
    # Past the lag, so that the next cursor has left this epoch behind.
    time.sleep(STAMP_LAG_SECONDS + 0.2)
    store.heartbeat(sweep.running, "w2:2")

    update = web.get(f"/api/sweeps/{sweep.sweep_id}/updates", params={"since": cursor}).json()
    # The running job wrote; the lost one is shown lost until a reconcile takes it over.
    assert {job["job_id"] for job in update["jobs"]} == {sweep.running, sweep.lost}
    assert update["points"] == {str(sweep.running): [[2, 0.8]]}
    assert "2/3" in update["rows_html"][str(sweep.running)]
    assert 'data-status="lost"' in update["rows_html"][str(sweep.lost)]
    assert f"{FLOWER}/tasks?name=" in update["rows_html"][str(sweep.lost)]
    assert update["cursor"] > cursor

    quiet = web.get(
        f"/api/sweeps/{sweep.sweep_id}/updates", params={"since": update["cursor"]}
    ).json()
    assert quiet["points"] == {}  # its lease was renewed, but no epoch came
    assert {job["job_id"] for job in quiet["jobs"]} == {sweep.running, sweep.lost}


PAGE_ERRORS = [
    ("/sweeps/nope", "no sweep 'nope'"),
    ("/jobs/987654", "no job 987654"),
    ("/jobs/abc", "no job abc"),
    ("/nowhere", "no page at /nowhere"),
    ("/reports/web_test_/..%2F..%2Fsecret", "no page at"),
    ("/reports/nope/report.html", "no report file nope/report.html"),
    # Refs no sweep, job or file can have: a 404 each, on SQLite and PostgreSQL, never a 500
    # (psycopg refuses an integer beyond the column's, PostgreSQL a NUL in text).
    ("/sweeps/%C2%B2", "no sweep '²'"),
    (f"/sweeps/{BIG}", f"no sweep '{BIG}'"),
    ("/sweeps/a%00b", "no sweep 'a\\x00b'"),
    ("/sweeps/" + "x" * 300, "no sweep 'xxx"),
    ("/jobs/%C2%B2", "no job ²"),
    ("/jobs/%EF%BC%91", "no job １"),  # a fullwidth 1 is no job number
    (f"/jobs/{BIG}", f"no job {BIG}"),
    ("/jobs/2147483648", "no job 2147483648"),
    ("/reports/a%00b/report.html", "no report file a\\x00b/report.html"),
    ("/reports/web_test_/report%00.html", "no report file web_test_/report\\x00.html"),
    ("/reports/" + "x" * 300 + "/report.html", "no report file xxx"),
]
API_ERRORS = [
    ("/api/sweeps/nope", 404, "no sweep 'nope'"),
    ("/api/sweeps/nope/updates?since=2026-01-01T00:00:00%2B00:00", 404, "no sweep 'nope'"),
    ("/api/jobs/987654", 404, "no job 987654"),
    ("/api/jobs/987654/updates", 404, "no job 987654"),
    ("/api/sweeps/1/updates?since=yesterday", 400, "bad cursor 'yesterday'"),
    ("/api/sweeps/1/updates", 400, "bad cursor"),
    ("/api/jobs/1/updates?after=x", 400, "bad epoch 'x'"),
    ("/api/sweeps/%C2%B2", 404, "no sweep '²'"),
    (f"/api/sweeps/{BIG}", 404, f"no sweep '{BIG}'"),
    (f"/api/sweeps/{BIG}/summary", 404, f"no sweep '{BIG}'"),
    (f"/api/sweeps/{BIG}/updates?since=2026-01-01T00:00:00%2B00:00", 404, f"no sweep '{BIG}'"),
    ("/api/sweeps/a%00b/summary", 404, "no sweep 'a\\x00b'"),
    (f"/api/jobs/{BIG}", 404, f"no job {BIG}"),
    ("/api/jobs/%C2%B2/updates", 404, "no job ²"),
    ("/api/jobs/2147483648/updates", 404, "no job 2147483648"),
    ("/api/sweeps/1/updates?since=0001-01-01T00:00:00%2B00:00", 400, "out of range"),
    ("/api/sweeps/1/updates?since=0001-01-01T00:00:00%2B23:59", 400, "out of range"),
    ("/api/sweeps/1/updates?since=9999-12-31T23:59:59-23:59", 400, "out of range"),
    (f"/api/jobs/1/updates?after={BIG}", 400, f"bad epoch '{BIG}'"),
    ("/api/jobs/1/updates?after=2147483648", 400, "bad epoch '2147483648'"),
]


def test_a_bad_address_is_a_404_that_says_what(web: httpx.Client) -> None:
    for path, message in PAGE_ERRORS:
        answer = web.get(path)
        assert answer.status_code == 404, path
        assert message in html.unescape(answer.text), path
    for path, status, message in API_ERRORS:
        answer = web.get(path)
        assert answer.status_code == status, path
        assert message in answer.json()["error"], path


def test_no_request_changes_the_database(
    web: httpx.Client, fresh_sweep: Sweep, store: Store
) -> None:
    before = snapshot(store)
    paths = ["/", f"/sweeps/{fresh_sweep.sweep_id}", f"/jobs/{fresh_sweep.running}", "/api/sweeps"]
    paths += [
        f"/api/sweeps/{fresh_sweep.sweep_id}/summary",
        f"/api/jobs/{fresh_sweep.lost}/updates",
    ]
    for path in paths:
        assert web.get(path).status_code == 200
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            refused = web.request(method, path)
            assert refused.status_code == 405, (method, path)
    assert "read-only" in web.post(f"/api/sweeps/{fresh_sweep.sweep_id}").json()["error"]
    assert snapshot(store) == before


def test_the_login_is_asked_for_every_request_when_set(
    store: Store, fresh_sweep: Sweep, settings: Settings
) -> None:
    guarded = settings.model_copy(update={"web_auth": SecretStr("admin:s3cret")})
    with web_server(guarded, store) as url:
        for path in ("/", f"/sweeps/{fresh_sweep.sweep_id}", "/api/sweeps", "/static/style.css"):
            bare = httpx.get(url + path)
            assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Basic")
            assert httpx.get(url + path, auth=("admin", "wrong")).status_code == 401
            assert httpx.get(url + path, auth=("root", "s3cret")).status_code == 401
            assert httpx.get(url + path, auth=("admin", "s3cret")).status_code == 200


def test_mnistgrid_serve_listens_with_its_login(database_url: str, fresh_sweep: Sweep) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTGRID_")}
    env |= {"MNISTGRID_DATABASE_URL": database_url, "MNISTGRID_WEB_AUTH": "u:p"}
    argv = [sys.executable, "-m", "mnistgrid.cli", "serve", "--host", "0.0.0.0", "--port"]
    server = subprocess.Popen([*argv, str(port)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/sweeps"
        wait_until(lambda: answers(url), 30, "mnistgrid serve to listen")
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, auth=("u", "p")).json()["sweeps"][0]["name"] == fresh_sweep.name
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    assert "login required" in out.splitlines()[0]


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return False
    return True


def row(page: str, job_id: int) -> str:
    return page.split(f'id="job-{job_id}"')[1].split("</tr>")[0]


def snapshot(store: Store) -> dict[str, list[tuple]]:
    metadata = MetaData()
    metadata.reflect(store.engine)
    with store.engine.connect() as connection:
        return {
            name: sorted(map(tuple, connection.execute(select(table))), key=repr)
            for name, table in metadata.tables.items()
        }


def test_pages_with_little_or_odd_data(web: httpx.Client, store: Store) -> None:
    """No sweep; a sweep of baselines only; one where nothing ran; a diverged two-digit job."""
    assert "no sweeps yet" in web.get("/").text
    baselines = [JobSpec(model="baseline", distance=d, epochs=1) for d in ("mae", "mse")]
    store.create_sweep("baselines", {}, "a", [new_job(s) for s in baselines])
    pair = DataSpec(digits=(3, 7))
    waiting = JobSpec(model="linear", lr=3.0, epochs=2, data=pair)
    diverging = JobSpec(model="linear", lr=30.0, epochs=2, data=pair)
    created = store.create_sweep("pair", {}, "b", [new_job(waiting), new_job(diverging)])
    queued, diverged = (job.job_id for job in store.sweep_jobs(created.sweep_id))
    store.claim_jobs([diverged], "w:1", 60)
    store.record_epoch(diverged, "w:1", EpochRow(1, 0.4, 0.5, 0.9, (0.95, 0.85), 0.1))
    store.record_epoch(diverged, "w:1", EpochRow(2, math.nan, math.inf, 0.5, (1.0, 0.0), 0.1))
    store.finish_job(diverged, "diverged", worker="w:1")

    for path in ("/", "/sweeps/baselines", "/sweeps/pair", f"/jobs/{queued}", f"/jobs/{diverged}"):
        assert web.get(path).status_code == 200, path
    assert "no trained jobs in this sweep" in web.get("/sweeps/baselines").text
    summary = web.get("/api/sweeps/pair/summary").json()
    assert summary["headline"][0]["posts"].startswith("n/a")  # the posts' figures: ten digits
    job = web.get(f"/api/jobs/{diverged}/updates").json()
    assert job["extension"]["losses"]["y"] == [[0.4, None], [0.5, None]]  # NaN, inf: gaps
    assert [name for name in job["extension"]] == ["accuracy", "digits", "losses"]
    # A pair (3, 7) stores class 0 as digit 7 (the posts' labels); the page lists 3, then 7.
    assert job["extension"]["digits"]["y"] == [[0.85, 0.0], [0.95, 1.0]]
    page = web.get(f"/jobs/{diverged}").text
    assert ">nan<" in page and ">inf<" in page
    assert web.get(f"/api/jobs/{queued}/updates").json()["last"] == 0


def test_a_sha_sweep_shows_its_rungs_and_parked_and_promoted_jobs(
    web: httpx.Client, store: Store
) -> None:
    rule = StopSpec(rule="sha", grace=1, reduction=3)
    grid = {"stop": rule.model_dump(mode="json"), "train": {"time_limit": 60, "device": "cpu"}}
    specs = [JobSpec(model="linear", lr=lr, epochs=4) for lr in (0.1, 0.2, 0.3, 0.4)]
    created = store.create_sweep("halving", grid, "h", [new_job(s, "stack") for s in specs[:3]]
                                 + [new_job(specs[3])])  # fmt: skip
    *stack, last = (job.job_id for job in store.sweep_jobs(created.sweep_id))
    check = StopCheck(created.sweep_id, rule, 4)
    store.claim_jobs(stack, "w:1", 60)
    ends = [
        EpochWrite(j, epoch(1, acc), b"c") for j, acc in zip(stack, (0.5, 0.6, 0.9), strict=True)
    ]
    assert store.record_epochs("w:1", ends, stop=check).parked == tuple(stack)

    page = web.get("/sweeps/halving").text
    assert "Early stopping: sha" in page and "status-parked" in page
    assert "waiting at epoch 1 for every job of its bracket" in html.unescape(page)
    store.claim_jobs([last], "w:2", 60)
    done = store.record_epochs("w:2", [EpochWrite(last, epoch(1, 0.7), b"c")], stop=check)
    assert done.promoted == (stack[2], last)  # the top ceil(4 / 3) = 2: 0.9 and 0.7
    summary = web.get("/api/sweeps/halving/summary").json()
    assert "<td>epoch 1</td>" in summary["rungs_html"]
    job_page = html.unescape(web.get(f"/jobs/{stack[2]}").text)
    assert "promoted past the rung at epoch 1" in job_page


# -- the Host header: no DNS rebinding ---------------------------------------------------------

LOOPBACK_HOSTS = ["localhost", "localhost:{port}", "127.0.0.1:{port}", "127.8.0.1", "[::1]:{port}"]
FOREIGN_HOSTS = ["evil.example", "evil.example:{port}", "localhost.evil.example", "10.0.0.1"]


def get_as(url: str, path: str, host: str, **options: object) -> httpx.Response:
    port = url.rsplit(":", 1)[1]
    return httpx.get(url + path, headers={"Host": host.format(port=port)}, **options)


def test_without_a_login_only_loopback_host_names_are_answered(
    web: httpx.Client, fresh_sweep: Sweep
) -> None:
    """A page on another site whose name is rebound to 127.0.0.1 reads nothing: the browser
    sends that site's name as the Host."""
    url = str(web.base_url).rstrip("/")
    for path in ("/", f"/sweeps/{fresh_sweep.sweep_id}", "/api/sweeps", "/static/style.css"):
        for host in LOOPBACK_HOSTS:
            assert get_as(url, path, host).status_code == 200, (path, host)
        for host in FOREIGN_HOSTS:
            refused = get_as(url, path, host)
            assert refused.status_code == 400, (path, host)
            assert len(refused.text.strip().splitlines()) == 1
            assert "not a host this web view answers" in refused.text
            assert fresh_sweep.name not in refused.text


def test_with_a_login_any_host_or_the_listed_ones(
    store: Store, fresh_sweep: Sweep, settings: Settings
) -> None:
    login = ("admin", "s3cret")
    anywhere = settings.model_copy(update={"web_auth": SecretStr("admin:s3cret")})
    with web_server(anywhere, store) as url:
        assert get_as(url, "/api/sweeps", "evil.example").status_code == 401
        assert get_as(url, "/api/sweeps", "web.lab.example:8000", auth=login).status_code == 200
    listed = Settings.model_validate(
        {**anywhere.model_dump(), "web_hosts": "mnistgrid.example, *.lab.example"}
    )
    with web_server(listed, store) as url:
        # loopback names always (a health check inside the container, an SSH tunnel)
        for host in (
            "mnistgrid.example",
            "MNISTGRID.example:8000",
            "web.lab.example",
            "localhost",
        ):
            assert get_as(url, "/api/sweeps", host, auth=login).status_code == 200, host
        for host in ("evil.example", "lab.example", "10.0.0.1:{port}"):
            refused = get_as(url, "/api/sweeps", host, auth=login)
            assert refused.status_code == 400 and "MNISTGRID_WEB_HOSTS" in refused.text, host
