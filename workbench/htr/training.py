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

Closing the loop: ``new_lines_since`` counts the lines corrected or verified since a
model was trained, ``submit_retraining`` fine-tunes it on them as a job, and
``AutoRetrain`` does that by itself once ``[recognition] retrain_after`` lines are new.
Each model's ``history`` is its lineage (its bases, then itself) with their CERs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rapidfuzz.distance import Levenshtein

from workbench.edition import Edition
from workbench.files import write_atomically
from workbench.htr import kraken
from workbench.images import crops, facsimile
from workbench.model import Line, Manuscript, NotFound, WorkbenchError
from workbench.tei.text import diplomatic_text

if TYPE_CHECKING:
    from workbench.jobs import Job, JobStore

log = logging.getLogger(__name__)

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
    # The lineage: a point ({name, created, training_lines, cer}) for each base this model
    # was fine-tuned from, oldest first, then its own (``keep`` writes it). Models kept
    # before it was recorded have None: ``ModelStore.history`` derives it from ``base``.
    history: list[dict] | None = None
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


def learns_from(line: Line) -> bool:
    """Whether a training would take ``line`` (its training or validation share), as
    ``split_lines`` decides, without making its text when it has no markup (the count
    on every line save must stay cheap)."""
    if line.status not in ("corrected", "verified") or not line.text or bucket(line.id) == HELD_OUT:
        return False
    if "<" not in line.text:
        return bool(line.text.strip())  # no elements: the diplomatic text is the text (entities are not blank)
    return bool(diplomatic_text(line.text).strip())


