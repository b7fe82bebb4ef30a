"""``certcheck data update`` / ``data status`` and the Android store builder.

End to end: a real HTTP server on loopback serves copies of the upstream files (built from
the real Conscrypt store under tests/data/upstream/android/), ``certcheck data update``
runs as a subprocess with its own CERTCHECK_DATA_DIR, and ``check-cert`` shows the refreshed
store change a verdict.  Broken downloads (cut short, garbage, HTTP 500, implausible) must
leave the data in use byte for byte as it was, with one clear line and exit code 3.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest
from chaingen import leaf, root
from cryptography.hazmat.primitives.serialization import Encoding
from paths import DATA

from certcheck import datadir, freshness, platforms
from certcheck.trustdata import TableBuilder, TrustDataError, UpstreamFile
from certcheck.trustdata import android as android_builder
from certcheck.trustdata import update as updater

DATA = DATA / "upstream" / "android"
ARCHIVE_PATH = (
    "/platform/external/conscrypt/+archive/refs/heads/main/apex/ca-certificates/files.tar.gz"
)
COMMIT_PATH = "/platform/external/conscrypt/+/refs/heads/main?format=JSON"
ANDROID = ["platforms/android_versions.tsv", "platforms/android_roots.tsv"]
ISRG_X1 = "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"
HOST = "refresh.test"


# --------------------------------------------------------------------------- fixture data


def store_files() -> dict[str, bytes]:
    """The real Conscrypt store (main @ ac344ea4) as {file name: PEM}."""
    files: dict[str, bytes] = {}
    name = None
    lines: list[str] = []
    for line in (DATA / "conscrypt-main-files.pem").read_text().splitlines():
        if line.startswith("# file "):
            if name:
                files[name] = ("\n".join(lines) + "\n").encode()
            name, lines = line.split()[-1], []
        elif not line.startswith("#") and line:
            lines.append(line)
    assert name
    files[name] = ("\n".join(lines) + "\n").encode()
    return files


def archive(files: dict[str, bytes]) -> bytes:
    """A gitiles ``+archive`` answer: a tar.gz of the directory's files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def test_root() -> object:
    return root("Refresh Test Root 2026")


@pytest.fixture(scope="module")
def chain_file(tmp_path_factory: pytest.TempPathFactory, test_root: object) -> Path:
    path = tmp_path_factory.mktemp("chain") / "chain.pem"
    path.write_bytes(leaf(HOST, test_root).cert.public_bytes(Encoding.PEM))  # type: ignore[arg-type]
    return path


@pytest.fixture(scope="module")
def good_archive(test_root: object) -> bytes:
    files = store_files()
    files["ffffffff.0"] = test_root.cert.public_bytes(Encoding.PEM)  # type: ignore[attr-defined]
    return archive(files)


# --------------------------------------------------------------------------- HTTP server


