"""Kraken: the one module that imports it (design.md §3).

Segmentation uses the ``blla`` model that ships inside the kraken package;
recognition uses a model file the user provides. Results leave this module as the
workbench's own ``Region`` and ``Line`` objects, in the page image's pixels.

Importing kraken costs 10-20 s and about 1 GB, so it happens inside the functions,
once per process, and a batch of pages runs in worker processes that each load the
model once and use one torch thread (two threads in one process were slower than
two processes on a 2-core machine).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from statistics import fmean
from typing import Any

from PIL import Image

from workbench.images import facsimile
from workbench.layout import geometry
from workbench.model import Layout, Line, Region, WorkbenchError

logger = logging.getLogger(__name__)

SEGMENTATION_MODEL = "blla"  # the model bundled with kraken


@dataclass
class PageImage:
    """A page image to segment: a file, and a frame for multi-page TIFFs."""

    path: Path
    frame: int | None = None


@dataclass
class Recognized:
    line_id: str
    text: str
    confidence: float | None


def _use_one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@cache
def _segmenter():
    _use_one_thread()
    from kraken.tasks import SegmentationTaskModel

    return SegmentationTaskModel.load_model()


def load_segmenter() -> None:
    """Load the segmentation model now (it is otherwise loaded on first use)."""
    _segmenter()


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Start worker processes with one thread for the numerical libraries too.

    With two workers on two cores, extra BLAS/OpenMP threads only contend (measured:
    4 pages in 41.6 s with them, 37.6 s without). The variables must be in the
    environment the workers start with: a spawned worker imports numpy (through the
    parent's main module) before any initializer runs.
    """
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def segment_image(image: Image.Image) -> Layout:
    """Find regions and lines (baseline, boundary polygon, reading order) on a page image."""
    from kraken.configs import SegmentationInferenceConfig

    segmentation = _segmenter().predict(image, SegmentationInferenceConfig())
    return _layout(segmentation, *image.size)


def segment_file(page: PageImage) -> Layout:
    return segment_image(facsimile.open_page(page.path, page.frame))


def segment_pages(pages: list[PageImage], workers: int | None = None) -> Iterator[tuple[int, Layout | Exception]]:
    """Segment ``pages``, yielding (index, layout or the error for that page) as each finishes.

    With more than one page and more than one core, pages run in parallel worker
    processes; a page that fails does not stop the others.
    """
    workers = min(workers or os.cpu_count() or 1, len(pages))
    if workers <= 1:
        for index, page in enumerate(pages):
            try:
                yield index, segment_file(page)
            except Exception as error:  # reported per page; the batch goes on
                yield index, error
        return
    # spawn, not fork: torch's thread pools do not survive a fork.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=load_segmenter) as pool:
        with _single_threaded_children():  # workers start on the first submissions
            futures = {pool.submit(segment_file, page): index for index, page in enumerate(pages)}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as error:
                yield futures[future], error


def recognize_lines(
    image: Image.Image, lines: list[Line], model_path: Path, device: str | None = None
) -> list[Recognized]:
    """Read the text of ``lines`` on ``image`` with the recognition model in ``model_path``.

    ``device`` ("cuda" or "cpu", as Lightning names accelerators) is where the model runs;
    None lets kraken choose (a GPU when torch sees one)."""
    if not lines:
        return []
    from kraken.configs import RecognitionInferenceConfig
    from kraken.containers import BaselineLine, Segmentation

    model = _recognizer(Path(model_path).resolve())
    segmentation = Segmentation(
        type="baselines",
        imagename="",
        text_direction="horizontal-lr",
        script_detection=False,
        lines=[BaselineLine(id=line.id, baseline=line.baseline, boundary=line.boundary) for line in lines],
        regions={},
        line_orders=[],
    )
    config = RecognitionInferenceConfig(num_line_workers=0, **({"accelerator": device} if device else {}))
    return [
        Recognized(record.id, record.prediction, fmean(record.confidences) if record.confidences else None)
        for record in model.predict(image, segmentation, config)
    ]


def load_recognizer(model_path: Path) -> None:
    """Load a recognition model now (it is otherwise loaded on first use)."""
    _recognizer(Path(model_path).resolve())