class TrainableLines:
    """How many lines of each manuscript a training would learn from (``learns_from``),
    kept page by page from the edition's page revisions (``Edition.page_revisions``): a
    line save changes one page's revision, and only that page is counted again; the
    whole manuscript only on the first count, or after the file was read anew. One per
    process (the web app's), safe to share between threads."""

    def __init__(self, edition: Edition):
        self.edition = edition
        # manuscript id → (generation, {page number: (revision, lines)})
        self._pages: dict[str, tuple[int, dict[str, tuple[int, int]]]] = {}
        self._mutex = threading.Lock()

    def count(self, manuscript_id: str) -> int:
        revisions = self.edition.page_revisions(manuscript_id)
        with self._mutex:
            generation, known = self._pages.get(manuscript_id, (None, {}))
        counted = dict(known) if generation == revisions.generation else {}
        stale = [n for n, revision in revisions.pages.items() if counted.get(n, (None, 0))[0] != revision]
        if stale:
            # A revision read before the page: a save in between is counted now and, its
            # revision being newer than the one recorded, counted again next time.
            for n, lines in self.edition.count_lines(manuscript_id, learns_from, stale).items():
                counted[n] = (revisions.pages[n], lines)
        counted = {n: counted[n] for n in revisions.pages if n in counted}  # pages removed since go
        with self._mutex:
            self._pages[manuscript_id] = (revisions.generation, counted)
        return sum(lines for _, lines in counted.values())

    def of(self, manuscript_ids: list[str]) -> int:
        """The lines the manuscripts have to learn from now (those that still exist)."""
        total = 0
        for manuscript_id in manuscript_ids:
            try:
                total += self.count(manuscript_id)
            except NotFound:
                pass  # removed since the model was trained: nothing of it to learn from
        return total


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

    def stored(self, name: str | None) -> ModelRecord | None:
        """The trained model ``name``, or None (no name, a model file's path, not here)."""
        if not name or not MODEL_NAME.fullmatch(name) or not (self.folder / name / "model.json").is_file():
            return None
        return self._read(name)

    def history(self, record: ModelRecord) -> list[dict]:
        """The model's lineage with each one's CER, oldest first (``ModelRecord.history``):
        as recorded, or, for a model kept before histories were, made from its ``base``
        chain as far as those models are still here."""
        if record.history:
            return list(record.history)
        chain, seen = [record], {record.name}
        base = self.stored(record.base)
        while base is not None and base.name not in seen and not base.history:
            chain.append(base)
            seen.add(base.name)
            base = self.stored(base.base)
        earlier = list(base.history) if base is not None and base.name not in seen else []
        return earlier + [history_point(model) for model in reversed(chain)]

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
    the one way in for a model, trained here or on a remote worker. Its history is its
    base's (a trained model's) and its own point."""
    check_name(edition, record.name)
    store = ModelStore.of(edition)
    base = store.stored(record.base)
    record.history = (store.history(base) if base is not None else []) + [history_point(record)]
    store._add(record, weights)


def history_point(record: ModelRecord) -> dict:
    """A model's point in a lineage's history: how many lines it learnt from, how well it read."""
    return {
        "name": record.name,
        "created": record.created,
        "training_lines": record.training_lines,
        "cer": record.scores.cer if record.scores else None,
    }


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


# -- closing the loop: retraining on the lines verified since a model ------------------


def lineages(records: list[ModelRecord]) -> list[ModelRecord]:
    """The models no other model here was fine-tuned from (newest first): each ends a
    lineage, whose history (``ModelStore.history``) shows how its CER went."""
    bases = {record.base for record in records}
    return [record for record in records if record.name not in bases]


def reference_model(records: list[ModelRecord], defaults: dict[str, str], manuscript_id: str) -> ModelRecord | None:
    """The model whose new lines count for ``manuscript_id``: its default model (else the
    newest one trained on it), then the newest model fine-tuned from that on it, and so
    on. Followed to its newest descendant so that, once a retraining is kept, the lines
    count from it and not again from the default it started from."""
    by_name = {record.name: record for record in records}  # records: newest first
    current = by_name.get(defaults.get(manuscript_id, ""))
    if current is None:
        current = next((record for record in records if manuscript_id in record.manuscripts), None)
    seen = set()
    while current is not None and current.name not in seen:
        seen.add(current.name)
        child = next(
            (r for r in records if r.base == current.name and manuscript_id in r.manuscripts and r.name not in seen),
            None,
        )
        if child is None:
            break
        current = child
    return current


def new_lines_since(record: ModelRecord, lines_now: int) -> int:
    """Lines to learn from now (``TrainableLines.of(record.manuscripts)``) that the model
    had not: its training and validation lines were all it learnt from."""
    return max(0, lines_now - (record.training_lines + record.validation_lines))


def check_new_lines(record: ModelRecord, lines_now: int) -> None:
    """Refuse to retrain a model on nothing new."""
    if new_lines_since(record, lines_now) == 0:
        raise WorkbenchError(
            f"no line was corrected or verified in {', '.join(record.manuscripts)} since {record.name} was trained; "
            "there is nothing new to retrain it on",
            code="no-new-lines",
            model=record.name,
        )


def retraining_name(store: ModelStore, record: ModelRecord) -> str:
    """A free name for the next model of the lineage: the first model's name and the
    lineage's length, ``letters-2``, ``letters-3``… (shortened to fit ``MODEL_NAME``)."""
    lineage = store.history(record)
    root = lineage[0]["name"] if lineage else record.name
    number = len(lineage) + 1
    while True:
        suffix = f"-{number}"
        name = root[: 64 - len(suffix)] + suffix
        if not (store.folder / name).exists():
            return name
        number += 1


def submit_retraining(
    edition: Edition,
    model: str,
    who: str,
    *,
    automatic: bool = False,
    counts: TrainableLines | None = None,
) -> Job:
    """Queue a training job that fine-tunes ``model`` on the same manuscripts, now with
    the lines verified since, under ``retraining_name``, for as many epochs as it was
    asked for (what its record knows of its options). Refused (a WorkbenchError with a
    code) when no line is new, and for whatever ``JobStore.submit`` refuses (another
    training running, too few lines). The job's ``options`` say it is a retraining:
    ``{"retrain": "auto" | "asked", "since": model, "lines": the lines it will learn from}``."""
    from workbench.jobs import JobStore  # here: jobs.py imports this module

    store = ModelStore.of(edition)
    record = store.get(model)
    lines_now = (counts or TrainableLines(edition)).of(record.manuscripts)
    check_new_lines(record, lines_now)
    return JobStore.of(edition).submit(
        edition,
        "train",
        record.manuscripts[0],
        who,
        model=record.name,
        name=retraining_name(store, record),
        manuscripts=list(record.manuscripts),
        epochs=record.epochs,
        options={"retrain": "auto" if automatic else "asked", "since": record.name, "lines": lines_now},
    )


