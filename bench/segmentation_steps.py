"""Each post-processing step's contribution, on real ground truth, without re-running kraken.

`workbench eval-seg` runs kraken for every step combination; kraken is the slow part
(about 17 s a page on 2 cores), so this segments each ground-truth page once (kept
in --cache between runs), then scores kraken alone, every step alone, all steps,
and all steps but one. Per ground-truth folder and overall:

    .venv/bin/python bench/segmentation_steps.py tests/data/ground-truth/*/
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import time
from pathlib import Path

from workbench.exchange import layout_files, transfer
from workbench.htr import kraken, segeval
from workbench.layout import mend
from workbench.model import Layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ground_truth", nargs="+", type=Path, help="PAGE/ALTO files or folders of them")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/workbench-segmentation-cache"))
    parser.add_argument("--per-page", action="store_true", help="also print each page's figures")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)

    pages = []  # (set name, page name, true baselines, kraken's layout, seconds)
    for path in args.ground_truth:
        files = sorted(path.glob("*.xml"), key=transfer.natural_order) if path.is_dir() else [path]
        for file in files:
            truth = layout_files.read_layout(file.read_bytes(), file.name)
            image = file.parent / truth.image
            layout, seconds = _segmented(image, args.cache)
            pages.append((file.parent.name, file.name, [line.baseline for line in truth.lines], layout, seconds))

    combinations = {"kraken alone": ()}
    combinations.update({f"only {step}": (step,) for step in mend.STEPS})
    combinations["all steps"] = mend.STEPS
    if len(mend.STEPS) > 2:
        combinations.update({f"all but {step}": tuple(s for s in mend.STEPS if s != step) for step in mend.STEPS})

    sets = list(dict.fromkeys(name for name, *_ in pages))
    print(f"{len(pages)} pages, {sum(len(t) for _, _, t, _, _ in pages)} true lines; steps: {', '.join(mend.STEPS)}")
    for label, steps in combinations.items():
        scores = []
        for set_name, name, truth, layout, seconds in pages:
            mended = mend.mend(layout.lines, steps)
            scores.append(
                (set_name, segeval.score_page(name, truth, [line.baseline for line in mended.lines], seconds))
            )
        print(f"\n{label} ({', '.join(steps) or 'no steps'})")
        for set_name in [*sets, None]:
            chosen = [score for name, score in scores if set_name is None or name == set_name]
            _show(set_name or "overall", segeval.overall(chosen), len(chosen))
            if args.per_page and set_name:
                for score in chosen:
                    _show(f"  {score.name}", score, 1)


def _segmented(image: Path, cache: Path) -> tuple[Layout, float]:
    data = image.read_bytes()
    key = cache / f"{hashlib.sha256(data).hexdigest()[:16]}.pickle"
    if key.is_file():
        try:
            return pickle.loads(key.read_bytes())
        except (AttributeError, ImportError, pickle.UnpicklingError):
            pass  # cached by an older version of the code: segment again
    kraken.load_segmenter()  # untimed, as in eval-seg
    started = time.perf_counter()
    layout = kraken.segment_file(kraken.PageImage(image))
    result = (layout, time.perf_counter() - started)
    key.write_bytes(pickle.dumps(result))
    return result


def _show(label: str, score: segeval.PageScore, pages: int) -> None:
    print(
        f"{label:40} R {score.recall:.3f}  P {score.precision:.3f}  F1 {score.f1:.3f}  "
        f"(truth {score.truth}, found {score.found}, matched {score.matched}), {score.seconds / pages:.1f} s/page"
    )


if __name__ == "__main__":
    main()
