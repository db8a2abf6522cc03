"""Synthetic lines of pre-1945 Bulgarian, and a base recognition model pretrained on them.

Open handwritten Cyrillic ground truth with ѣ, ѫ, ѭ, ѧ and і is scarce, so a new
network would meet these letters only in the few hundred lines a philologist
corrects. A base model pretrained on rendered lines already knows the alphabet;
fine-tuning it (``workbench train --base``) then only has to learn the hand.

Each line is drawn from a seed alone (``render_line(seed, index, fonts)``): its text
(the project's own texts in sample.py, generated old-orthography word forms, numbers,
punctuation, titlo and stress marks now and then), a font that has every one of its
characters, a size, a slant, a slight rotation and baseline curve, ink thickness,
faded ink, paper texture and stains, blur, noise and contrast. The same seed and fonts
give the same lines, image for image. Each line is a page image of its own with a
``Line`` (baseline and boundary polygon, as the segmentation would give them), which
kraken cuts out exactly as it cuts a real page's lines.
"""

from __future__ import annotations

import logging
import math
import random
import shutil
import subprocess
import tempfile
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from workbench import sample
from workbench.edition import Edition
from workbench.htr import kraken, training
from workbench.model import Line, WorkbenchError

logger = logging.getLogger(__name__)

TITLO = "\u0483"
ACUTE = "\u0301"  # the stress mark
LOWER = "абвгдежзийклмнопрстуфхцчшщъьюяѝѣѫѭѧі"
UPPER = "АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЬЮЯЍѢѪѬѦІ"
DIGITS = "0123456789"
PUNCTUATION = ".,;:!?-()"
# What a font must have to be used at all: the letters and figures of the corpus.
CORE = LOWER + UPPER + DIGITS + PUNCTUATION
# What some lines have besides, and not every font: a font without them draws only the lines without them.
EXTRA = TITLO + ACUTE + "„“«»—"
ALPHABET = CORE + EXTRA + " "

VOWELS = "аеиоуъѣѫѭѧяюі"
# Old forms with the letters the generated stems seldom or never have (ѭ, ѧ, і, Ѣ…).
OLD_FORMS = (
    "ѧзикъ мѧсо свѧтъ пѧть имѧ врѣмѧ знамѧ сѣмѧ племѧ дѣвѧ сѭ моѭ твоѭ своѭ стоѭтъ броѭ кроѭ "
    "Россія исторія Іоаннъ Іерусалимъ сіи обикновеніето Бѫлгарія Ѣдене Ѫгълъ Ѭнакъ Ѧсно "
    "Пловдивъ Търново Русе Свищовъ Габрово Цариградъ Букурещъ Браила"
).split()
# Abbreviations written under a titlo in letters and church books of the time.
TITLO_FORMS = ("б\u0483ъ", "г\u0483ь", "г\u0483нъ", "с\u0483тъ", "ц\u0483рь", "с\u0483нъ", "Б\u0483ъ", "Г\u0483ь")
MONTHS = "Януарий Февруарий Мартъ Априлъ Май Юний Юлий Августъ Септемврий Октомврий Ноемврий Декемврий".split()
STRESS_RATE = 0.03  # of words with a stress mark
TITLO_RATE = 0.02  # of words that are an abbreviation under a titlo


# -- fonts ------------------------------------------------------------------------------


@dataclass
class FontChoice:
    """The fonts lines are drawn in, and why the others were left out."""

    fonts: list[Path]
    lacking: dict[Path, str] = field(default_factory=dict)  # a usable font → the EXTRA characters it lacks
    skipped: dict[Path, str] = field(default_factory=dict)  # a font left out → why


def installed_fonts() -> list[Path]:
    """Font files fontconfig knows with Bulgarian letters (TrueType and OpenType), sorted."""
    try:
        listed = subprocess.run(
            ["fc-list", ":lang=bg", "--format", "%{file}\n"], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError) as error:
        raise WorkbenchError(f"cannot list the installed fonts with fc-list (fontconfig): {error}") from None
    return sorted({Path(name) for name in listed if name.lower().endswith((".ttf", ".otf"))})


