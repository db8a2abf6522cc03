"""Recognition models made from the philologists' own corrections: train, measure, keep.

Lines a person corrected or verified are what a model learns from. A fixed share of
the verified lines never goes into training: a line is held out by a hash of its id
(``HELD_OUT``), so the split does not change as more lines are verified and the
same lines measure every model. Training itself is kraken's (kraken.py); this module
chooses the lines, keeps the models and computes error rates.

Models live in the edition's operational state::

    .workbench/models/<name>/model.safetensors   the weights (kraken)
    .workbench/models/<name>/model.json          name, date, base, lines, split, scores
    .workbench/models/defaults.json              the default model of each manuscript
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from workbench.edition import Edition
from workbench.files import write_atomically
from workbench.htr import kraken
from workbench.images import crops, facsimile
from workbench.model import Line, Manuscript, WorkbenchError
from workbench.tei.text import diplomatic_text

# By the CRC-32 of its id, one line in ten is never trained on (the verified ones among
# them measure models) and one in ten chooses the best epoch.
BUCKETS = 10
HELD_OUT = 0
VALIDATION = 1
MIN_TRAINING_LINES = 20
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class LineRef:
    """Where a line is, and its text as written (what a model should read)."""

    manuscript_id: str
    page: str
    line_id: str
    text: str


@dataclass
class Split:
    training: list[LineRef] = field(default_factory=list)
    validation: list[LineRef] = field(default_factory=list)
    held_out: list[LineRef] = field(default_factory=list)


@dataclass
class Scores:
    cer: float
    wer: float
    lines: int
    characters: int


@dataclass
class ModelRecord:
    name: str
    created: str
    base: str | None
    manuscripts: list[str]
    training_lines: int
    validation_lines: int
    held_out: list[str]  # ids of the held-out lines this model never saw
    epochs: int
    validation_accuracy: float  # of the kept epoch
    scores: Scores | None = None  # on the held-out lines, when the model was made
    who: str = ""
    # Which epoch was kept and how it read the validation lines; how long it all took.
    # Models trained before these were recorded have None.
    kept_epoch: int | None = None
    validation_cer: float | None = None  # 1 - validation_accuracy
    epochs_run: int | None = None
    training_seconds: float | None = None  # cutting the lines, training, writing the weights
    # A model pretrained on rendered lines (synthetic.py): its seed, line count, fonts; None otherwise.
    synthetic: dict[str, Any] | None = None


def bucket(line_id: str) -> int:
    return zlib.crc32(line_id.encode()) % BUCKETS


def split_lines(manuscripts: list[Manuscript]) -> Split:
    """The corrected and verified lines with text, split for training, validation and evaluation."""
    split = Split()
    for manuscript in manuscripts:
        for page in manuscript.pages:
            for line in page.lines:
                text = diplomatic_text(line.text).strip() if line.text else ""
                if line.status not in ("corrected", "verified") or not text:
                    continue
                ref = LineRef(manuscript.id, page.n, line.id, text)
                if bucket(line.id) == HELD_OUT:
                    # Never trained on, even before it is verified: no model has seen a
                    # line that will measure it.
                    if line.status == "verified":
                        split.held_out.append(ref)
                elif bucket(line.id) == VALIDATION:
                    split.validation.append(ref)
                else:
                    split.training.append(ref)
    return split


class ModelStore:
    """The edition's trained models (``ModelStore.of(edition)``)."""

    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def of(cls, edition: Edition) -> ModelStore:
        return cls(edition.models_dir)

    def list(self) -> list[ModelRecord]:
        """Models, newest first."""
        # Hidden folders are models being trained or put in place.
        paths = [path for path in self.folder.glob("*/model.json") if not path.parent.name.startswith(".")]
        records = [self._read(path.parent.name) for path in paths]
        return sorted(records, key=lambda record: record.created, reverse=True)

    def get(self, name: str) -> ModelRecord:
        if not MODEL_NAME.fullmatch(name) or not (self.folder / name / "model.json").is_file():
            known = ", ".join(record.name for record in self.list()) or "none yet"
            raise WorkbenchError(f"no trained model {name!r} (models: {known})", code="no-such-model", model=name)
        return self._read(name)

    def weights(self, name: str) -> Path:
        self.get(name)
        return self.folder / name / "model.safetensors"

    def resolve(self, name_or_path: str | Path) -> Path:
        """A model's weights file, from a trained model's name or a path to a model file."""
        path = Path(name_or_path).expanduser()
        if path.is_file():
            return path.resolve()
        if "/" in str(name_or_path) or path.suffix in (".mlmodel", ".safetensors"):
            raise WorkbenchError(f"{path}: no such model file", code="no-model-file", model=path.name)
        return self.weights(str(name_or_path))

    def default(self, manuscript_id: str) -> str | None:
        return self._defaults().get(manuscript_id)

    def set_default(self, manuscript_id: str, name: str | None) -> None:
        if name is not None:
            self.get(name)
        defaults = self._defaults()
        if name is None:
            defaults.pop(manuscript_id, None)
        else:
            defaults[manuscript_id] = name
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.folder / "defaults.json", json.dumps(defaults, indent=1, sort_keys=True).encode())

    def _defaults(self) -> dict[str, str]:
        path = self.folder / "defaults.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def _read(self, name: str) -> ModelRecord:
        data = json.loads((self.folder / name / "model.json").read_text(encoding="utf-8"))
        scores = data.pop("scores", None)
        return ModelRecord(**data, scores=Scores(**scores) if scores else None)

    def _add(self, record: ModelRecord, weights: Path) -> None:
        """Put a finished model in place at once: a folder renamed into the store."""
        staging = Path(tempfile.mkdtemp(dir=self.folder, prefix=f".{record.name}."))
        try:
            shutil.move(weights, staging / "model.safetensors")
            data = json.dumps(asdict(record), ensure_ascii=False, indent=1).encode()
            write_atomically(staging / "model.json", data)
            staging.rename(self.folder / record.name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def train(
    edition: Edition,
    manuscript_ids: list[str],
    name: str,
    who: str,
    *,
    base: str | None = None,
    epochs: int = 30,
    spec: str = kraken.DEFAULT_SPEC,
    progress: Callable[[kraken.EpochDone], None] | None = None,
    device: str | None = None,
    **options: Any,
) -> ModelRecord:
    """Train a model on the manuscripts' corrected and verified lines and keep it as ``name``.

    ``base`` (a trained model's name or a model file) is fine-tuned instead of starting
    from nothing. The model is measured on the held-out lines before it is kept.
    ``device`` ("cuda", "cpu"; None: a GPU when torch sees one) is where it trains.
    ``options`` go to ``kraken.train_recognizer`` (``learning_rate``, ``schedule``,
    ``patience``, ``max_minutes``, ``augment``…).
    """
    store = ModelStore.of(edition)
    check_name(edition, name)
    base_path = store.resolve(base) if base else None
    manuscripts = [edition.load(manuscript_id) for manuscript_id in manuscript_ids]
    split = split_lines(manuscripts)
    check_enough(split)
    store.folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store.folder, prefix=f".{name}.training-") as work:
        work_dir = Path(work)
        weights = work_dir / "model.safetensors"
        trained = fit(
            material(edition, manuscripts, split),
            weights,
            work_dir / "kraken",
            base=base_path,
            epochs=epochs,
            spec=spec,
            progress=progress,
            device=device,
            **options,
        )
        record = model_record(name, who, manuscript_ids, base, epochs, split, trained)
        keep(edition, record, weights)
    return record


