"""Render pages and lines of pre-1945 Bulgarian text with the Old Standard font.

Open handwritten Cyrillic ground truth is scarce, so the sample edition, the tests
and the benchmarks use pages the project renders itself (design.md §1): a slightly
uneven hand-set page in Old Standard (Debian's fonts-oldstandard), with ѣ, ѫ, і and
final ъ. The renderer also returns where it drew each line, which is ground truth
for checking segmentation.
"""

from __future__ import annotations

import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from workbench.tei.text import text_fragment

if TYPE_CHECKING:
    from workbench.edition import Edition

FONT_DIR = Path("/usr/share/fonts/truetype/fonts-oldstandard")
FONT_FILES = {"regular": "OldStandard-Regular.ttf", "italic": "OldStandard-Italic.ttf"}

# After Hristo Botev, "Хаджи Димитъръ" (1873), public domain; spelled in the
# orthography of before 1945 by the project.
HADZHI_DIMITAR = """\
Живъ е той, живъ е! Тамъ на Балкана,
потъненъ въ кърви лежи и пъшка
юнакъ съ дълбока на гърди рана,
юнакъ въ младость и въ сила мѫжка.
На една страна захвърлилъ пушка,
на друга сабля на двѣ строшена;
очи тъмнѣятъ, глава се люшка,
уста проклинатъ цѣла вселена!
Лежи юнакътъ, а на небето
слънцето спрѣно сърдито пече;
жътварка пѣе нейдѣ въ полето,
и кръвьта още по-силно тече!
Жътва е сега... Пѣйте, робини,
тѣзи тѫжни пѣсни! Грѣй и ти, слънце,
въ таз робска земя! Ще да загине
и тоя юнакъ... Но млъкни, сърце!
Тоз, който падне въ бой за свобода,
той не умира: него жалѣятъ
земя и небо, звѣръ и природа,
и пѣвци пѣсни за него пѣятъ..."""

# After Ivan Vazov, "Подъ игото" (1894), opening of chapter I, public domain;
# spelled in the orthography of before 1945 by the project.
POD_IGOTO = """\
Въ тая прохладна майска вечерь чорбаджи Марко,
гологлавъ, по бѣли рѫкави и по халатъ,
вечеряше съ челядьта си на двора.
Трапезата, по обикновенiето, бѣше сложена
между ясмиковитѣ храсти, които отъ двѣ страни
на стѣната се виеха и пълнѣха въздуха съ
сладко ухание. Подъ широкото небе, което
се бѣше синѣло надъ градеца, всичко бѣше
тихо и спокойно; само вѣтърътъ шумолѣше
въ листата на старата круша до портата.
Тогава кучето залая силно и дълго, и
всички се обърнаха къмъ тъмния ѫгълъ,
отдѣто се чуваше нѣкакъвъ шумъ. Марко
стана и рече: „Кой е тамъ?“ Никой не
отговори; само нѣщо пакъ се размърда
въ тъмнината подъ дървения навѣсъ."""


# Generated old-orthography word forms (bench/search.py's corpus, the synthetic lines of
# htr/synthetic.py): stems in the pre-1945 spelling (ѣ, ѫ, final ъ, -ьтъ …) with noun,
# adjective and verb endings, after the frequent function words.
FUNCTION_WORDS = "и на въ се да не е сѫ съ за отъ по като че а то той тя тѣ ние ще си му ѝ ги бѣше".split()
ONSETS = "б в г д ж з к л м н п р с т ф х ц ч ш щ бл бр вл вр гл гр др зв кл кр пл пр ст стр тр хр чр".split()
VOWELS = ["а", "е", "и", "о", "у", "ъ", "ѣ", "ѫ", "я", "ю"]
VOWEL_WEIGHTS = [18, 16, 14, 16, 5, 8, 9, 4, 5, 2]
CODAS = ["", "", "", "н", "л", "р", "с", "т", "в", "к", "ст"]
ENDINGS = {
    "masculine": ["ъ", "ътъ", "а", "ове", "оветѣ", "и", "итѣ"],
    "soft": ["ь", "ьтъ", "я", "и", "итѣ"],
    "feminine": ["а", "ата", "и", "итѣ", "ѫ", "ѫтѫ"],
    "neuter": ["о", "ото", "а", "ата"],
    "adjective": ["ъ", "ия", "ата", "ото", "и", "итѣ", "а", "о"],
    "verb": ["ѫ", "ешь", "е", "емъ", "ете", "ѫтъ", "ахъ", "ѣхъ", "алъ"],
}


def vocabulary(stems: int, rng: random.Random) -> list[str]:
    """Word forms, most frequent first."""
    forms: list[str] = list(FUNCTION_WORDS)
    seen = set(forms)
    kinds = list(ENDINGS)
    for _ in range(stems):
        stem = "".join(
            rng.choice(ONSETS) + rng.choices(VOWELS, VOWEL_WEIGHTS)[0] for _ in range(rng.choice((1, 1, 2, 2, 3)))
        )
        stem += rng.choice(CODAS) if not stem.endswith(("ѣ", "ѫ")) else "л"
        kind = rng.choice(kinds)
        for ending in ENDINGS[kind]:
            form = stem + ending
            if form not in seen:
                seen.add(form)
                forms.append(form)
    return forms


@dataclass
class DrawnLine:
    """A line the renderer drew: its text and its baseline in image pixels."""

    text: str
    baseline: list[tuple[int, int]]
    bbox: tuple[int, int, int, int]


def font(size: int, style: str = "italic") -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / FONT_FILES[style]), size)