def choose_fonts(candidates: Iterable[Path]) -> FontChoice:
    """The candidates that have every letter, figure and punctuation mark of the corpus.

    A font without one of them is left out (logged, with the characters it lacks); a
    font without a titlo, a stress mark or typographic quotes draws only the lines
    without them.
    """
    choice = FontChoice([])
    for path in sorted(set(candidates)):
        try:
            missing = missing_characters(path, ALPHABET.replace(" ", ""))
        except OSError as error:
            choice.skipped[path] = f"cannot be read ({error})"
            logger.info("font %s left out: %s", path, choice.skipped[path])
            continue
        lacking_core = [c for c in CORE if c in missing]
        if lacking_core:
            choice.skipped[path] = "lacks " + " ".join(_named(c) for c in lacking_core)
            logger.info("font %s left out: %s", path, choice.skipped[path])
            continue
        choice.fonts.append(path)
        if missing:
            choice.lacking[path] = "".join(c for c in EXTRA if c in missing)
            logger.info("font %s draws only lines without %s", path, " ".join(_named(c) for c in missing))
    return choice


def usable_fonts(candidates: Iterable[Path] | None = None) -> FontChoice:
    """``choose_fonts`` of the candidates (default: the installed fonts), refused when none is usable."""
    choice = choose_fonts(installed_fonts() if candidates is None else candidates)
    if not choice.fonts:
        reasons = "; ".join(f"{path.name}: {why}" for path, why in choice.skipped.items()) or "no font found"
        raise WorkbenchError(f"no font has every letter of the corpus ({reasons})", code="no-font")
    return choice


def missing_characters(path: Path, characters: str) -> set[str]:
    """The characters the font has no glyph for.

    Pillow draws a character a font lacks with the font's .notdef glyph (a box, or
    nothing): a character is missing when it draws exactly as a character no font has.
    Drawn one by one without shaping, so a combining mark is tested on its own.
    """
    face = _face(path)
    notdef = _mask(face, "\U0010fffd")
    missing = set()
    for character in characters:
        if character.strip():
            drawn = _mask(face, character)
            if drawn == notdef or not any(drawn[1]):  # a glyph that draws no ink is no glyph either
                missing.add(character)
    return missing


def _mask(face: ImageFont.FreeTypeFont, character: str) -> tuple[tuple[int, int], bytes]:
    mask = face.getmask(character)
    return mask.size, bytes(mask)


@cache
def _face(path: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), 40, layout_engine=ImageFont.Layout.BASIC)


@cache
def _drawing_face(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)  # shaped (raqm where Pillow has it): marks sit on their letters


def _named(character: str) -> str:
    return (
        f"{character.strip() or ' '} (U+{ord(character):04X})"
        if unicodedata.combining(character) == 0
        else (f"U+{ord(character):04X} {unicodedata.name(character, '').lower()}")
    )


def fonts_from(names: Iterable[str]) -> list[Path]:
    """Font files from paths, or from names matched against the installed fonts' file names."""
    installed = None
    chosen: list[Path] = []
    for name in names:
        path = Path(name).expanduser()
        if path.is_file():
            chosen.append(path.resolve())
            continue
        installed = installed if installed is not None else installed_fonts()
        found = [font for font in installed if name.lower() in font.name.lower()]
        if not found:
            raise WorkbenchError(f"no font file {name!r}, and no installed font with Bulgarian letters is named so")
        chosen.extend(found)
    return chosen


# -- texts --------------------------------------------------------------------------------


@cache
def _words() -> tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...]]:
    """The project's own texts' words; generated word forms, most frequent first, and
    their cumulative Zipf weights (a few function words are frequent, most forms rare)."""
    texts = (sample.HADZHI_DIMITAR + " " + sample.POD_IGOTO).replace("i", "і")  # a Latin i slipped into the text
    own = tuple(texts.split())
    generated = tuple(sample.vocabulary(3000, random.Random(1926)))
    weights = np.cumsum([1 / (rank + 10) for rank in range(len(generated))])
    return own, generated, tuple(weights.tolist())


