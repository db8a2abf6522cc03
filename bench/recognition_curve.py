"""Recognition on real handwriting: held-out CER against the number of training lines.

Each DATA_DIR is a folder of PAGE or ALTO files with their images (eScriptorium's
export, e.g. a set from HTR-United; see the README, "Benchmarks", for the sets
measured and where to get them). Each is imported into a fresh edition through the
workbench's own import. Then, for each size in ``--sizes``:

- the lines whose id falls in the held-out bucket (``training.HELD_OUT``) are marked
  verified (at most ``--held-out`` of them, the same ones for every size);
- ``size`` other lines with text, in a fixed pseudo-random order (by the CRC-32 of
  their id), are marked verified to train on, plus about one in nine more that fall
  in the validation bucket; every other line is machine text, never learnt from;
- a model is trained through ``training.train`` (the path the CLI and the job take)
  with the workbench's defaults or the settings given, from nothing or fine-tuning
  ``--base`` (a model file, e.g. one ``workbench pretrain`` made), stopped after
  ``--minutes`` at most, and measured on the held-out lines.

With ``--base MODEL_FILE`` (a user's kraken model file, .mlmodel or .safetensors)
each model is fine-tuned from it (``workbench train --base``), its alphabet grown by
the set's characters; size 0 measures that model as it is, untrained, on the same
held-out lines (zero-shot: epochs 0, minutes are the reading time).

It prints a table: set, training lines, epochs run, kept epoch, minutes, held-out
CER and WER; and, for each model, Spearman's rank correlation between a line's
confidence (what recognition writes into ``lb/@cert``) and its CER on the held-out
lines: a negative figure means the least certain lines are indeed the worst read.

Run: .venv/bin/python bench/recognition_curve.py DATA_DIR [DATA_DIR...]
     [--sizes 100,300,1000,all] [--minutes 30] [--held-out 150] [--spec VGSL] [--base MODEL_FILE] ...
     e.g. fine-tuning a user's model: ... DATA_DIR --base model.mlmodel --sizes 0,100,300 --minutes 10
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import zlib
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from workbench.edition import Edition
from workbench.exchange.transfer import import_path
from workbench.htr import kraken, training
from workbench.images import facsimile
from workbench.tei.text import diplomatic_text


def prepare(edition: Edition, data_dir: Path) -> str:
    """Import ``data_dir`` as a manuscript; its id."""
    report = import_path(edition, data_dir, "bench", manuscript_id=_id(data_dir))
    return report.manuscript_id


def _id(data_dir: Path) -> str:
    name = "".join(c if c.isalnum() else "-" for c in data_dir.resolve().name).strip("-").lower()
    return ("set-" + name)[:60]


def lines_with_text(edition: Edition, manuscript_id: str) -> list[str]:
    return [line.id for line in edition.load(manuscript_id).lines() if line.text and diplomatic_text(line.text).strip()]


def choose(line_ids: list[str], size: int | None, held_out_cap: int) -> tuple[set[str], set[str]]:
    """The held-out lines (capped) and the lines to train and validate on (``size`` training lines)."""
    order = sorted(line_ids, key=lambda line_id: (zlib.crc32(line_id.encode()) * 2654435761) % 2**32)
    held_out = [i for i in order if training.bucket(i) == training.HELD_OUT][:held_out_cap]
    chosen: list[str] = []
    trained = 0
    for line_id in order:
        if training.bucket(line_id) == training.HELD_OUT:
            continue
        if size is not None and trained >= size:
            break
        chosen.append(line_id)
        trained += training.bucket(line_id) != training.VALIDATION
    return set(held_out), set(chosen)


def mark(edition: Edition, manuscript_id: str, verified: set[str]) -> None:
    """Lines in ``verified`` become verified; every other line with text machine text."""
    with edition.edit(manuscript_id, who="bench") as manuscript:
        for line in manuscript.lines():
            if line.text:
                line.status = "verified" if line.id in verified else "automatic"


def confidence_correlation(
    edition: Edition, manuscript_id: str, model: str, held_out: set[str]
) -> tuple[float | None, int]:
    """Spearman's rho between each held-out line's confidence and its CER, and the number of lines."""
    weights = training.ModelStore.of(edition).resolve(model)
    manuscript = edition.load(manuscript_id)
    pairs = []
    for page in manuscript.pages:
        lines = [line for line in page.lines if line.id in held_out]
        if not lines:
            continue
        image = facsimile.open_page(edition.image_path(manuscript_id, page), page.frame)
        found = {r.line_id: r for r in kraken.recognize_lines(image, lines, weights)}
        for line in lines:
            truth = diplomatic_text(line.text).strip()
            read = found.get(line.id)
            if read is None or read.confidence is None:
                continue
            cer = Levenshtein.distance(read.text.strip(), truth) / max(1, len(truth))
            pairs.append((read.confidence, cer))
    if len(pairs) < 3:
        return None, len(pairs)
    return spearman([c for c, _ in pairs], [e for _, e in pairs]), len(pairs)


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (ties get their mean rank); None if either side is constant."""

    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        result = [0.0] * len(values)
        start = 0
        while start < len(order):
            end = start
            while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
                end += 1
            for k in range(start, end + 1):
                result[order[k]] = (start + end) / 2
            start = end + 1
        return result

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    if not sxx or not syy:
        return None
    return sxy / (sxx * syy) ** 0.5