@cache
def _recognizer(model_path: Path):
    _use_one_thread()
    from kraken.tasks import RecognitionTaskModel

    if not model_path.is_file():
        raise WorkbenchError(f"{model_path}: no such model file")
    return _older_files_too(model_path, RecognitionTaskModel.load_model, "load")


def _with_model_type(model_path: Path, folder: Path) -> Path | None:
    """A copy in ``folder`` of an older kraken CoreML model file, its type written in; None if it is not one.

    kraken 2 wrote a ``kraken_meta`` block without ``model_type`` (every model was a
    recognition model then); kraken 7 reads files with no such block as recognition
    models but refuses a block that lacks the type, so a user's model from 2019-2020
    would not load. The copy says "recognition"; the user's file is left as it is.
    """
    import json

    try:
        from coremltools.models.utils import load_spec, save_spec

        spec = load_spec(str(model_path))
        metadata = spec.description.metadata.userDefined
        kraken_meta = json.loads(metadata["kraken_meta"]) if "kraken_meta" in metadata else None
    except Exception:  # not a CoreML file (a safetensors file, something else): nothing to add
        return None
    if not isinstance(kraken_meta, dict) or kraken_meta.get("model_type") or "vgsl" not in metadata:
        return None
    kraken_meta["model_type"] = ["recognition"]
    metadata["kraken_meta"] = json.dumps(kraken_meta)
    typed = folder / model_path.with_suffix(".mlmodel").name
    save_spec(spec, str(typed))
    return typed


def alphabet(model_path: Path) -> set[str]:
    """The characters (and character sequences) a recognition model can write."""
    return set(_recognizer(Path(model_path).resolve()).net.codec.c2l)


class NotAModel(WorkbenchError):
    """A model file kraken cannot load; ``code`` names the reason for an interface's own words."""

    code = "not-a-model"


def _layout(segmentation, width: int, height: int) -> Layout:
    regions = []
    for kind, found in (segmentation.regions or {}).items():
        for region in found:
            boundary = geometry.clip(region.boundary, width, height)
            if len(set(boundary)) >= 3:
                regions.append(Region(region.id, boundary, kind=kind))
    known_regions = {region.id for region in regions}
    lines = []
    for found in segmentation.lines:
        baseline = geometry.clip(found.baseline or [], width, height)
        if len(set(baseline)) < 2:
            continue  # a line with no usable baseline is noise
        region = next((r for r in (found.regions or []) if r in known_regions), None)
        lines.append(Line(found.id, geometry.clip(found.boundary or [], width, height), baseline, region=region))
    # kraken's polygoniser sometimes fails (a TopologyException in its log): keep such a
    # line, with a band around its baseline as high as the page's other lines.
    broken = [line for line in lines if len(set(line.boundary)) < 3]
    whole = [line for line in lines if len(set(line.boundary)) >= 3]
    extents = geometry.line_extents(whole, height)  # measured once: the page may have many such lines
    for line in broken:
        line.boundary = geometry.band(line.baseline, whole, height, extents)
    return Layout(width, height, regions, lines, repaired=len(broken))


# -- training ------------------------------------------------------------------------

# The networks, in kraken's VGSL notation. SMALL_SPEC (lines scaled to 32 px, two small
# convolution blocks, one 96-unit bidirectional LSTM) was chosen on rendered print for
# speed; on real handwriting (bench/recognition_curve.py, a one-hand French register of
# 1850, 300 training lines, 2 shared CPU cores, 15 min) it stops improving after about
# 30 epochs, at a validation CER of 64 %: 32 px leaves a handwritten x-height of 6-7 px.
# DEFAULT_SPEC reads lines at 48 px with a 128-unit LSTM: it learnt as fast per epoch,
# reached the same CER in the same time with batches of 2 lines (more updates per
# epoch) and was still improving when stopped. Bigger networks (48 and 64 px with more
# filters, two LSTM layers, and kraken's own default: 120 px, three 200-unit layers)
# learnt too slowly for this CPU. The README ("Benchmarks") has the trials.
SMALL_SPEC = "[1,32,0,1 Cr3,3,16 Mp2,2 Cr3,3,32 Mp2,2 S1(1x0)1,3 Lbx96]"
DEFAULT_SPEC = "[1,48,0,1 Cr3,3,16 Mp2,2 Cr3,3,32 Mp2,2 S1(1x0)1,3 Lbx128]"
DEFAULT_BATCH_SIZE = 2


