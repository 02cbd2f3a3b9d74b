"""The web view's parts that need no server: its settings, the login, links, cursors."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from db.records import JobInfo, SweepInfo
from mnistgrid.errors import BadInput
from mnistgrid.settings import Settings, is_loopback, load_settings
from mnistgrid.web.access import BasicAuth, credentials, host_allowed, host_of
from mnistgrid.web.links import flower_tasks_url, report_url
from mnistgrid.web.live import parse_after, parse_cursor
from mnistgrid.web.rows import state
from mnistgrid.web.sweep_list import age


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("web.internal", False)],
)  # fmt: skip
def test_only_loopback_hosts_may_go_without_a_login(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert Settings(web_host=host).exposed_without_login is not loopback
    assert not Settings(web_host=host, web_auth="u:p").exposed_without_login


def test_the_login_is_user_colon_password(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(web_auth="admin:pa:ss").web_login == ("admin", "pa:ss")
    assert "pa:ss" not in repr(Settings(web_auth="admin:pa:ss"))
    for bad in ("admin", "admin:", ":secret"):
        monkeypatch.setenv("MNISTGRID_WEB_AUTH", bad)
        with pytest.raises(BadInput, match="MNISTGRID_WEB_AUTH: must be user:password"):
            load_settings()


def test_the_login_reaches_child_processes_unmasked(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(web_auth="admin:secret", flower_url="http://127.0.0.1:5555/")
    environment = settings.as_environment()
    assert environment["MNISTGRID_WEB_AUTH"] == "admin:secret"
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


def test_serve_refuses_a_public_address_without_a_login() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", "serve", "--host", "0.0.0.0"],
        env={"PATH": "/usr/bin:/bin", "MNISTGRID_DATABASE_URL": "sqlite:////nonexistent/x.db"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: refusing to listen on 0.0.0.0 without a login: set "
        "MNISTGRID_WEB_AUTH=user:password, or listen on 127.0.0.1"
    )


def basic(text: str) -> bytes:
    return b"Basic " + base64.b64encode(text.encode())


def test_basic_auth_checks_user_and_password() -> None:
    auth = BasicAuth(app=None, user="admin", password="s3cret")  # type: ignore[arg-type]
    assert auth.allows(basic("admin:s3cret"))
    for wrong in ("admin:s3cre", "admin:s3cret!", "Admin:s3cret", "admin", ""):
        assert not auth.allows(basic(wrong)), wrong
    assert not auth.allows(None)
    assert not auth.allows(b"Bearer abc")
    assert not auth.allows(b"Basic not-base64!")
    assert credentials(basic("a:b:c")) == (b"a", b"b:c")


def test_flower_links_search_the_sweeps_task_names(tmp_path) -> None:
    assert flower_tasks_url(None, "quick") is None
    assert (
        flower_tasks_url("http://f:5555", "quick") == "http://f:5555/tasks?name=%22quick%3A%20%22"
    )
    quoted = flower_tasks_url("http://f:5555", 'a "b"')
    assert quoted.endswith("%22a%20%5C%22b%5C%22%3A%20%22")
    now = datetime(2026, 11, 27, tzinfo=UTC)
    quick, old = (SweepInfo(7, name, {}, "h", "finished", now, now) for name in ("quick", "q k"))
    assert report_url(tmp_path, quick) is None
    for folder in ("quick", "q_k@7"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "report.html").write_text("x")
    assert report_url(tmp_path, quick) == "/reports/quick/report.html"
    # a name from before the name rule: its own folder, never the one `q_k` would have
    assert report_url(tmp_path, old) == "/reports/q_k%407/report.html"


def test_cursors_are_times_with_a_zone() -> None:
    when = datetime(2026, 11, 27, 15, 30, tzinfo=UTC)
    assert parse_cursor(when.isoformat()) == when
    for bad in (None, "", "yesterday", "2026-11-27T15:30:00"):
        with pytest.raises(BadInput, match="bad cursor"):
            parse_cursor(bad)
    assert parse_after(None) == 0 and parse_after("7") == 7
    with pytest.raises(BadInput, match="bad epoch"):
        parse_after("seven")
    # Times the store's arithmetic (the cursor's lag) or its columns cannot take; numbers
    # beyond its INTEGER columns.
    for far in ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-23:59"):
        with pytest.raises(BadInput, match="out of range"):
            parse_cursor(far)
    for big in ("2147483648", "99999999999999999999999"):
        with pytest.raises(BadInput, match="bad epoch"):
            parse_after(big)


def test_a_running_job_whose_lease_ran_out_shows_as_lost() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)

    def running(lease_until: datetime | None) -> JobInfo:
        return JobInfo(
            1, 1, "k", "linear", "cross_entropy", 1.0, None, "running", 1, 0, "host:42:ab12",
            now - timedelta(seconds=121), lease_until, None, None, None, None, None, 0, None,
            None, None, None, None, None, None, {}, None,
        )  # fmt: skip

    # The holder's own lease decides, whatever this reader's MNISTGRID_LEASE_SECONDS says.
    status, note = state(running(now - timedelta(seconds=1)), now=now)
    assert status == "lost" and "host:42:ab12" in note
    assert state(running(now + timedelta(seconds=479)), now=now) == ("running", "")
    assert state(running(None), now=now)[0] == "lost"


def test_ages_read_naturally() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    ago = [age(now, now - timedelta(seconds=s)) for s in (5, 125, 7300, 3 * 86400)]
    assert ago == ["5 s ago", "2 min ago", "2 h ago", "3 days ago"]


@pytest.mark.parametrize(
    ("header", "host"),
    [
        (b"localhost", "localhost"),
        (b"LocalHost:8000", "localhost"),
        (b"localhost.", "localhost"),
        (b"127.0.0.1:8000", "127.0.0.1"),
        (b"[::1]:8000", "::1"),
        (b"[::1]", "::1"),
        (b"web.example", "web.example"),
        (b"::1", None),  # an IPv6 address needs its brackets
        (b"[::1", None),
        (b"[::1]x", None),
        (b"localhost:port", None),
        (b"", None),
        (None, None),
        (b"a b", None),
        (b"\xff", None),
    ],
)
def test_the_host_of_a_host_header(header, host) -> None:
    assert host_of(header) == host


def test_without_a_login_only_loopback_names_are_allowed() -> None:
    assert Settings().web_allowed_hosts is None  # loopback only
    for host in ("localhost", "127.0.0.1", "127.8.0.1", "::1"):
        assert host_allowed(host, None)
    for host in ("evil.example", "10.0.0.1", "0.0.0.0", "localhost.evil.example", None):
        assert not host_allowed(host, None)


def test_with_a_login_the_listed_hosts_or_any() -> None:
    assert Settings(web_auth="u:p").web_allowed_hosts == ("*",)
    listed = Settings(web_auth="u:p", web_hosts=" Web.Example ,*.lab.example,[::1]")
    assert listed.web_allowed_hosts == ("web.example", "*.lab.example", "::1")
    assert host_allowed("web.example", listed.web_allowed_hosts)
    assert host_allowed("a.lab.example", listed.web_allowed_hosts)
    assert host_allowed("::1", listed.web_allowed_hosts)
    for host in ("lab.example", "evil.example", "web.example.evil", "10.0.0.1"):
        assert not host_allowed(host, listed.web_allowed_hosts), host
    assert host_allowed("localhost", listed.web_allowed_hosts)  # loopback names always
    assert host_allowed("anything.at.all", ("*",))


@pytest.mark.parametrize("bad", ["a,,b", "web example", "a/b", "*web.example", "w*.example"])
def test_a_bad_hosts_list_is_one_line(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("MNISTGRID_WEB_HOSTS", bad)
    with pytest.raises(BadInput, match="MNISTGRID_WEB_HOSTS: "):
        load_settings()


def test_serve_refuses_hosts_beyond_loopback_without_a_login() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", "serve"],
        env={
            "PATH": "/usr/bin:/bin",
            "MNISTGRID_DATABASE_URL": "sqlite:////nonexistent/x.db",
            "MNISTGRID_WEB_HOSTS": "localhost,web.example",
        },
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: MNISTGRID_WEB_HOSTS: web.example is beyond this machine, and without a login "
        "the web view answers loopback names only: set MNISTGRID_WEB_AUTH=user:password"
    )