def line_text(rng: random.Random) -> str:
    """A line of pre-1945 Bulgarian, 3 to 11 words: a line of the project's texts, or words
    drawn from them and from generated forms, with figures, punctuation, titlo and stress marks."""
    own, generated, weights = _words()
    if rng.random() < 0.1:
        lines = (sample.HADZHI_DIMITAR + "\n" + sample.POD_IGOTO).replace("i", "і").splitlines()
        return rng.choice(lines)
    words = []
    for _ in range(rng.randint(3, 11)):
        roll = rng.random()
        if roll < 0.3:
            word = rng.choice(own)
        elif roll < 0.4:
            word = rng.choice(OLD_FORMS)
        elif roll < 0.45:
            word = _number(rng)
        elif roll < 0.45 + TITLO_RATE:
            word = rng.choice(TITLO_FORMS)
        else:
            word = rng.choices(generated, cum_weights=weights)[0]
            if rng.random() < 0.08:
                word = word.capitalize()
        if rng.random() < STRESS_RATE:
            word = _stressed(word, rng)
        if rng.random() < 0.12:
            word += rng.choice(",,,..;:!?")
        words.append(word)
    if rng.random() < 0.08:
        k = rng.randrange(len(words))
        words[k] = rng.choice(("„", "«")) + words[k].rstrip(",.;:!?") + ("“" if rng.random() < 0.5 else "»")
    if rng.random() < 0.05:
        words.insert(rng.randrange(len(words)), rng.choice(("—", "-")))
    text = " ".join(words)
    return text[0].upper() + text[1:] if rng.random() < 0.4 else text


