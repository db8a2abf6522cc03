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
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from statistics import fmean

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
    try:
        return RecognitionTaskModel.load_model(model_path)
    except Exception as error:  # kraken raises ValueError, KeyError, RuntimeError… for bad files
        raise NotAModel(
            f"{model_path.name} is not a kraken recognition model this version can load ({error})"
        ) from None


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

# A VGSL network small enough to learn one hand from a few hundred lines on a CPU in
# minutes (lines scaled to 32 px, two small convolution blocks, one 96-unit
# bidirectional LSTM). Measured on 175 rendered lines (bench/training.py, 2 cores): after
# 30 epochs (84 s) it reads 74 % of the validation characters and still climbs; a
# 48 px network with two 128-unit LSTM layers was at 28 % (317 s), and one with two
# 200-unit layers had learnt nothing after 10 epochs (128 s). Bigger corpora can
# afford a bigger network: --spec.
DEFAULT_SPEC = "[1,32,0,1 Cr3,3,16 Mp2,2 Cr3,3,32 Mp2,2 S1(1x0)1,3 Lbx96]"


@dataclass
class TrainingPage:
    """A page image and the lines on it to learn from; each line's text is plain, as written."""

    image: Path
    frame: int | None
    lines: list[Line]


@dataclass
class EpochDone:
    """Progress of a training run, after each epoch's validation."""

    epoch: int  # 1-based
    epochs: int
    loss: float | None
    accuracy: float | None  # character accuracy on the validation lines, 0–1

    def __str__(self) -> str:
        accuracy = f"{self.accuracy:.1%}" if self.accuracy is not None else "—"
        return f"epoch {self.epoch}/{self.epochs}: loss {self.loss or 0:.1f}, validation accuracy {accuracy}"


def train_recognizer(
    training: list[TrainingPage],
    validation: list[TrainingPage],
    output: Path,
    work_dir: Path,
    *,
    base: Path | None = None,
    epochs: int = 30,
    spec: str = DEFAULT_SPEC,
    batch_size: int = 8,
    learning_rate: float = 3e-3,
    seed: int = 0,
    progress: Callable[[EpochDone], None] | None = None,
    device: str | None = None,
) -> float:
    """Train a recognition model (or fine-tune ``base``) and write the best one to ``output``.

    ``device``: "cuda" or "cpu"; None trains on a GPU when torch sees one.

    Lines are cut out of the page images by kraken itself (polygon dewarping from the
    baseline and boundary), exactly as recognition will cut them, and compiled once
    into binary datasets in ``work_dir``. Returns the best validation character accuracy.
    """
    import torch
    from kraken.configs import VGSLRecognitionTrainingConfig, VGSLRecognitionTrainingDataConfig
    from kraken.lib.arrow_dataset import build_binary_dataset
    from kraken.models.convert import convert_models
    from kraken.train import KrakenTrainer, VGSLRecognitionModel
    from kraken.train.vgsl import VGSLRecognitionDataModule
    from lightning.pytorch import seed_everything
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint

    torch.set_num_threads(os.cpu_count() or 1)  # a training job has the machine to itself
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
        quit="fixed",
        lrate=learning_rate,
        resize="union",  # a base model learns the characters it lacks
        checkpoint_path=str(work_dir / "checkpoints"),
    )
    data_config = VGSLRecognitionTrainingDataConfig(**settings)
    model_config = VGSLRecognitionTrainingConfig(**settings)
    best = ModelCheckpoint(
        dirpath=work_dir / "checkpoints", save_top_k=1, monitor="val_metric", mode="max", filename="best"
    )

    class Report(Callback):
        def on_validation_epoch_end(self, trainer, module) -> None:
            if trainer.sanity_checking or progress is None:
                return
            metrics = trainer.callback_metrics
            loss, accuracy = metrics.get("train_loss_epoch"), metrics.get("val_accuracy")
            progress(
                EpochDone(
                    trainer.current_epoch + 1,
                    epochs,
                    float(loss) if loss is not None else None,
                    float(accuracy) if accuracy is not None else None,
                )
            )

    trainer = KrakenTrainer(
        accelerator=device or ("cpu" if not torch.cuda.is_available() else "auto"),
        devices=1,
        max_epochs=epochs,
        min_epochs=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[best, Report()],
        num_sanity_val_steps=0,
        val_check_interval=1.0,
    )
    with trainer.init_module(empty_init=base is None):
        if base is None:
            model = VGSLRecognitionModel(model_config)
        else:
            model = VGSLRecognitionModel.load_from_weights(str(base), config=model_config)
    trainer.fit(model, VGSLRecognitionDataModule(data_config))
    if not best.best_model_path:
        raise WorkbenchError("training stopped before the first epoch ended; no model was made")
    written = convert_models([best.best_model_path], output, weights_format="safetensors")
    if Path(written) != output:
        os.replace(written, output)
    return float(best.best_model_score)


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