def arguments_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dirs", metavar="DATA_DIR", nargs="+", type=Path)
    parser.add_argument(
        "--sizes", default="100,300,1000,all", help="training lines per model ('all': every line; 0: --base untrained)"
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="training time cap per model")
    parser.add_argument("--held-out", type=int, default=150, help="at most this many held-out lines per set")
    parser.add_argument("--epochs", type=int, default=None, help="at most this many epochs (default: the workbench's)")
    parser.add_argument(
        "--base",
        type=Path,
        default=None,
        help="fine-tune this model file (e.g. a base from `workbench pretrain`) instead of starting afresh",
    )
    parser.add_argument("--spec", default=None, help="VGSL network (default: the workbench's)")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--schedule", choices=kraken.SCHEDULES, default=None)
    parser.add_argument("--patience", type=int, default=None)
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--normalization", default=None, help="NFC, NFD, NFKC, NFKD")
    parser.add_argument("--padding", type=int, default=None)
    parser.add_argument("--no-confidence", action="store_true", help="skip the confidence/CER correlation")
    return parser


def training_options(arguments: argparse.Namespace) -> dict:
    """The settings given, as ``training.train`` takes them; the workbench's defaults for the others."""
    if arguments.base is not None and not arguments.base.is_file():
        raise SystemExit(f"--base {arguments.base}: no such model file")
    return {
        name: value
        for name, value in (
            ("base", None if arguments.base is None else str(arguments.base.resolve())),
            ("epochs", arguments.epochs),
            ("spec", arguments.spec),
            ("learning_rate", arguments.learning_rate),
            ("batch_size", arguments.batch_size),
            ("schedule", arguments.schedule),
            ("patience", arguments.patience),
            ("augment", arguments.augment),
            ("normalization", arguments.normalization),
            ("padding", arguments.padding),
        )
        if value is not None
    }


def main() -> None:
    arguments = arguments_parser().parse_args()
    options = training_options(arguments)
    sizes = [None if size == "all" else int(size) for size in arguments.sizes.split(",")]
    if 0 in sizes and arguments.base is None:
        raise SystemExit("size 0 measures the --base model untrained: give --base")
    import torch

    threads = kraken.training_threads()
    device = f"GPU ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else f"CPU, {threads} thread(s)"
    print(f"{device}; at most {arguments.minutes:g} min per model; settings: {options or 'the defaults'}", flush=True)
    rows = []
    for data_dir in arguments.data_dirs:
        with tempfile.TemporaryDirectory() as folder:
            edition = Edition(Path(folder) / "edition")
            manuscript_id = prepare(edition, data_dir)
            line_ids = lines_with_text(edition, manuscript_id)
            print(f"{data_dir}: {len(line_ids)} lines with text", flush=True)
            for size in sizes:
                held_out, chosen = choose(line_ids, size, arguments.held_out)
                mark(edition, manuscript_id, held_out | chosen)
                if size == 0:
                    rows.append(zero_shot(edition, manuscript_id, data_dir, options["base"], held_out, arguments))
                    print("  " + _format(rows[-1]), flush=True)
                    continue
                name = f"m{size or 'all'}"
                start = time.monotonic()
                record = training.train(
                    edition,
                    [manuscript_id],
                    name,
                    "bench",
                    max_minutes=arguments.minutes,
                    progress=lambda done: print(f"  {done}", flush=True),
                    **options,
                )
                minutes = (time.monotonic() - start) / 60
                rho, pairs = (
                    (None, 0)
                    if arguments.no_confidence
                    else confidence_correlation(edition, manuscript_id, name, held_out)
                )
                row = (
                    data_dir.name,
                    record.training_lines,
                    record.epochs_run,
                    record.kept_epoch,
                    minutes,
                    record.scores.cer if record.scores else float("nan"),
                    record.scores.wer if record.scores else float("nan"),
                    record.scores.lines if record.scores else 0,
                    rho,
                )
                rows.append(row)
                print("  " + _format(row), flush=True)
                if size is not None and record.training_lines < size:
                    break  # the set has no more lines: "all" would train the same model again
    print()
    print(
        "| set | training lines | epochs run | kept epoch | minutes | held-out CER | WER | held-out lines | Spearman ρ (confidence, CER) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + _format(row).replace("  ", " | ") + " |")


def zero_shot(edition: Edition, manuscript_id: str, data_dir: Path, base: str, held_out: set[str], arguments) -> tuple:
    """The table row of the base model read as it is on the held-out lines."""
    start = time.monotonic()
    scores = training.evaluate(edition, base, [manuscript_id]).scores
    minutes = (time.monotonic() - start) / 60
    rho, _ = (None, 0) if arguments.no_confidence else confidence_correlation(edition, manuscript_id, base, held_out)
    return (data_dir.name, 0, 0, 0, minutes, scores.cer, scores.wer, scores.lines, rho)


def _format(row: tuple) -> str:
    name, lines, epochs, kept, minutes, cer, wer, held, rho = row
    rho_text = "—" if rho is None else f"{rho:+.2f}"
    return f"{name}  {lines}  {epochs}  {kept}  {minutes:.1f}  {cer:.1%}  {wer:.1%}  {held}  {rho_text}"


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