class Upstream:
    """A loopback HTTP server: path -> (status, body, how): how is "ok", "cut" (half the
    body, then the connection closes) or "drip" (one byte every 10 ms)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hits.append(self.path)
                status, body, how = routes.get(self.path, (404, b"not found", "ok"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if how == "drip":
                    for byte in body:
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(0.01)
                    return
                self.wfile.write(body[: len(body) // 2] if how == "cut" else body)
                self.wfile.flush()
                if how == "cut":
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream(good_archive: bytes) -> Iterator[Upstream]:
    server = Upstream()
    server.routes[COMMIT_PATH] = (200, (DATA / "conscrypt-main.json").read_bytes(), "ok")
    server.routes[ARCHIVE_PATH] = (200, good_archive, "ok")
    yield server
    server.stop()


def certcheck(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CERTCHECK_")}
    environ.update(env, CERTCHECK_DATA_DIR=str(data_dir))
    return subprocess.run(
        [sys.executable, "-m", "certcheck", *args],
        capture_output=True, text=True, env=environ, timeout=120,
    )


def update_android(upstream: Upstream, data_dir: Path) -> subprocess.CompletedProcess[str]:
    only = [arg for table in ANDROID for arg in ("--only", table)]
    return certcheck(
        "data", "update", "--source-url", upstream.url, "--timeout", "10", *only, data_dir=data_dir
    )


def android_trust(chain_file: Path, data_dir: Path, tmp: Path) -> dict[str, str]:
    out = tmp / f"result-{len(list(tmp.iterdir()))}.json"
    done = certcheck("check-cert", str(chain_file), "--json", str(out), data_dir=data_dir)
    assert done.returncode in (0, 1), done.stderr
    simulation = json.loads(out.read_text())["results"][0]["simulation"]
    return {s["client"]: s["trust"] for s in simulation if s["client"].startswith("android_1")}


def snapshot_of_dir(data_dir: Path) -> dict[str, bytes]:
    files = (p for p in data_dir.rglob("*") if p.is_file())
    return {str(p.relative_to(data_dir)): p.read_bytes() for p in files}


# --------------------------------------------------------------------------- the builder


def test_builder_reads_real_store_files_like_the_shipped_table():
    certs = android_builder.parse_store(
        android_builder.read_directory(DATA / "excerpt"), min_certs=3
    )
    assert ISRG_X1 in certs and len(certs) == 3
    shipped = {
        row["sha256"]: row
        for row in platforms._read_tsv("platforms", "android_roots.tsv")  # noqa: SLF001
    }
    for sha, cert in certs.items():
        facts = android_builder.cert_facts(cert)
        for column in ("name", "subject", "not_after", "key"):
            assert facts[column] == shipped[sha][column], (sha, column)


def test_a_store_of_three_roots_is_refused_as_truncated():
    with pytest.raises(TrustDataError, match="fewer than 100"):
        android_builder.parse_store(android_builder.read_directory(DATA / "excerpt"))


def _packaged(table: str) -> str:
    return resources.files("certcheck.rules").joinpath(table).read_text(encoding="utf-8")


def test_the_shipped_tables_are_what_the_builder_writes():
    versions, roots = _packaged(ANDROID[0]), _packaged(ANDROID[1])
    assert android_builder.extend_tables(versions, roots, []) == (versions, roots)
    # Snapshot 16 rebuilt from the real store files (main's tree equals android16-release's).
    store = android_builder.parse_store(store_files())
    sixteen = android_builder.Snapshot(
        "16", 36, 36, "android16-release (last CA change ebf1b9b0, 2025-01-02)",
        "aosp-conscrypt-mirror", "ebf1b9b005d0d94c79fe59ef21dc7bf08a1b796a",
        date(2025, 1, 2), "high", store,
    )
    assert android_builder.extend_tables(versions, roots, [sixteen]) == (versions, roots)


def test_gitiles_commit_json_is_read_and_garbage_refused():
    commit, day = android_builder.read_commit((DATA / "conscrypt-main.json").read_bytes())
    assert commit == "ac344ea45813bf9669084e1c2b1ff4f6a3e7db71" and day == date(2025, 2, 4)
    with pytest.raises(TrustDataError):
        android_builder.read_commit(b")]}'\n{\"commit\": \"nope\"}")


# --------------------------------------------------------------------------- end to end


def test_update_then_status_then_a_verdict_uses_the_refreshed_store(
    upstream: Upstream, tmp_path: Path, chain_file: Path
):
    data_dir = tmp_path / "data"
    before = android_trust(chain_file, data_dir, tmp_path)
    assert before["android_16"] == "untrusted" and before["android_14"] == "untrusted"

    done = update_android(upstream, data_dir)
    assert done.returncode == 0, done.stderr
    assert "updated platforms/android_roots.tsv (snapshot 2025-02-04)" in done.stdout
    assert set(upstream.hits) == {COMMIT_PATH, ARCHIVE_PATH}  # each file fetched once

    manifest = json.loads((data_dir / "manifest.json").read_text())
    for table in ANDROID:
        entry = manifest["tables"][table]
        content = (data_dir / "tables" / entry["sha256"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == entry["sha256"]
        assert entry["snapshot"] == "2025-02-04"
        assert entry["sources"][0].startswith("https://android.googlesource.com/")

    status = certcheck("data", "status", data_dir=data_dir)
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines() if line.strip()}
    assert "refreshed" in rows["platforms/android_roots.tsv"]
    assert "2025-02-04" in rows["platforms/android_roots.tsv"]
    assert "packaged" in rows["platforms/apple_roots.tsv"]
    listing = certcheck("rules", "--data", data_dir=data_dir, COLUMNS="200")
    rows = {line.split()[0]: line.split() for line in listing.stdout.splitlines() if line.strip()}
    assert rows["platforms/android_roots.tsv"][1:3] == ["user", "2025-02-04"]
    assert rows["platforms/apple_roots.tsv"][1] == "packaged"
    assert "refreshed from https://android.googlesource.com/" in listing.stdout

    after = android_trust(chain_file, data_dir, tmp_path)
    # The updatable store (Android 14+) now has the root; the frozen Android 13 store not.
    assert after["android_16"] == "ok" and after["android_14"] == "ok"
    assert after["android_13"] == "untrusted"

    # The same files from a directory (offline) give the same tables.
    offline = tmp_path / "offline"
    offline.mkdir()
    (offline / "conscrypt-main.json").write_bytes(upstream.routes[COMMIT_PATH][1])
    (offline / "conscrypt-ca-files.tar.gz").write_bytes(upstream.routes[ARCHIVE_PATH][1])
    other = tmp_path / "data2"
    only = [arg for table in ANDROID for arg in ("--only", table)]
    done = certcheck("data", "update", "--from", str(offline), *only, data_dir=other)
    assert done.returncode == 0, done.stderr
    assert sorted((other / "tables").iterdir()) == [
        other / "tables" / p.name for p in sorted((data_dir / "tables").iterdir())
    ]


def _cut(upstream: Upstream) -> None:
    status, body, _ = upstream.routes[ARCHIVE_PATH]
    upstream.routes[ARCHIVE_PATH] = (status, body, "cut")


def _garbage(upstream: Upstream) -> None:
    upstream.routes[ARCHIVE_PATH] = (200, os.urandom(4096), "ok")


def _server_error(upstream: Upstream) -> None:
    upstream.routes[ARCHIVE_PATH] = (500, b"oops", "ok")


def _tiny_store(upstream: Upstream) -> None:
    files = dict(list(store_files().items())[:5])
    upstream.routes[ARCHIVE_PATH] = (200, archive(files), "ok")


def _bad_commit(upstream: Upstream) -> None:
    upstream.routes[COMMIT_PATH] = (200, b"<html>sign in</html>", "ok")


def _gzip_cut_short(upstream: Upstream) -> None:
    body = upstream.routes[ARCHIVE_PATH][1]
    upstream.routes[ARCHIVE_PATH] = (200, body[: len(body) // 3], "ok")  # honest length


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_cut, "got "),
        (_garbage, "not a tar.gz"),
        (_server_error, "HTTP 500"),
        (_tiny_store, "fewer than 100"),
        (_bad_commit, "commit JSON"),
        (_gzip_cut_short, "truncated"),
    ],
)
def test_a_broken_download_leaves_the_data_in_use_untouched(
    upstream: Upstream,
    tmp_path: Path,
    chain_file: Path,
    spoil: Callable[[Upstream], None],
    message: str,
):
    data_dir = tmp_path / "data"
    assert update_android(upstream, data_dir).returncode == 0
    before = snapshot_of_dir(data_dir)
    spoil(upstream)
    done = update_android(upstream, data_dir)
    assert done.returncode == updater_exit_code()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("certcheck: data not updated: "), done.stderr
    assert message in lines[0] and "Traceback" not in done.stderr
    assert snapshot_of_dir(data_dir) == before  # nothing written, nothing half-written
    assert android_trust(chain_file, data_dir, tmp_path)["android_16"] == "ok"


def updater_exit_code() -> int:
    from certcheck.cli.data import EXIT_NOT_UPDATED

    return EXIT_NOT_UPDATED


def test_one_table_alone_is_refused_by_the_apps_own_loader(upstream: Upstream, tmp_path: Path):
    # android_roots.tsv names a snapshot only the refreshed android_versions.tsv has.
    done = certcheck(
        "data", "update", "--source-url", upstream.url, "--only", ANDROID[1],
        data_dir=tmp_path / "data",
    )
    assert done.returncode == 3
    assert "do not load" in done.stderr and "updatable-2025-02-04" in done.stderr
    assert not (tmp_path / "data" / "manifest.json").exists()


def test_a_garbage_manifest_means_the_packaged_tables(tmp_path: Path):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "manifest.json").write_bytes(b"\x00{not json")
    done = certcheck("data", "status", data_dir=tmp_path)
    assert done.returncode == 0 and "unreadable or empty" in done.stdout
    row = next(ln for ln in done.stdout.splitlines() if ln.startswith(ANDROID[1]))
    assert row.split()[1] == "packaged"


def test_public_hosts_over_http_and_unknown_tables_are_usage_errors(tmp_path: Path):
    done = certcheck("data", "update", "--source-url", "http://example.com", data_dir=tmp_path)
    assert done.returncode == 2 and "only https://" in done.stderr
    done = certcheck("data", "update", "--only", "platforms/nope.tsv", data_dir=tmp_path)
    assert done.returncode == 2 and "no builder for platforms/nope.tsv" in done.stderr
    with pytest.raises(updater.UpdateError):
        updater.check_url("file:///etc/passwd")


# --------------------------------------------------------------------------- in process


def test_downloads_are_capped_in_size_and_time():
    server = Upstream()
    try:
        server.routes["/big"] = (200, b"x" * 5000, "ok")
        server.routes["/slow"] = (200, b"y" * 150, "drip")
        assert updater.download(f"{server.url}/big", max_bytes=5000) == b"x" * 5000
        with pytest.raises(updater.UpdateError, match="larger than 4999 bytes"):
            updater.download(f"{server.url}/big", max_bytes=4999)
        started = time.monotonic()
        with pytest.raises(updater.UpdateError, match="slower than"):
            updater.download(f"{server.url}/slow", timeout=0.05)
        assert time.monotonic() - started < 5
    finally:
        server.stop()


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(datadir.ENV_DIR, str(tmp_path / "data"))
    yield tmp_path / "data"
    for loader in updater._loader_caches():  # noqa: SLF001 - drop what the test made
        loader.cache_clear()  # type: ignore[attr-defined]


def _fake(text: str, min_rows: int = 1) -> TableBuilder:
    return TableBuilder(
        table="platforms/android_versions.tsv",
        description="test-only builder",
        upstream=(UpstreamFile("in.txt", "https://upstream.invalid/in.txt"),),
        build=lambda files: text + files["in.txt"].decode(),
        min_rows=min_rows,
    )


def test_a_test_only_builder_goes_through_the_same_checks(user_dir: Path):
    src = user_dir.parent / "src"
    src.mkdir()
    (src / "in.txt").write_text("")
    versions = _packaged(ANDROID[0])
    # Too few rows: refused before anything is parsed or written.
    with pytest.raises(updater.UpdateError, match="fewer than the 500 expected"):
        updater.update([_fake(versions, 500)], directory=user_dir, from_dir=src)
    # Rows the app's loader rejects (api_min > api_max): refused.
    broken = versions.replace("\t36\t36\tandroid16", "\t36\t30\tandroid16")
    with pytest.raises(updater.UpdateError, match="do not load"):
        updater.update([_fake(broken)], directory=user_dir, from_dir=src)
    assert not user_dir.exists()
    # A good one is written and then read by the loaders.
    extra = "17\t37\t37\ttest\taosp-main\t" + "0" * 40 + "\t2026-01-01\t0\tmedium\n"
    built = updater.update(
        [_fake(versions + extra)], directory=user_dir, from_dir=src,
        now=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert built[0].snapshot == date(2025, 1, 2)  # the header's date, not the fetch date
    platforms._android_versions.cache_clear()  # noqa: SLF001
    assert platforms.android_known_api_range() == (9, 37)
    # An edited file no longer matches the manifest: the packaged table is used again.
    (user_dir / "tables" / built[0].sha256).write_text(versions + extra + extra)
    platforms._android_versions.cache_clear()  # noqa: SLF001
    assert platforms.android_known_api_range() == (9, 36)
    assert datadir.user_state(ANDROID[0])[1] == "damaged"


def test_the_age_note_names_only_verdict_tables_and_the_refresh_command(user_dir: Path):
    sources = {s.file: s.snapshot for s in platforms.data_sources()}
    # The day the newest verdict table turns stale, compromised_roots.toml (historic events)
    # is years old and still not named.
    day = max(sources[f] for f in ("clients.toml", "distrusted_cas.toml")) + (
        date(2026, 1, 1) - date(2025, 12, 31)
    ) * (freshness.STALE_AFTER_DAYS + 1)
    stale = {t["file"] for t in freshness.stale_tables(day)}
    assert "compromised_roots.toml" not in stale and "catalog/*.toml" not in stale
    assert {"clients.toml", "distrusted_cas.toml", *ANDROID} <= stale
    note = freshness.stale_note(day)
    assert note and "certcheck data update" in note and "upgrade certcheck" not in note
    # Fresh everything: no note at all.
    assert freshness.stale_note(min(sources.values())) is None