class AutoRetrain:
    """``[recognition] retrain_after = N``: after a line save that brings the lines new
    since the manuscript's model (``reference_model``) to N or more, queue its retraining,
    once: not while that job waits or runs, and after one that ended without a model
    (failed, cancelled) only when N more lines are new.

    Called by the web line save (web/lines.py), so it must cost next to nothing: the
    models are read again only when their folder changed, the lines are counted only on
    the pages saved since (``TrainableLines``), and the jobs are looked at only once the
    count is reached. A refused submission (another training running, say) is not tried
    again for ``QUIET`` seconds. One per process; threads share it.
    """

    QUIET = 60.0

    def __init__(self, edition: Edition, after: int, counts: TrainableLines | None = None):
        self.edition = edition
        self.after = after
        self.counts = counts or TrainableLines(edition)
        self._models_seen: tuple | None = None
        self._records: list[ModelRecord] = []
        self._defaults: dict[str, str] = {}
        self._submitted: dict[str, tuple[str, int]] = {}  # model → (its retraining job, lines then)
        self._quiet_until: dict[str, float] = {}
        self._checking = threading.Lock()

    def after_save(self, manuscript_id: str, who: str) -> Job | None:
        """The retraining job queued after this save, if one was; never raises (the line
        is saved already: a retraining that cannot start is logged, not the save's failure)."""
        if self.after <= 0 or not self._checking.acquire(blocking=False):
            return None  # off; or another thread checks right now, and the next save will
        try:
            return self._check(manuscript_id, who)
        except Exception:
            log.exception("checking whether %s's model is due for retraining", manuscript_id)
            return None
        finally:
            self._checking.release()

    def _check(self, manuscript_id: str, who: str) -> Job | None:
        from workbench.jobs import JobStore  # here: jobs.py imports this module

        self._read_models()
        reference = reference_model(self._records, self._defaults, manuscript_id)
        if reference is None:
            return None
        lines = self.counts.of(reference.manuscripts)
        if new_lines_since(reference, lines) < self.after:
            return None
        if time.monotonic() < self._quiet_until.get(reference.name, 0):
            return None
        jobs = JobStore.of(self.edition)
        previous = self._submitted.get(reference.name) or self._previous(jobs, reference.name)
        if previous is not None:
            job_id, lines_then = previous
            try:
                job = jobs.get(job_id)
            except WorkbenchError:  # its file removed: nothing waits or runs
                job = None
            if job is not None and job.active:
                return None
            if lines < lines_then + self.after:
                return None
        try:
            job = submit_retraining(self.edition, reference.name, who, automatic=True, counts=self.counts)
        except WorkbenchError as error:
            log.info("retraining %s not started: %s", reference.name, error)
            self._quiet_until[reference.name] = time.monotonic() + self.QUIET
            return None
        self._submitted[reference.name] = (job.id, lines)
        log.info("%d new lines since %s: retraining it as %s (job %s)", lines, reference.name, job.name, job.id)
        return job

    def _read_models(self) -> None:
        """The models and defaults, read again only when the models folder changed (a
        model put in place, defaults.json replaced: both rename into it)."""
        store = ModelStore.of(self.edition)

        def stat(path: Path) -> tuple[int, int] | None:
            try:
                found = os.stat(path)
            except FileNotFoundError:
                return None
            # The link count too: a model's folder added or removed changes it, even
            # within one tick of the file system's clock.
            return found.st_mtime_ns, found.st_nlink

        seen = (stat(store.folder), stat(store.folder / "defaults.json"))
        if seen != self._models_seen:
            self._records = store.list() if seen[0] else []
            self._defaults = store._defaults() if seen[0] else {}
            self._models_seen = seen

    @staticmethod
    def _previous(jobs: JobStore, model: str) -> tuple[str, int] | None:
        """The newest retraining job of ``model`` on record (another process may have queued it)."""
        for job in jobs.list():  # newest first
            options = job.options or {}
            if job.kind == "train" and options.get("retrain") and options.get("since") == model:
                return job.id, int(options.get("lines") or 0)
        return None


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
