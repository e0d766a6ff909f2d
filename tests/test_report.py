"""symcli report: tables, symmetry report, figures and the HTML page of a small real run (mock encoder)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import reseal
from text_fixtures import sentence
from typer.testing import CliRunner

from symcli.cli import app
from symcli.config import RunConfig
from symcli.lasso.features import psi
from symcli.report.figures import cell_function, kink_offsets
from symcli.runs import run_config

CHROMIUM = Path("/usr/bin/chromium")
CONFIG = {
    "name": "rep",
    "embedding": {"model": "mock-16"},
    "grid": {"dataset": ["glue/sst2", "glue/mrpc"], "depth": [2, 3], "dim": [1, 2], "n_train": [16]},
    "fit": {"n_test": 16},
    "nets": {"count": 1, "epochs": 30},
}
SST2_TRAIN = [sentence(i) for i in range(40)]


def write_sst2(mirror: Path) -> None:
    """glue/sst2/{train,validation}-00000-of-00001.parquet (sentence, label, idx), hub layout; no mrpc."""
    for split, n, off in (("train", 40, 0), ("validation", 16, 500)):
        path = mirror / "glue" / "sst2" / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = {
            "sentence": [sentence(off + i) for i in range(n)],
            "label": pa.array([i % 2 for i in range(n)], pa.int64()),
            "idx": pa.array(range(n), pa.int32()),
        }
        pq.write_table(pa.table(table), path)


@pytest.fixture(scope="module")
def run_root(tmp_path_factory) -> Path:
    """A finished run: 4 glue/sst2 cells (depth 2, 3 x dim 1, 2; one net each) and 4 failed glue/mrpc cells."""
    base = tmp_path_factory.mktemp("report_run")
    write_sst2(base / "mirror")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {
            "SYMCLI_DATA_DIR": base / "data",
            "SYMCLI_RESULTS_DIR": base / "results",
            "SYMCLI_MIRROR": base / "mirror",
            "HF_HOME": base / "hf_home",
            "HF_HUB_OFFLINE": "1",
        }.items():
            mp.setenv(k, str(v))
        summary = run_config(RunConfig.model_validate(CONFIG))
    assert summary["cells"] == 8 and summary["failed"] == 4
    return base / "results" / "rep"


@pytest.fixture(scope="module")
def report(run_root, tmp_path_factory) -> tuple[Path, dict]:
    """`symcli report RUN --json` on a copy of the run (the default: every format)."""
    root = tmp_path_factory.mktemp("report_copy") / "rep"
    shutil.copytree(run_root, root)
    res = CliRunner().invoke(app, ["report", str(root), "--json"])
    assert res.exit_code == 0, res.output
    return root, json.loads(res.stdout)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the IHDR chunk of a PNG file; fails for anything else."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_report_writes_tables_figures_and_page(report):
    root, out = report
    rep = root / "report"
    assert out["report"] == str(rep) and out["primary"] == str(rep / "index.html")
    assert (out["cells"], out["done"], out["failed"], out["contradictions"]) == (8, 4, 4, 0)
    for name in ("index.html", "report.md", "report.tex", "tables/metrics.csv", "tables/failed.csv"):
        assert (rep / name).is_file() and (rep / name).stat().st_size > 0, name
    figs = sorted(rep.glob("figures/*.png"))
    assert len(figs) == 7 == len(out["figures"])  # shares, symmetry, nets + one fit per sst2 cell
    for p in figs:
        w, h = png_size(p)
        assert w > 300 and h > 200 and p.stat().st_size > 5000, p.name
    fits = {p.name for p in figs if p.name.startswith("fit_")}
    assert fits == {f"fit_glue-sst2_L{L}_d{d}_pca_n16_b0.05_s0.png" for L in (2, 3) for d in (1, 2)}

    results = pd.read_parquet(root / "results.parquet").set_index("cell")
    metrics = pd.read_csv(rep / "tables" / "metrics.csv").set_index("cell")
    assert sorted(metrics.index) == sorted(results.index)
    done = results[results.status == "done"]
    assert len(done) == 4
    for cell, r in done.iterrows():
        m = json.loads((root / cell / "metrics.json").read_text())
        assert metrics.loc[cell, "status"] == "done"
        assert metrics.loc[cell, "objective"] == pytest.approx(r.objective, rel=1e-12)
        assert metrics.loc[cell, "nnz"] == r.nnz and metrics.loc[cell, "guarantee"] == r.guarantee
        assert metrics.loc[cell, "test_accuracy"] == pytest.approx(r.test_accuracy)
        assert metrics.loc[cell, "beta"] == pytest.approx(m["beta"]) and metrics.loc[cell, "beta_grid"] == 0.05
    failed = pd.read_csv(rep / "tables" / "failed.csv")
    assert sorted(failed.cell) == sorted(results.index[results.status == "failed"])
    assert all(c.startswith("glue-mrpc") and "glue/mrpc" in e for c, e in zip(failed.cell, failed.error, strict=True))

    mirrors = pd.read_csv(rep / "tables" / "top_mirrors.csv")
    assert set(mirrors.cell) == set(done.index)
    for _, r in mirrors.iterrows():
        texts, pins = json.loads(r.texts), json.loads(r.pinning_points)
        assert len(texts) == len(pins) > 0 and set(texts) <= set(SST2_TRAIN)
    by_depth = pd.read_csv(rep / "tables" / "symmetry_by_depth.csv")
    assert set(zip(by_depth.dim, by_depth.depth, strict=True)) == {(1, 2), (1, 3), (2, 2), (2, 3)}
    assert by_depth[by_depth.depth == 2].share_plane.tolist() == [1.0, 1.0]
    assert np.allclose(by_depth.share_plane + by_depth.share_reflection + by_depth.share_midpoint, 1.0)
    assert np.allclose(by_depth.share_level0 + by_depth.share_level1.fillna(0.0), 1.0)
    for _, g in by_depth.iterrows():  # one cell per group here: the means are the cell's values
        r = done[(done.dim == g.dim) & (done.depth == g.depth)].iloc[0]
        assert (g.share_reflection, g.mean_E_H) == (pytest.approx(r.share_reflection), pytest.approx(r.mean_E_H))
    nets = pd.read_csv(rep / "tables" / "nets.csv")
    assert len(nets) == 4 and (nets.ratio_to_lasso >= 1 - 1e-6).all()

    page = (rep / "index.html").read_text()
    assert page.index("Headline metrics") < page.index("Symmetry") < page.index("Figures")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for f in out["figures"]:
        assert f'src="{f}"' in page
    for cell in results.index:
        assert cell in page and cell in (rep / "report.md").read_text()
    assert "No contradictions" in page
    tex = (rep / "report.tex").read_text()
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert "glue-sst2\\_L3\\_d2" in tex


def test_solution_function_reproduces_the_recorded_fit(report):
    root, _ = report
    for cell in ("glue-sst2_L3_d1_pca_n16_b0.05_s0", "glue-sst2_L3_d2_pca_n16_b0.05_s0"):
        m = json.loads((root / cell / "metrics.json").read_text())
        with np.load(root / cell / "solution.npz") as z:
            sol = {k: z[k] for k in z.files}
        fx = cell_function(sol)(sol["X"])
        obj = 0.5 * np.sum((fx - sol["y"]) ** 2) + m["beta"] * np.abs(sol["z"]).sum()
        assert obj == pytest.approx(m["objective"], rel=1e-9)
        assert np.mean(np.sign(fx) == sol["y"]) == pytest.approx(m["train_accuracy"])


def test_kink_offsets_are_the_nested_zeros():
    assert kink_offsets([]) == [(0.0, 0)]
    assert sorted(kink_offsets([0.5])) == [(-0.5, 1), (0.0, 0), (0.5, 1)]
    got = sorted(round(u, 12) for u, _ in kink_offsets([0.5, 0.2]))
    assert got == [-0.7, -0.5, -0.3, 0.0, 0.3, 0.5, 0.7]
    got = sorted(round(u, 12) for u, lvl in kink_offsets([0.2, 0.5]) if lvl == 2)
    assert got == [-0.7, 0.7]  # c3 > c2: |u| = c2 - c3 < 0 has no solution
    for c in ([0.5, 0.2], [0.2, 0.5], [0.3]):
        h = 1e-6
        for u, _ in kink_offsets(c):
            p = psi(np.array([[u - h, u, u + h]]), np.array([c]))[0]
            assert abs((p[2] - p[1]) - (p[1] - p[0])) > 1e-7, (c, u)  # the slope changes there


def test_contradiction_is_shown_first(run_root, tmp_path):
    root = tmp_path / "rep"
    shutil.copytree(run_root, root)
    cell = root / "glue-sst2_L2_d1_pca_n16_b0.05_s0"
    m = json.loads((cell / "metrics.json").read_text())
    bad = {**m["nets"][0], "objective": m["objective"] * 0.9, "ratio_to_lasso": 0.9}
    m["contradictions"] = [bad]
    (cell / "metrics.json").write_text(json.dumps(m))
    reseal(cell, "metrics.json")  # a finished result that holds a contradiction, not a damaged file
    res = CliRunner().invoke(app, ["report", str(root)])
    assert res.exit_code == 0, res.output
    assert "1 trained network(s) contradict the theory" in res.stderr
    page = (root / "report" / "index.html").read_text()
    assert 'class="alert"' in page and page.index("contradiction(s) with the theory") < page.index("Headline")
    assert "glue-sst2_L2_d1_pca_n16_b0.05_s0: network seed 0" in page
    md = (root / "report" / "report.md").read_text()
    assert md.index("> **⚠ 1 contradiction(s)") < md.index("## Headline metrics")


def test_run_name_and_single_format_rebuild_the_folder(run_root, monkeypatch):
    monkeypatch.setenv("SYMCLI_RESULTS_DIR", str(run_root.parent))
    stale = run_root / "report" / "figures" / "stale.png"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")
    res = CliRunner().invoke(app, ["report", "rep", "--format", "md"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().endswith(str(run_root / "report" / "report.md"))
    rep = run_root / "report"
    assert (rep / "report.md").is_file() and not (rep / "index.html").exists() and not stale.exists()
    assert len(list(rep.glob("figures/*.png"))) == 7 and (rep / "tables" / "metrics.csv").is_file()
    res = CliRunner().invoke(app, ["report", "rep", "-f", "csv", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["figures"] == [] and all(f.startswith("tables/") for f in out["files"])
    assert sorted(p.name for p in rep.iterdir()) == ["tables"]
    assert not list(run_root.glob(".report*"))  # no staging folder left behind


@pytest.mark.parametrize(
    "args, message",
    [
        (["no-such-run"], "no run 'no-such-run'"),
        (["EMPTY"], "has no results.parquet"),
        (["RUN", "--format", "pdf"], "unknown report format 'pdf'"),
    ],
)
def test_bad_run_exits_2_with_one_line(run_root, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    args = [{"EMPTY": str(tmp_path / "empty"), "RUN": str(run_root)}.get(a, a) for a in args]
    before = sorted(p.name for p in run_root.iterdir())
    res = CliRunner().invoke(app, ["report", *args])
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and message in res.stderr and res.stderr.count("\n") == 1
    assert res.stdout == ""
    assert not (tmp_path / "empty" / "report").exists() and sorted(p.name for p in run_root.iterdir()) == before


# ------------------------------------------------------------------------------------------- browser


class DevTools:
    """A headless Chromium driven over the DevTools protocol (websocket-client)."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.ws, self.next_id = None, 0
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        import websocket

        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=20, suppress_origin=True)

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the session chromium was started in
            self.proc.wait(10)
        deadline = time.monotonic() + 10
        try:  # wait for its helper processes (same process group) to exit too
            while time.monotonic() < deadline:
                os.killpg(self.proc.pid, 0)
                time.sleep(0.1)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_every_image_of_the_page_loads_in_chromium(report, tmp_path):
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent (Debian package chromium; .ci/run installs it)")
    pytest.importorskip("websocket", reason="the browser test needs websocket-client (the test extra)")
    root, out = report
    page = (root / "report" / "index.html").resolve()
    browser = DevTools(tmp_path / "profile")
    try:
        browser.call("Page.navigate", url=page.as_uri())
        deadline = time.monotonic() + 30
        while True:
            state = browser.evaluate(
                "document.location.href + ' ' + document.readyState + ' ' + "
                "Array.from(document.images).every(i => i.complete)"
            )
            if state == f"{page.as_uri()} complete true":
                break
            assert time.monotonic() < deadline, f"page did not finish loading: {state}"
            time.sleep(0.1)
        images = browser.evaluate(
            "Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight])"
        )
        title = browser.evaluate("document.title")
    finally:
        browser.close()
    assert title == "symcli report: rep"
    assert sorted(src for src, _, _ in images) == sorted(out["figures"])
    for src, w, h in images:
        assert (w, h) == png_size(root / "report" / src), src


def test_latex_document_compiles(report, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is absent (Debian package texlive-latex-recommended)")
    root, _ = report
    res = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={tmp_path}", "report.tex"],
        cwd=root / "report",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 10_000