def _number(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return f"{rng.randint(1, 31)} {rng.choice(MONTHS)} {rng.randint(1840, 1944)}"
    if kind < 0.5:
        return f"{rng.randint(1840, 1944)} г."
    if kind < 0.6:
        return f"({rng.randint(1, 999)})"
    return str(rng.randint(1, 9999 if rng.random() < 0.3 else 99))


def _stressed(word: str, rng: random.Random) -> str:
    vowels = [k for k, c in enumerate(word) if c.lower() in VOWELS]
    if not vowels:
        return word
    k = rng.choice(vowels)
    return word[: k + 1] + ACUTE + word[k + 1 :]


# -- drawing ------------------------------------------------------------------------------


@dataclass
class SyntheticLine:
    """A rendered line: its page image (greyscale), where it is on it, what it says, in which font."""

    image: Image.Image
    line: Line
    font: Path
    size: int


def render_line(seed: int, index: int, fonts: FontChoice, text: str | None = None) -> SyntheticLine:
    """Line ``index`` of the set ``seed``: the same arguments give the same image and text."""
    if not fonts.fonts:
        raise WorkbenchError("no font to draw the synthetic lines in (none has every letter of the corpus)")
    rng = random.Random(f"synthetic-line {seed} {index}")
    noise = np.random.default_rng([seed, index])
    text = text if text is not None else line_text(rng)
    usable = [font for font in fonts.fonts if not set(fonts.lacking.get(font, "")) & set(text)]
    if not usable:
        raise WorkbenchError(f"no font has every character of {text!r}")
    font_path = rng.choice(usable)
    size = rng.randint(22, 60)
    face = _drawing_face(font_path, size)
    ascent, descent = face.getmetrics()

    # The ink, white on black, on a strip with room to slant, rotate and curve.
    left, top, right, bottom = face.getbbox(text, anchor="ls")
    pad = size
    width, height = right - min(left, 0) + 2 * pad + size, max(ascent, -top) + max(descent, bottom) + 2 * pad
    baseline_y = pad + max(ascent, -top)
    x0 = pad + max(0, -left)
    ink = Image.new("L", (width, height), 0)
    ImageDraw.Draw(ink).text((x0, baseline_y), text, font=face, fill=255, anchor="ls")
    thickness = rng.random()
    if thickness < 0.2:
        ink = ink.filter(ImageFilter.MaxFilter(3))  # a broad nib
    elif thickness < 0.3 and size > 44:  # thinner strokes of a small size vanish
        ink = ink.filter(ImageFilter.MinFilter(3))  # a fine one

    # Slant: a shear about the baseline, which stays where it is.
    slant = rng.uniform(-0.35, 0.35)
    ink = ink.transform(ink.size, Image.AFFINE, (1, slant, -slant * baseline_y, 0, 1, 0), Image.BILINEAR)
    # A baseline that curves a little: each column moved up or down.
    amplitude = rng.uniform(0, size * 0.12)
    wavelength = rng.uniform(1.5, 4) * max(width, 1)
    phase = rng.uniform(0, 2 * math.pi)

    def curve(x: np.ndarray) -> np.ndarray:
        return amplitude * np.sin(2 * math.pi * x / wavelength + phase)

    shift = np.rint(curve(np.arange(width))).astype(int)
    pixels = np.asarray(ink)
    rows = np.clip(np.arange(height)[:, None] - shift[None, :], 0, height - 1)
    pixels = pixels[rows, np.arange(width)[None, :]]
    ink = Image.fromarray(pixels)
    # Where the ink begins and ends, slanted: the band around the line spans it (a shear keeps rows level).
    columns = np.nonzero(pixels.max(axis=0) > 25)[0]
    start, end = (int(columns[0]), int(columns[-1])) if len(columns) else (x0, x0 + right)
    start, end = max(0, start - size // 10), min(width - 1, end + size // 10)  # anti-aliased edges too
    # A slight rotation about the start of the baseline, the canvas grown to keep it all.
    angle = rng.uniform(-2.0, 2.0)
    margin = int(width * abs(math.sin(math.radians(angle)))) // 2 + size // 2
    canvas = Image.new("L", (width, height + 2 * margin), 0)
    canvas.paste(ink, (0, margin))
    centre = (x0, baseline_y + margin)
    ink = canvas.rotate(angle, resample=Image.BICUBIC, center=centre)

    def place(x: float, y: float) -> tuple[int, int]:
        """Where a point of the straight strip went: curved, moved down by the margin, rotated."""
        y = y + float(curve(np.array([x]))[0]) + margin
        theta = math.radians(-angle)  # PIL turns counter-clockwise on screen
        dx, dy = x - centre[0], y - centre[1]
        return (
            round(centre[0] + dx * math.cos(theta) - dy * math.sin(theta)),
            round(centre[1] + dx * math.sin(theta) + dy * math.cos(theta)),
        )

    ink_array = np.asarray(ink, dtype=np.float32) / 255
    # The baseline and the band around it, sampled along the line as a segmenter gives them.
    steps = max(2, (end - start) // max(size, 1) + 1)
    xs = [start + (end - start) * k / steps for k in range(steps + 1)]
    baseline = [place(x, baseline_y) for x in xs]
    above, below = ascent * 1.1, descent * 1.2 + size * 0.1
    boundary = [place(x, baseline_y - above) for x in xs] + [place(x, baseline_y + below) for x in reversed(xs)]

    # The page: the line with a margin above and below as wide as a line gap would leave.
    xs_all = [x for x, _ in boundary] + [0, ink_array.shape[1] - 1]
    ys_all = [y for _, y in boundary]
    top_edge = max(0, min(ys_all) - rng.randint(size // 8, size // 2))
    bottom_edge = min(ink_array.shape[0], max(ys_all) + rng.randint(size // 8, size // 2))
    ink_array = ink_array[top_edge:bottom_edge, : max(xs_all) + 1]
    baseline = [(x, y - top_edge) for x, y in baseline]
    boundary = [(x, y - top_edge) for x, y in boundary]
    image = _on_paper(ink_array, rng, noise)
    w, h = image.size
    baseline = [(min(max(x, 0), w - 1), min(max(y, 0), h - 1)) for x, y in baseline]
    boundary = [(min(max(x, 0), w - 1), min(max(y, 0), h - 1)) for x, y in boundary]
    line = Line(f"synthetic-{seed}-{index}", boundary, baseline, text=text)
    return SyntheticLine(image, line, font_path, size)


def _on_paper(ink: np.ndarray, rng: random.Random, noise: np.random.Generator) -> Image.Image:
    """The ink (0–1) on paper: texture, stains, faded ink, contrast, blur and grain."""
    height, width = ink.shape
    paper = rng.uniform(175, 250)
    ink_level = rng.uniform(0, min(120, paper - 90))
    # Paper: a smooth unevenness (a coarse random field enlarged), and a few stains.
    coarse = noise.normal(0, rng.uniform(1, 10), (max(2, height // 24), max(2, width // 24))).astype(np.float32)
    field_ = np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))
    background = paper + field_
    for _ in range(rng.choice((0, 0, 1, 2))):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.2, 1.0) * height, rng.uniform(0.05, 0.3) * width
        yy, xx = np.ogrid[:height, :width]
        stain = np.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2))
        background -= rng.uniform(10, 50) * stain
    # Ink that fades and darkens along the line.
    fading = np.asarray(
        Image.fromarray(noise.uniform(0.7, 1.0, (2, max(2, width // 80))).astype(np.float32), mode="F").resize(
            (width, height), Image.BILINEAR
        )
    )
    alpha = np.clip(ink * (fading if rng.random() < 0.5 else 1.0), 0, 1)
    page = background * (1 - alpha) + ink_level * alpha
    image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    blur = rng.choice((0, 0.3, 0.6, 0.9, 1.2))
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    grain = rng.choice((0, 3, 6, 10))
    if grain:
        noisy = np.asarray(image, dtype=np.float32) + noise.normal(0, grain, (height, width))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return image


# -- a base model ------------------------------------------------------------------------

VALIDATION_SHARE = 10  # one line in ten chooses the epoch


def write_lines(
    folder: Path, indices: range, seed: int, fonts: FontChoice
) -> tuple[list[kraken.TrainingPage], list[kraken.TrainingPage]]:
    """Render lines ``indices`` of the set ``seed`` into ``folder`` as PNG pages: (training pages, validation pages)."""
    folder.mkdir(parents=True, exist_ok=True)
    training_pages, validation_pages = [], []
    for index in indices:
        drawn = render_line(seed, index, fonts)
        path = folder / f"{index:06}.png"
        drawn.image.save(path)
        page = kraken.TrainingPage(path, None, [drawn.line])
        (validation_pages if index % VALIDATION_SHARE == 1 else training_pages).append(page)
    return training_pages, validation_pages


def pretrain(
    edition: Edition,
    name: str,
    who: str,
    *,
    lines: int = 4000,
    seed: int = 0,
    fonts: FontChoice | list[Path] | None = None,
    epochs: int = 30,
    spec: str = kraken.DEFAULT_SPEC,
    progress: Callable[[kraken.EpochDone], None] | None = None,
    rendered: Callable[[int, int], None] | None = None,
    device: str | None = None,
    **options: Any,
) -> training.ModelRecord:
    """Render ``lines`` synthetic lines from ``seed``, train a model on them and keep it as ``name``.

    ``fonts`` (font files, default: the installed fonts with Bulgarian letters) are
    checked: only those with every letter of the corpus draw lines (``usable_fonts``). The model is kept in the edition's
    store like any trained model, its record saying it is synthetic, with the fonts, the
    seed and the number of lines; ``train --base NAME`` fine-tunes it. ``options`` go to
    ``kraken.train_recognizer``.
    """
    training.check_name(edition, name)
    if lines < 2 * VALIDATION_SHARE:
        raise WorkbenchError(f"at least {2 * VALIDATION_SHARE} synthetic lines are needed to train on, not {lines}")
    choice = fonts if isinstance(fonts, FontChoice) else usable_fonts(fonts)
    store = training.ModelStore.of(edition)
    store.folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=store.folder, prefix=f".{name}.pretraining-"))
    try:
        pages_folder = work / "lines"
        training_pages, validation_pages = [], []
        step = max(1, lines // 20)
        for start in range(0, lines, step):
            # Rendered in chunks so that the caller can tell how far it is.
            chunk = write_lines(pages_folder, range(start, min(lines, start + step)), seed, choice)
            training_pages += chunk[0]
            validation_pages += chunk[1]
            if rendered:
                rendered(min(lines, start + step), lines)
        material = training.Material(
            [("synthetic", "", page) for page in training_pages],
            [("synthetic", "", page) for page in validation_pages],
            [],
        )
        weights = work / "model.safetensors"
        trained = training.fit(
            material,
            weights,
            work / "kraken",
            epochs=epochs,
            spec=spec,
            progress=progress,
            device=device,
            **options,
        )
        record = training.model_record(name, who, [], None, epochs, material.split(), trained)
        record.synthetic = {
            "seed": seed,
            "lines": lines,
            "fonts": [str(path) for path in choice.fonts],
            "fonts_skipped": {str(path): why for path, why in choice.skipped.items()},
            "spec": spec,
        }
        training.keep(edition, record, weights)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return record