SCHEDULES = ("constant", "reduceonplateau", "cosine")


@dataclass
class TrainingPage:
    """A page image and the lines on it to learn from; each line's text is plain, as written."""

    image: Path
    frame: int | None
    lines: list[Line]


@dataclass
class EpochDone:
    """Progress of a training run: one epoch trained and validated."""

    epoch: int  # 1-based
    epochs: int
    loss: float | None  # mean training loss of this epoch's batches
    accuracy: float | None  # character accuracy on the validation lines after this epoch, 0–1
    best: bool = False  # the best validation accuracy so far: the epoch that would be kept now

    @property
    def cer(self) -> float | None:
        """Character error rate on the validation lines after this epoch, 0–1."""
        return None if self.accuracy is None else 1 - self.accuracy

    def __str__(self) -> str:
        cer = "—" if self.cer is None else f"{self.cer:.1%}"
        return f"epoch {self.epoch}/{self.epochs}: validation CER {cer}" + ("  (best so far)" if self.best else "")


# What a user should expect from the first epochs (measured: bench/training.py): a CTC
# network first learns to read nothing, so the validation CER stays at 100 % for a while.
WHAT_IS_NORMAL = (
    "The first epochs often read nothing (validation CER 100 %): a new network first learns to say "
    "nothing, and the CER usually starts to fall after 10–20 epochs on a few hundred lines. "
    "The epoch with the lowest validation CER is kept."
)


@dataclass
class TrainingResult:
    accuracy: float  # the kept epoch's character accuracy on the validation lines, 0–1
    epoch: int  # the kept epoch, 1-based
    epochs_run: int
    seconds: float  # from the start of training (cutting the lines included) to the kept model written


def training_threads(
    omp_num_threads: str | None = None, cores: int | None = None, busy_elsewhere: float | None = None
) -> int:
    """How many torch threads a training should use: the cores no one else is using.

    OMP_NUM_THREADS, when set, decides. Otherwise it is the cores this process may run
    on less those other processes keep busy: OpenMP threads wait for each other at
    every step, so a thread that shares a core with a busy neighbour holds all of them
    back (measured: with a busy process on one of 2 cores, one thread trained an
    epoch in seconds and two in many minutes; see bench/training_threads.py).
    Arguments left out are read from the environment and the system.
    """
    if omp_num_threads is None:
        omp_num_threads = os.environ.get("OMP_NUM_THREADS")
    if omp_num_threads:
        try:
            return max(1, int(omp_num_threads))
        except ValueError:
            pass  # not a number: OpenMP ignores it too
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if busy_elsewhere is None:
        busy_elsewhere = busy_cores_elsewhere()
    return max(1, cores - round(busy_elsewhere))