# -- a training in three steps: what it learns from, the computing, keeping the model.
# The computing may run on another machine (remote.py): it needs the material alone.


@dataclass
class Material:
    """What a training learns from, chooses its epoch by and is measured on: the split's
    lines on their pages, each entry (manuscript id, page number, the page with those lines)."""

    training: list[tuple[str, str, kraken.TrainingPage]]
    validation: list[tuple[str, str, kraken.TrainingPage]]
    held_out: list[tuple[str, str, kraken.TrainingPage]]

    def split(self) -> Split:
        """The split the material was made from (its lines and texts)."""

        def refs(pages: list[tuple[str, str, kraken.TrainingPage]]) -> list[LineRef]:
            return [LineRef(ms, n, line.id, line.text) for ms, n, page in pages for line in page.lines]

        return Split(refs(self.training), refs(self.validation), refs(self.held_out))


def material(edition: Edition, manuscripts: list[Manuscript], split: Split) -> Material:
    return Material(
        _pages(edition, manuscripts, split.training),
        _pages(edition, manuscripts, split.validation),
        _pages(edition, manuscripts, split.held_out),
    )


SETS = ("training", "validation", "held_out")


def material_to_json(material: Material, image_name: Callable[[kraken.TrainingPage], str]) -> dict:
    """The material as JSON; each page's image as ``image_name`` names it (a path here, a
    file in the zip a remote worker fetches)."""
    return {
        name: [
            {
                "manuscript": manuscript_id,
                "n": page_n,
                "image": image_name(page),
                "frame": page.frame,
                "lines": [
                    {"id": line.id, "boundary": line.boundary, "baseline": line.baseline, "text": line.text}
                    for line in page.lines
                ],
            }
            for manuscript_id, page_n, page in getattr(material, name)
        ]
        for name in SETS
    }


