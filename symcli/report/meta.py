"""The report's header: the run's settings in words, where the data came from, what 'test' means, and the
legend of the guarantees and the certificate."""

from __future__ import annotations

from pathlib import Path

from symcli.report.loading import Cell, raw_manifest, read_json

DEFAULT_PINS = "default (all for d = 1, paper for d >= 2)"

LEGEND = [
    (
        "exact",
        "d = 1 with the pin rule all: the dictionary holds every breakpoint the network can use, so the Lasso "
        "optimum (solved to convergence, confirmed by the certificate when it is computed) is the global minimum of "
        "the deep |.| network's training objective to within the stated duality gap (duality_gap, global_gap).",
    ),
    (
        "certified",
        "the certificate was computed exactly (1-D enumeration, 2-D angle sweep, 3-D great-circle sweeps at depth "
        "<= 3) and is at most 1e-6: the "
        "residual scaled by 1/(1 + certificate) is dual feasible for the continuous dictionary, so the objective is "
        "the global minimum to within the stated duality gap (global_gap in the cell's metrics).",
    ),
    (
        "upper-bound",
        "no proof of optimality (the certificate is over 1e-6, only sampled, or not computed): the objective is "
        "that of a real network, so the global minimum is at most this; a trained network may end below it "
        "without contradicting the theory.",
    ),
    (
        "certificate",
        "V/β − 1, with V the largest |λᵀφ(X)| over the continuous dictionary at the fit's residual λ: at most 1e-6 "
        "proves global optimality to within the stated duality gap (global_gap); above it some feature would still "
        "lower the objective (--refine adds it). "
        "'≥ x': sampled directions (d >= 4, d = 3 at depth 4, or over the exact sweeps' budgets), a lower bound on "
        "the true value. "
        "'not computed': pricing even one direction would exceed the certificate's budget.",
    ),
    (
        "seconds",
        "'Lasso fit s' is one cell's Lasso: dictionary, solve, certificate and refinement (build_s and solve_s apart "
        "in tables/metrics.csv); 'nets s' is the training of its networks; the embedding is not included.",
    ),
]


def readable(v) -> str:
    """A setting in words: lists joined, booleans as yes/no, None as 'default'."""
    if v is None:
        return "default"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(readable(x) for x in v)
    return str(v)


def source_text(source: dict) -> str:
    """Where a dataset's texts came from (the `source` of its raw manifest)."""
    kind = source.get("kind")
    if kind == "hub":
        where = f"Hugging Face hub {source.get('repo_id')}" + (
            f", config {source['config']}" if source.get("config") else ""
        )
        return f"{where} at revision {source.get('revision')}"
    if kind == "mirror":
        return f"local mirror {source.get('folder') or source.get('mirror')}"
    if kind == "file":
        return f"local {source.get('format')} {source.get('path')} (through datasets)"
    if kind == "pypi":
        return f"PyPI package {source.get('package')}" + (f" ({source['note']})" if source.get("note") else "")
    return "unknown (not recorded)"


def test_text(split: str | None, n_test) -> str:
    if not split:
        return "no held-out rows"
    n = f"{n_test} " if n_test else ""
    if split.startswith("train"):
        return (
            f"{n}training-split rows not used for training (the source has no labelled test split): "
            "'test' accuracy is on held-out train rows"
        )
    if "(" in split:  # e.g. "validation (held-out rows, disjoint from training)": the split says it all
        return f"{n}rows per cell: {split} (seeded, label-stratified)"
    return f"{n}rows of the {split} split per cell (seeded, label-stratified)"


def data_lines(cells: list[Cell], n_test) -> list[tuple[str, str]]:
    """('data', source) and ('test', meaning) per dataset, from the first finished cell's metrics."""
    out, seen = [], set()
    many = len({c.row.get("dataset") for c in cells if c.done}) > 1
    for c in cells:
        data = (c.metrics or {}).get("data") or {}
        ds = data.get("dataset")
        if not c.done or ds in seen:
            continue
        seen.add(ds)
        emb = data.get("embedding") or {}
        tag = f" ({ds})" if many else ""
        sha = emb.get("data_manifest_sha256")
        src = source_text(emb.get("source") or (raw_manifest(ds, sha) or {}).get("source") or {})
        sha = str(sha or "")[:12]
        out.append(("data", f"{ds}: {src}; raw manifest sha256 {sha}…" if sha else f"{ds}: {src}"))
        out.append((f"test{tag}", test_text(data.get("test_split"), n_test)))
    return out


def _beta_text(f: dict, grid: dict, cells: list[Cell]) -> str:
    betas = [c.row["beta"] for c in cells if c.done and c.row.get("beta") is not None]
    absolute = f"{min(betas):.4g}" + (f" to {max(betas):.4g}" if max(betas) > min(betas) else "") if betas else "?"
    values = readable(grid.get("beta"))
    if f.get("beta_mode", "fraction") == "fraction":
        return f"{values} × β_max of each cell's training subset; absolute β {absolute}"
    return f"{values} (absolute)"


def header(root: Path, cells: list[Cell]) -> list[tuple[str, str]]:
    """The meta table: (name, value in words) pairs."""
    run = read_json(root / "run.json") or {}
    cfg, prov = run.get("config") or {}, run.get("provenance") or {}
    e, f, n, g = (cfg.get(k) or {} for k in ("embedding", "fit", "nets", "grid"))
    done = sum(c.done for c in cells)
    failed = sum(c.row.get("status") == "failed" for c in cells)
    damaged = sum(c.row.get("status") == "damaged" for c in cells)
    out = [
        ("run", f"{cfg.get('name', root.name)} ({root})"),
        ("cells", f"{len(cells)}: {done} done, {failed} failed" + (f", {damaged} damaged" if damaged else "")),
    ]
    if g:
        out.append(("grid", "; ".join(f"{k}: {readable(v)}" for k, v in g.items() if k != "beta")))
        out.append(("β", _beta_text(f, g, cells)))
    out += data_lines(cells, f.get("n_test"))
    if e:
        limit = f", first {e['limit']} texts per split" if e.get("limit") else ""
        out.append(
            ("embedding", f"{e.get('model')} (max length {e.get('max_length')}, pooling {e.get('pooling')}{limit})")
        )
    if f:
        out.append(
            (
                "fit",
                f"directions: {readable(f.get('directions'))}; pins: "
                f"{DEFAULT_PINS if f.get('pins') is None else f['pins']}; norm: {f.get('norm')}; solver: "
                f"{f.get('solver')}; refine: "
                + ("where the certificate is exact" if f.get("refine") is None else readable(f.get("refine"))),
            )
        )
    if n and n.get("count"):
        base = "; ReLU MLP with weight decay beside them" if n.get("baseline") else ""
        acts, widths = (v if isinstance(v, list) else [v] for v in (n.get("activation") or "abs", n.get("width")))
        widths = [w for w in widths if w is not None]  # runs before the width axis hold one width or null
        act = "|.|" if acts == ["abs"] else "activation " + ", ".join(acts) + " (one cell each)"
        axis = " (one cell each; Nx: N times the Lasso's nnz)" if len(widths) > 1 else ""
        width = f"; width {', '.join(map(str, widths))}{axis}" if widths else ""
        out.append(
            (
                "nets",
                f"{n['count']} seed(s) of the parallel {act} network per cell; {n.get('optimizer')}, "
                f"{n.get('epochs')} epochs, learning rate {n.get('lr')}{width}{base}",
            )
        )
    if prov:
        out.append(("created", f"{prov.get('created')}, git {str(prov.get('git_sha'))[:10]}"))
    return out