def busy_cores_elsewhere(interval: float = 0.5) -> float:
    """How many of this process's cores other processes keep busy, measured over ``interval`` seconds.

    The busy time of the cores (from /proc/stat) less this process's own CPU time over
    the same interval; where /proc/stat cannot be read, the one-minute load average.
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    try:
        before, own_before = _busy_seconds(cores), _own_cpu_seconds()
        time.sleep(interval)
        after, own_after = _busy_seconds(cores), _own_cpu_seconds()
    except OSError:
        return os.getloadavg()[0]
    return max(0.0, (after - before - (own_after - own_before)) / interval)


def _busy_seconds(cores: list[int] | None) -> float:
    """CPU seconds the given cores (all, if None) have spent on anything but idling."""
    ticks = os.sysconf("SC_CLK_TCK")
    busy = 0
    with open("/proc/stat") as stat:
        for row in stat:
            name, *values = row.split()
            if not name.startswith("cpu") or name == "cpu" or not name[3:].isdigit():
                continue
            if cores is not None and int(name[3:]) not in cores:
                continue
            # user nice system idle iowait irq softirq steal (guest is within user)
            numbers = [int(value) for value in values[:8]]
            busy += sum(numbers) - numbers[3] - numbers[4]
    return busy / ticks


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def train_recognizer(
    training: list[TrainingPage],
    validation: list[TrainingPage],
    output: Path,
    work_dir: Path,
    *,
    base: Path | None = None,
    epochs: int = 30,
    spec: str = DEFAULT_SPEC,
    batch_size: int = DEFAULT_BATCH_SIZE,
    learning_rate: float = 3e-3,
    schedule: str = "constant",
    augment: bool = False,
    patience: int | None = None,
    max_minutes: float | None = None,
    normalization: str | None = None,
    padding: int = 16,
    seed: int = 0,
    progress: Callable[[EpochDone], None] | None = None,
    device: str | None = None,
) -> TrainingResult:
    """Train a recognition model (or fine-tune ``base``) and write the best one to ``output``.

    ``device``: "cuda" or "cpu"; None trains on a GPU when torch sees one.

    Lines are cut out of the page images by kraken itself (polygon dewarping from the
    baseline and boundary), exactly as recognition will cut them, and compiled once
    into binary datasets in ``work_dir``. Returns the kept epoch and its validation
    character accuracy.

    ``schedule`` is kraken's learning-rate schedule (``constant``, ``reduceonplateau``:
    a tenth after 5 epochs without a better validation CER, ``cosine``: down to 1e-6
    over the epochs). ``patience`` stops after that many epochs without a better
    validation CER (else all ``epochs`` run); ``max_minutes`` stops training after that
    long, keeping the best epoch so far. ``augment`` is kraken's image augmentation,
    ``normalization`` a Unicode form applied to the texts (NFD, NFC…), ``padding`` the
    pixels added at each end of a line image.
    """
    if schedule not in SCHEDULES:
        raise WorkbenchError(f"unknown learning-rate schedule {schedule!r} (known: {', '.join(SCHEDULES)})")
    started = time.monotonic()
    threads = training_threads()
    if "torch" not in sys.modules:  # OpenMP reads it once, as torch loads it
        # Waiting threads sleep instead of spinning: an epoch with 2 threads next to a busy
        # process took 40 s spinning and 1.7 s sleeping (bench/training_threads.py).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch
    from kraken.configs import VGSLRecognitionTrainingConfig, VGSLRecognitionTrainingDataConfig
    from kraken.lib.arrow_dataset import build_binary_dataset
    from kraken.models.convert import convert_models
    from kraken.train import KrakenTrainer, VGSLRecognitionModel
    from kraken.train.vgsl import VGSLRecognitionDataModule
    from lightning.pytorch import seed_everything
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint

    torch.set_num_threads(threads)
    logger.info("training with %d torch thread(s)", threads)
    seed_everything(seed, workers=True, verbose=False)  # the same lines give the same model
    work_dir.mkdir(parents=True, exist_ok=True)
    datasets = {}
    for name, pages in (("training", training), ("validation", validation)):
        datasets[name] = work_dir / f"{name}.arrow"
        segmentations = [_training_segmentation(page, work_dir, f"{name}-{k}") for k, page in enumerate(pages)]
        build_binary_dataset(files=segmentations, output_file=str(datasets[name]), format_type=None)
    settings = dict(
        training_data=[str(datasets["training"])],
        evaluation_data=[str(datasets["validation"])],
        format_type="binary",
        partition=1,
        num_workers=0,
        batch_size=batch_size,
        spec=spec,
        epochs=epochs,
        quit="fixed" if patience is None else "early",
        lag=patience or 10,
        min_epochs=1,
        lrate=learning_rate,
        schedule=schedule,
        rop_patience=5,
        cos_t_max=epochs,
        augment=augment,
        normalization=normalization,
        padding=padding,
        resize="union",  # a base model learns the characters it lacks
        checkpoint_path=str(work_dir / "checkpoints"),
    )
    data_config = VGSLRecognitionTrainingDataConfig(**settings)
    model_config = VGSLRecognitionTrainingConfig(**settings)
    best = ModelCheckpoint(
        dirpath=work_dir / "checkpoints", save_top_k=1, monitor="val_metric", mode="max", filename="best"
    )

    class Report(Callback):
        """Each epoch's own numbers, and which epoch the checkpoint keeps.

        ``on_validation_end`` runs after kraken has logged this epoch's accuracy (its
        ``on_validation_epoch_end`` runs after the callbacks'), and the training
        loss of the epoch is averaged here, since Lightning computes its own only after
        validation.
        """

        def __init__(self) -> None:
            self.losses: list[float] = []
            self.best_accuracy = float("-inf")
            self.best_epoch = 0
            self.epochs_run = 0

        def on_train_epoch_start(self, trainer, module) -> None:
            self.losses = []

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
            loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
            if loss is not None:
                self.losses.append(float(loss))

        def on_validation_end(self, trainer, module) -> None:
            if trainer.sanity_checking:
                return
            accuracy = trainer.callback_metrics.get("val_accuracy")
            accuracy = float(accuracy) if accuracy is not None else None
            epoch = trainer.current_epoch + 1
            self.epochs_run = epoch
            # Strictly better, as ModelCheckpoint decides: the first of equal epochs is kept.
            improved = accuracy is not None and accuracy > self.best_accuracy
            if improved:
                self.best_accuracy, self.best_epoch = accuracy, epoch
            if progress is not None:
                loss = sum(self.losses) / len(self.losses) if self.losses else None
                progress(EpochDone(epoch, epochs, loss, accuracy, best=improved))

    report = Report()
    trainer = KrakenTrainer(
        accelerator=device or ("cpu" if not torch.cuda.is_available() else "auto"),
        devices=1,
        max_epochs=epochs,
        min_epochs=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[best, report],
        num_sanity_val_steps=0,
        val_check_interval=1.0,
        max_time=None if max_minutes is None else timedelta(minutes=max_minutes),
    )
    with trainer.init_module(empty_init=base is None):
        if base is None:
            model = VGSLRecognitionModel(model_config)
        else:
            model = _fine_tuning_start(VGSLRecognitionModel, base, model_config)
    try:
        trainer.fit(model, VGSLRecognitionDataModule(data_config))
    except SystemExit as stop:
        # Lightning ends a KeyboardInterrupt (SIGINT, or a signal the caller turned
        # into one) with sys.exit(1), and SIGTERM with a SystemExit of status 0: let
        # the signal through as the caller asked for it, and never as success.
        if isinstance(stop.__context__, KeyboardInterrupt):
            raise stop.__context__ from None
        if trainer.received_sigterm and not stop.code:
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    if not best.best_model_path:
        raise WorkbenchError("training stopped before the first epoch ended; no model was made")
    written = convert_models([best.best_model_path], output, weights_format="safetensors")
    if Path(written) != output:
        os.replace(written, output)
    return TrainingResult(
        accuracy=float(best.best_model_score),
        epoch=report.best_epoch,
        epochs_run=report.epochs_run,
        seconds=time.monotonic() - started,
    )


def _fine_tuning_start(module_class, base: Path, config):
    """The training module that starts from the model file ``base`` (older CoreML files included)."""
    return _older_files_too(base, lambda path: module_class.load_from_weights(str(path), config=config), "fine-tune")


def _older_files_too(path: Path, load: Callable[[Path], Any], purpose: str) -> Any:
    """``load(path)``; a kraken 2 file that kraken now refuses for lacking its model type
    is loaded from a copy that names it (``_with_model_type``); anything else is NotAModel."""
    try:
        return load(path)
    except Exception as error:  # kraken raises ValueError, KeyError, RuntimeError… for bad files
        problem = error
    with tempfile.TemporaryDirectory() as folder:
        typed = _with_model_type(path, Path(folder))
        if typed is not None:
            try:
                return load(typed)
            except Exception as error:
                problem = error
    raise NotAModel(f"{path.name} is not a kraken recognition model this version can {purpose} ({problem})")


def _training_segmentation(page: TrainingPage, work_dir: Path, name: str):
    from kraken.containers import BaselineLine, Segmentation

    image = page.image
    if page.frame is not None:  # kraken reads the first frame of a file: give it this one alone
        image = work_dir / f"{name}.png"
        facsimile.open_page(page.image, page.frame).save(image)
    return Segmentation(
        type="baselines",
        imagename=str(image),
        text_direction="horizontal-lr",
        script_detection=False,
        lines=[
            BaselineLine(id=line.id, baseline=line.baseline, boundary=line.boundary, text=line.text)
            for line in page.lines
        ],
        regions={},
        line_orders=[],
    )