def render_page(
    lines: list[str],
    *,
    width: int = 1240,
    height: int = 1754,
    font_size: int | None = None,
    seed: int = 0,
    style: str = "italic",
) -> tuple[Image.Image, list[DrawnLine]]:
    """Draw ``lines`` on a paper-coloured page, each line slightly tilted and shifted.

    Returns the greyscale image and where each line was drawn.
    """
    rng = random.Random(seed)
    size = font_size or max(12, height // 48)
    face = font(size, style)
    page = Image.new("L", (width, height), 236)
    drawn: list[DrawnLine] = []
    margin_x = width // 10
    y = height // 10
    line_gap = int(size * 1.9)
    for text in lines:
        if y + line_gap > height - height // 12:
            break
        # Each line on its own strip, rotated by a small angle, then pasted: a hand
        # never keeps a perfectly straight baseline.
        left, top, right, bottom = face.getbbox(text)
        strip = Image.new("L", (right + 2 * size, bottom + 2 * size), 0)
        ImageDraw.Draw(strip).text((size, size), text, font=face, fill=255)
        angle = rng.uniform(-1.2, 1.2)
        ascent = face.getmetrics()[0]
        rotated = strip.rotate(angle, resample=Image.BICUBIC, expand=False, center=(size, size + ascent))
        x = margin_x + rng.randint(-size // 2, size)
        ink = Image.new("L", rotated.size, rng.randint(20, 60))
        page.paste(ink, (x - size, y - size), rotated)
        # The baseline starts at the rotation centre; its far end turns with the strip.
        theta = math.radians(-angle)
        length = right
        x0, y0 = x, y + ascent
        x1 = x0 + int(length * math.cos(theta))
        y1 = y0 + int(length * math.sin(theta))
        drawn.append(DrawnLine(text, [(x0, y0), (x1, y1)], (x, y + top, x + right, y + bottom)))
        y += line_gap + rng.randint(-size // 8, size // 8)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    return page, drawn


def render_line(text: str, *, height: int = 48, seed: int = 0, style: str = "italic") -> Image.Image:
    """Draw one line of text on its own, as a line image for recognition training and tests."""
    rng = random.Random(seed)
    face = font(int(height * 0.6), style)
    left, top, right, bottom = face.getbbox(text)
    image = Image.new("L", (right + height, height), 236)
    ImageDraw.Draw(image).text((height // 2, (height - bottom - top) // 2), text, font=face, fill=rng.randint(20, 60))
    return image


# The sample edition's pages: (file name, text, size, seed).
SAMPLE_PAGES = [
    ("001.jpg", HADZHI_DIMITAR, (1240, 1754), 1),
    ("002.png", POD_IGOTO, (1654, 2339), 2),
]


def write_sample_pages(folder: Path) -> dict[str, list[DrawnLine]]:
    """Render the sample edition's page images into ``folder``; returns what each shows."""
    folder.mkdir(parents=True, exist_ok=True)
    drawn = {}
    for name, text, (width, height), seed in SAMPLE_PAGES:
        image, lines = render_page(text.splitlines(), width=width, height=height, seed=seed)
        image.save(folder / name, quality=88) if name.endswith(".jpg") else image.save(folder / name, optimize=True)
        drawn[name] = lines
    return drawn


def rendered_manuscript(
    edition: Edition, folder: Path, pages: int, transcribed: int, seed: int = 1, manuscript_id: str = "letters"
) -> dict[str, str]:
    """A manuscript of rendered pages of random old-orthography lines, segmented by the
    renderer's own ground truth; the first ``transcribed`` pages have their text,
    corrected or verified by a person, the others none. Returns every line's true text.

    What the training tests and benchmark learn from: real kraken training needs
    real line images, and these are drawn like the sample edition's.
    """
    from workbench.model import Line, Manuscript

    rng = random.Random(seed)
    words = (HADZHI_DIMITAR + " " + POD_IGOTO).split()
    folder.mkdir(parents=True, exist_ok=True)
    drawn_pages = []
    for n in range(1, pages + 1):
        texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 6))) for _ in range(30)]
        image, drawn = render_page(texts, width=1000, height=1400, seed=seed * 1000 + n, font_size=28)
        image.save(folder / f"{n:03}.png")
        drawn_pages.append(drawn)
    edition.create(Manuscript(id=manuscript_id, title="Писма"), who="renderer")
    edition.add_pages(manuscript_id, sorted(folder.glob("*.png")), who="renderer")
    truth = {}
    with edition.edit(manuscript_id, who="maria", source="maria") as manuscript:
        person = manuscript.source("transcription", "maria")
        for page, drawn in zip(manuscript.pages, drawn_pages, strict=True):
            for k, line in enumerate(drawn, start=1):
                x0, y0, x1, y1 = line.bbox
                boundary = [(x0 - 4, y0 - 6), (x1 + 6, y0 - 6), (x1 + 6, y1 + 8), (x0 - 4, y1 + 8)]
                added = Line(f"{page.id}_l{k}", boundary, line.baseline)
                truth[added.id] = line.text
                if int(page.n) <= transcribed:
                    added.text, added.resp = text_fragment(line.text), person.id
                    added.status = "corrected" if k % 3 == 0 else "verified"
                page.lines.append(added)
    return truth


def copy_sample_edition(edition: Edition) -> str:
    """Copy the bundled sample edition (its TEI and page images) into ``edition``; returns its manuscript id."""
    from workbench import packaged

    source = packaged.sample_root()
    for path in packaged.SAMPLE:
        target = edition.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if (source / path).is_dir():
            shutil.copytree(source / path, target)
        else:
            shutil.copy2(source / path, target)
    return Path(packaged.SAMPLE[0]).stem