def material_from_json(data: dict, folder: Path) -> Material:
    """The material ``material_to_json`` wrote, its images in ``folder`` (or absolute)."""
    try:
        sets = {
            name: [
                (
                    str(entry["manuscript"]),
                    str(entry["n"]),
                    kraken.TrainingPage(
                        Path(folder) / str(entry["image"]),
                        None if entry.get("frame") is None else int(entry["frame"]),
                        [
                            Line(
                                str(item["id"]),
                                [(int(x), int(y)) for x, y in item["boundary"]],
                                [(int(x), int(y)) for x, y in item["baseline"]],
                                text=str(item["text"]),
                            )
                            for item in entry["lines"]
                        ],
                    ),
                )
                for entry in data[name]
            ]
            for name in SETS
        }
    except (KeyError, TypeError, ValueError) as error:
        raise WorkbenchError(f"not a training material ({type(error).__name__}: {error})") from None
    return Material(**sets)


@dataclass
class Trained:
    """What the computing of a training gives, wherever it ran: the weights are written
    beside; this is how they were chosen and how well they read the held-out lines."""

    result: kraken.TrainingResult
    scores: Scores | None


def fit(
    material: Material,
    weights: Path,
    work_dir: Path,
    *,
    base: Path | None = None,
    epochs: int = 30,
    spec: str = kraken.DEFAULT_SPEC,
    progress: Callable[[kraken.EpochDone], None] | None = None,
    device: str | None = None,
    **options: Any,
) -> Trained:
    """Train on the material's lines (kraken), write the kept epoch's weights to ``weights``
    and measure them on the held-out lines. Needs no edition: a remote worker runs it.
    ``options`` go to ``kraken.train_recognizer`` (see ``train``)."""
    result = kraken.train_recognizer(
        [page for _, _, page in material.training],
        [page for _, _, page in material.validation],
        weights,
        work_dir,
        base=base,
        epochs=epochs,
        spec=spec,
        progress=progress,
        device=device,
        **options,
    )
    scores = _evaluate_pages(material.held_out, weights).scores if material.held_out else None
    return Trained(result, scores)


def model_record(
    name: str, who: str, manuscript_ids: list[str], base: str | None, epochs: int, split: Split, trained: Trained
) -> ModelRecord:
    result = trained.result
    return ModelRecord(
        name=name,
        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        base=str(base) if base else None,
        manuscripts=list(manuscript_ids),
        training_lines=len(split.training),
        validation_lines=len(split.validation),
        held_out=[ref.line_id for ref in split.held_out],
        epochs=epochs,
        validation_accuracy=result.accuracy,
        who=who,
        kept_epoch=result.epoch,
        validation_cer=1 - result.accuracy,
        epochs_run=result.epochs_run,
        training_seconds=round(result.seconds, 1),
        scores=trained.scores,
    )


def keep(edition: Edition, record: ModelRecord, weights: Path) -> None:
    """Put a trained model in the edition's store, its name checked again (free, usable):
    the one way in for a model, trained here or on a remote worker."""
    check_name(edition, record.name)
    ModelStore.of(edition)._add(record, weights)


def check_name(edition: Edition, name: str) -> None:
    """Refuse a model name that is not usable as a folder name, or is taken."""
    if not MODEL_NAME.fullmatch(name):
        raise WorkbenchError(
            f"{name!r} is not a usable model name: letters, digits, '.', '-', '_' (at most 64)",
            code="model-name",
            model=name,
        )
    if (ModelStore.of(edition).folder / name).exists():
        raise WorkbenchError(
            f"a model named {name!r} exists already; choose another name", code="model-name-taken", model=name
        )


def check_enough(split: Split) -> None:
    if len(split.training) < MIN_TRAINING_LINES or not split.validation:
        raise WorkbenchError(
            f"too few corrected or verified lines to train on: {len(split.training)} for training and "
            f"{len(split.validation)} for validation (at least {MIN_TRAINING_LINES} and 1); "
            "correct or verify more lines first",
            code="too-few-lines",
            training=len(split.training),
            validation=len(split.validation),
            minimum=MIN_TRAINING_LINES,
        )


