"""What a word means for search, in Bulgarian old (pre-1945) and modern spelling.

Pure functions, no search engine: ``search.py`` builds its index from them. The chain,
in the order of design.md §4:

1. ``normalize``: Unicode NFC; stress and titlo marks dropped (never the breve of й);
2. ``exact_form``: Latin look-alike letters inside Cyrillic words folded to Cyrillic,
   lower case — the "exact spelling" term, which keeps ѣ, ѫ and final ъ;
3. ``modern_forms``: the old orthography as modern spelling (ѣ → я or е, ѫ → ъ or а,
   ѭ → я, і/ы → и, final ъ and ь dropped, -ьтъ → -ят), one to two candidates;
4. ``stem``: a light stemmer of inflection, so that град finds градоветѣ.

The index keeps, for every word of a line, its modern forms and their stems (at one
position); a reader's word is looked up by its stems. Word functions are cached: a
million lines repeat the same few hundred thousand words.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

# Stress (grave, acute), titlo and the other combining Cyrillic signs (U+0483–U+0487),
# combining Cyrillic letters written above the line (U+2DE0–U+2DFF, U+A674–U+A67D) and
# the Old Cyrillic combining marks of Cyrillic Extended-B. Never U+0306 (й) or U+0308 (ї, ё).
_MARKS = re.compile("[\u0300\u0301\u0483-\u0487\u2de0-\u2dff\ua66f-\ua672\ua674-\ua67d\ua67f]")
# A word: letters or digits, with any combining marks inside it; hyphens, apostrophes
# and punctuation separate words.
_WORD = re.compile("[^\\W_][\\w\u0300-\u036f\u0483-\u0489\u2de0-\u2dff\ua66f-\ua67f]*")

_CYRILLIC = re.compile("[\u0400-\u052f\u2de0-\u2dff\ua640-\ua69f]")
# Latin letters that look like Cyrillic ones; HTR output and typing mix them up.
_HOMOGLYPHS = str.maketrans(
    {
        "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "I": "І", "K": "К", "M": "М",
        "O": "О", "P": "Р", "T": "Т", "X": "Х", "Y": "У",
        "a": "а", "c": "с", "e": "е", "i": "і", "o": "о", "p": "р", "x": "х", "y": "у",
    }
)  # fmt: skip

# Letters the 1945 reform replaced one for one.
_LETTERS = str.maketrans({"ѭ": "я", "ѧ": "я", "ѩ": "я", "і": "и", "ї": "и", "ы": "и", "ѵ": "и", "ѳ": "ф", "ѕ": "з"})
VOWELS = frozenset("аеиоуъюяѣѫ")
_BACK_VOWELS = frozenset("аоуъѫ")
# ѣ stays е before these consonants (нѣщо → нещо, вѣжда → вежда, мѣчка → мечка).
_NO_YA_BEFORE = frozenset("жчшщй")
# The prefix прѣ- and a few frequent words whose ѣ is е although the rule says я
# (unstressed or before a syllable the rule cannot see).
_YAT_AS_E = ("прѣ", "срѣд", "вѣк", "гдѣ", "дѣца", "рѣка", "бѣхме", "бѣхте")


class Token(NamedTuple):
    position: int  # the word's number in the text, from 0
    start: int  # offsets of the word in the original text, for highlighting
    end: int
    word: str  # the original characters, text[start:end]


def normalize(text: str) -> str:
    """NFC without stress and titlo marks.

    Decompose first: a precomposed ѝ or ѐ hides its grave accent inside one code point.
    й and ё decompose too, but their breve and diaeresis stay and compose again.
    """
    return unicodedata.normalize("NFC", _MARKS.sub("", unicodedata.normalize("NFD", text)))


def words(text: str) -> list[Token]:
    return [Token(i, m.start(), m.end(), m.group()) for i, m in enumerate(_WORD.finditer(text.replace("_", " ")))]


@lru_cache(maxsize=262144)
def exact_form(word: str) -> str:
    """The word as written, for the exact-spelling search: only marks, look-alikes and case folded."""
    word = normalize(word)
    if _CYRILLIC.search(word):
        word = word.translate(_HOMOGLYPHS)
    return word.lower()


@lru_cache(maxsize=262144)
def modern_forms(word: str) -> tuple[str, ...]:
    """The word in modern spelling: the best guess first, then the е-reading of ѣ if it differs.

    Stress decides whether ѣ is я or е and the manuscripts do not mark it, so where the
    rule says я, the е-form is a second candidate (мѣста → мяста, места).
    """
    word = exact_form(word)
    if not _CYRILLIC.search(word):
        return (word,)
    word = _endings(word.translate(_LETTERS))
    word = word.replace("ѫ", "ъ")
    word = re.sub("ь(?!о)", "", word)  # modern spelling keeps ь only before о (синьо)
    if "ѣ" not in word:
        return (word,)
    best, all_e = _yat(word), word.replace("ѣ", "е")
    return (best,) if best == all_e else (best, all_e)


def _endings(word: str) -> str:
    """The old word endings: -ьтъ → -ят, -ѫтъ → -ат, final ѫ → а, final ъ and ь dropped."""
    if len(word) > 3 and word.endswith("ьтъ"):
        return word[:-3] + "ят"  # коньтъ → конят, пѫтьтъ → пѫтят
    if len(word) > 3 and word.endswith("ѫтѫ"):
        return word[:-3] + "ата"  # водѫтѫ → водата (the feminine article after a preposition)
    if len(word) > 3 and word.endswith("ѫтъ"):
        return word[:-3] + "ат"  # четѫтъ → четат (3rd person plural)
    if len(word) > 1 and word[-1] in "ъь":
        word = word[:-1]  # градъ → град, пѫть → пѫт; a lone ъ or ь stays
    if len(word) > 1 and word.endswith("ѫ"):
        word = word[:-1] + "а"  # четѫ → чета, сѫ → са, водѫтѫ → водѫта
    return word


def _yat(word: str) -> str:
    """ѣ as я where the next syllable has a back vowel or there is none (бѣлъ → бял,
    мѣсто → място), as е before a front vowel or at the end (бѣли → бели, горѣ → горе)."""
    if word.startswith(_YAT_AS_E):
        return word.replace("ѣ", "е")
    letters = list(word)
    for i, letter in enumerate(letters):
        if letter != "ѣ":
            continue
        following = word[i + 1 :]
        next_vowel = next((c for c in following if c in VOWELS), None)
        consonants = following[: following.index(next_vowel)] if next_vowel else following
        if not following or _NO_YA_BEFORE.intersection(consonants[:1]):
            letters[i] = "е"
        elif next_vowel is None or next_vowel in _BACK_VOWELS:
            # After ж, ч, ш the modern letter is а (no я after them).
            letters[i] = "а" if i and word[i - 1] in "жчш" else "я"
        else:
            letters[i] = "е"
    return "".join(letters)


# Endings the stemmer takes off: articles, plural and case endings, and the two
# together. The longest that matches goes, if a stem of three letters or more is left.
_ENDINGS = sorted(
    ("овете", "евете", "ията", "ият", "ата", "ята", "ото", "ето", "ета", "ите", "ове", "еве", "ища",
     "ът", "ят", "ия", "та", "те", "а", "я", "о", "е", "и"),
    key=len,
    reverse=True,
)  # fmt: skip
_MIN_STEM = 3


@lru_cache(maxsize=262144)
def stem(word: str) -> str:
    """A light stemmer of Bulgarian inflection: град, града, градът, градове, градовете → град.

    One ending goes (article and plural together count as one: -овете, -ата, -ите), so
    that a word and its definite form meet (ръка, ръката → рък). Then я in the stem is
    read as е, so the two faces of one root share a stem (бял / бели, голям / големи);
    the rare words told apart only by я and е meet too, which a reader searching a
    spelling that wavered anyway prefers to a miss.
    """
    if len(word) < _MIN_STEM or not _CYRILLIC.search(word):
        return word
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
            word = word[: -len(ending)]
            break
    return word.replace("я", "е")


@lru_cache(maxsize=262144)
def index_terms(word: str) -> tuple[str, ...]:
    """What to index for one word of a line: its modern forms (for prefix and fuzzy
    queries) and their stems (for word and phrase queries)."""
    forms = modern_forms(word)
    return tuple(dict.fromkeys(forms + tuple(stem(form) for form in forms)))


@lru_cache(maxsize=262144)
def query_terms(word: str) -> tuple[str, ...]:
    """What a reader's word, typed in modern or old spelling, is looked up by: its stems."""
    return tuple(dict.fromkeys(stem(form) for form in modern_forms(word)))


def prefix_forms(prefix: str) -> tuple[str, ...]:
    """The letters before a * in modern spelling (рѫк → рък; бѣл → бял, бел), not stemmed
    and with no final ъ dropped: the word goes on after them."""
    prefix = exact_form(prefix).translate(_LETTERS).replace("ѫ", "ъ")
    if "ѣ" not in prefix:
        return (prefix,)
    return tuple(dict.fromkeys((prefix.replace("ѣ", "я"), prefix.replace("ѣ", "е"))))