def _pages(
    edition: Edition, manuscripts: list[Manuscript], refs: list[LineRef]
) -> list[tuple[str, str, kraken.TrainingPage]]:
    """The lines of ``refs`` grouped by page: (manuscript id, page number, the page with those lines)."""
    wanted: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for ref in refs:
        wanted[ref.manuscript_id, ref.page][ref.line_id] = ref.text
    pages = []
    for manuscript in manuscripts:
        for page in manuscript.pages:
            texts = wanted.get((manuscript.id, page.n))
            if texts:
                lines = [_with_text(line, texts[line.id]) for line in page.lines if line.id in texts]
                image = edition.image_path(manuscript.id, page)
                pages.append((manuscript.id, page.n, kraken.TrainingPage(image, page.frame, lines)))
    return pages


def _with_text(line: Line, text: str) -> Line:
    return Line(line.id, line.boundary, line.baseline, line.region, text)


# -- measuring -----------------------------------------------------------------------


@dataclass
class LineResult:
    manuscript_id: str
    page: str
    line_id: str
    truth: str
    prediction: str
    errors: int  # character edits from the prediction to the truth

    @property
    def cer(self) -> float:
        return self.errors / max(1, len(self.truth))


@dataclass
class Evaluation:
    scores: Scores
    pages: dict[str, Scores]  # "<manuscript> p.<n>" → scores
    lines: list[LineResult]  # worst first

    def worst(self, count: int = 10) -> list[LineResult]:
        return [line for line in self.lines if line.errors][:count]


def evaluate(edition: Edition, model: str | Path, manuscript_ids: list[str]) -> Evaluation:
    """Character and word error rates of ``model`` on the held-out verified lines.

    No model trained here has seen them (their share is never trained on), so every
    model is measured on the same lines, as more of them are verified.
    """
    weights = ModelStore.of(edition).resolve(model)
    manuscripts = [edition.load(manuscript_id) for manuscript_id in manuscript_ids]
    held_out = split_lines(manuscripts).held_out
    if not held_out:
        raise WorkbenchError(
            "no held-out verified lines to measure on: verify more lines (one verified line in ten is held out)"
        )
    return evaluate_lines(edition, manuscripts, held_out, weights)


def evaluate_lines(edition: Edition, manuscripts: list[Manuscript], refs: list[LineRef], weights: Path) -> Evaluation:
    return _evaluate_pages(_pages(edition, manuscripts, refs), weights)


def _evaluate_pages(pages: list[tuple[str, str, kraken.TrainingPage]], weights: Path) -> Evaluation:
    results = []
    for manuscript_id, page_n, page in pages:
        image = facsimile.open_page(page.image, page.frame)
        found = {r.line_id: r.text for r in kraken.recognize_lines(image, page.lines, weights)}
        for line in page.lines:
            prediction = found.get(line.id, "").strip()
            results.append(
                LineResult(
                    manuscript_id, page_n, line.id, line.text, prediction, Levenshtein.distance(prediction, line.text)
                )
            )
    by_page: dict[str, list[LineResult]] = defaultdict(list)
    for result in results:
        by_page[f"{result.manuscript_id} p.{result.page}"].append(result)
    return Evaluation(
        scores=_scores(results),
        pages={page: _scores(lines) for page, lines in by_page.items()},
        lines=sorted(results, key=lambda r: (-r.cer, r.line_id)),
    )


def write_line_images(edition: Edition, results: list[LineResult], folder: Path) -> dict[str, Path]:
    """The line image of each result, as ``<line id>.png`` in ``folder`` (one decode per page)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    by_page: dict[tuple[str, str], set[str]] = defaultdict(set)
    for result in results:
        by_page[result.manuscript_id, result.page].add(result.line_id)
    for (manuscript_id, page_n), line_ids in by_page.items():
        page = edition.read(manuscript_id, page_n).pages[0]
        image = facsimile.open_page(edition.image_path(manuscript_id, page), page.frame)
        for line in page.lines:
            if line.id in line_ids:
                written[line.id] = folder / f"{line.id}.png"
                crops.line_image(image, line).save(written[line.id])
    return written


def _scores(results: list[LineResult]) -> Scores:
    characters = sum(len(r.truth) for r in results)
    words = sum(len(r.truth.split()) for r in results)
    word_errors = sum(Levenshtein.distance(r.prediction.split(), r.truth.split()) for r in results)
    return Scores(
        cer=sum(r.errors for r in results) / max(1, characters),
        wer=word_errors / max(1, words),
        lines=len(results),
        characters=characters,
    )
