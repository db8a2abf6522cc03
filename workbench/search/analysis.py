"""What a word means for search, in Bulgarian old (pre-1945) and modern spelling.

Pure functions, no search engine: ``search.py`` builds its index from them. The chain,
in the order of design.md §4:

1. ``normalize``: Unicode NFC; stress and titlo marks dropped (never the breve of й);
2. ``exact_form``: Latin look-alike letters inside Cyrillic words folded to Cyrillic,
   lower case — the "exact spelling" term, which keeps ѣ, ѫ and final ъ;
3. ``modern_forms``: the old orthography as modern spelling (ѣ → я or е, ѫ → ъ or а,
   ѭ → я, і/ы → и, final ъ and ь dropped, -ьтъ → -ят, -скій → -ски), one or two candidates;
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

_CACHE = 262144  # distinct words kept per cached function (a few tens of MB at most)

# -- Unicode -------------------------------------------------------------------------

# Stress (grave, acute), titlo and the other combining Cyrillic signs (U+0483–U+0487),
# combining Cyrillic letters written above the line (U+2DE0–U+2DFF, U+A674–U+A67D) and
# the Old Cyrillic combining marks of Cyrillic Extended-B. Never U+0306 (й) or U+0308
# (ї, ё): those are parts of letters, not marks on them.
_MARKS = re.compile("[\u0300\u0301\u0483-\u0487\u2de0-\u2dff\ua66f-\ua672\ua674-\ua67d\ua67f]")
# Combining characters that may sit inside a word (so "бя́л" and "краи\u0306" are one
# word each): Python's \w does not count them as word characters.
_COMBINING = "\u0300-\u036f\u0483-\u0489\u1dc0-\u1dff\u2de0-\u2dff\ua66f-\ua672\ua674-\ua67d\ufe20-\ufe2f"
# A word: a letter or digit, then letters, digits and combining marks. Hyphens,
# apostrophes and punctuation are not word characters, so they separate words.
_WORD = re.compile(f"[^\\W_][\\w{_COMBINING}]*")
# \w takes the underscore and the modifier-letter apostrophe ʼ (U+02BC, a "letter"):
# words() blanks them out first (same length, so offsets stay right).
_NOT_IN_WORDS = str.maketrans({"_": " ", "\u02bc": " "})

_CYRILLIC = re.compile("[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")
# Latin letters that look like Cyrillic ones in print; HTR output and typing mix them
# up inside Cyrillic words. Only true look-alikes: lower-case k, m, t, h, b do not look
# like к, м, т, н, ь in an upright font, and s, j stand for ѕ, ј, which Bulgarian of
# 1900 does not use (folding them would guess, not repair). Latin i is Cyrillic і, which
# the old → modern step then makes и.
_HOMOGLYPHS = str.maketrans(
    {
        "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "I": "І", "K": "К", "M": "М",
        "O": "О", "P": "Р", "T": "Т", "X": "Х", "Y": "У",
        "a": "а", "c": "с", "e": "е", "i": "і", "o": "о", "p": "р", "x": "х", "y": "у",
    }
)  # fmt: skip


class Token(NamedTuple):
    position: int  # the word's number in the text, from 0
    start: int  # offset of the word's first character in the original text
    end: int  # offset after its last character, in the original text
    word: str  # the original characters, text[start:end]


def normalize(text: str) -> str:
    """NFC without stress and titlo marks, so that бя́л and бял are one spelling.

    Decomposed first: a precomposed ѝ or ѐ hides its grave accent inside one code point.
    й, ё and ї decompose too, but their breve and diaeresis stay and compose again.
    """
    return unicodedata.normalize("NFC", _strip_marks(text))


def _strip_marks(text: str) -> str:
    return _MARKS.sub("", unicodedata.normalize("NFD", text))


def words(text: str) -> list[Token]:
    """The words of a raw line with offsets into it as given (not normalised), so that
    a hit can be highlighted in the original text. Combining marks stay inside their
    word; hyphens, apostrophes and punctuation separate words and belong to none."""
    return [
        Token(i, m.start(), m.end(), m.group()) for i, m in enumerate(_WORD.finditer(text.translate(_NOT_IN_WORDS)))
    ]


@lru_cache(maxsize=_CACHE)
def exact_form(word: str) -> str:
    """The word as written, for the exact-spelling search: only marks, look-alikes and
    case folded, so ѣ, ѫ and a final ъ stay what they are.

    Look-alikes are folded before composing again, so a Latin ï in a Cyrillic word ends
    up as the Cyrillic ї. A word without a Cyrillic letter (Shakespeare) stays Latin.
    """
    word = _strip_marks(word)
    if _CYRILLIC.search(word):
        word = word.translate(_HOMOGLYPHS)
    return unicodedata.normalize("NFC", word).lower()


# -- Old → modern spelling -----------------------------------------------------------

# Letters the 1945 reform (and before it the printers) replaced one for one, wherever
# they stand; the Church Slavonic ones (ѡ, ѹ, ѿ, ѯ, ѱ) turn up in quotations.
_LETTERS = str.maketrans(
    {
        "ѭ": "я", "ѧ": "я", "ѩ": "я", "ꙗ": "я", "ѥ": "е", "і": "и", "ї": "и", "ы": "и",
        "ѵ": "и", "ѳ": "ф", "ѕ": "з", "ѡ": "о", "ѽ": "о", "ѻ": "о", "ѹ": "у", "ꙋ": "у",
        "ѿ": "от", "ѯ": "кс", "ѱ": "пс",
    }
)  # fmt: skip
# Ижица after а or е was read в, as in Greek (Еѵангеліе → евангелие); elsewhere и (мѵро → миро).
_IZHITSA_AS_V = re.compile("(?<=[аеѣ])ѵ")
_VOWELS = frozenset("аеиоуъюяѣѫ")
_BACK_VOWELS = frozenset("аоуъѫ")
# ѣ is е before these palatal consonants, whatever follows (нѣщо, вѣжда, мѣчка, бѣше).
_PALATAL = frozenset("жчшщй")
# Frequent stems whose ѣ is е although the rule says я: unstressed (рѣка, дѣца, звѣзда,
# цѣна, побѣда), the prefix прѣ- and срѣд-, or irregular (човѣкъ, лѣсъ, вѣкъ, свѣтълъ,
# дѣло, сѣдна, смѣтка). A word that starts with one of them has е for every ѣ.
_YAT_AS_E = (
    "прѣ", "срѣд", "вѣк", "човѣк", "дѣца", "рѣка", "лѣс", "лѣк", "звѣзд", "свѣтл", "свѣтъл",
    "вмѣсто", "побѣд", "бѣд", "цѣн", "цѣлув", "сѣдн", "бесѣд", "смѣтк", "дѣло",
)  # fmt: skip
# Whole words the rules get wrong (after the one-for-one letters above). Masculine
# звѣрь has я although a soft ending otherwise makes ѣ е (цѣль → цел, вѣсть → вест).
_IRREGULAR = {"звѣрь": "звяр", "звѣрьтъ": "звярът", "звѣря": "звяра"}
# ь survives in modern spelling only before о (синьо, шофьор).
_SOFT_SIGN = re.compile("ь(?!о)")
_SOFT_SIGN_INSIDE = re.compile("ь(?=[^о])")


@lru_cache(maxsize=_CACHE)
def modern_forms(word: str) -> tuple[str, ...]:
    """The word in modern spelling, for a search by modern words: the best guess first,
    then the е-reading of ѣ where the guess is я (мѣста → мяста, места).

    Stress decides whether ѣ is я or е and the manuscripts do not mark it, so where the
    rule can only guess, both are kept. A word in modern spelling comes back unchanged.
    """
    word = exact_form(word)
    if not _CYRILLIC.search(word):
        return (word,)
    word = _IZHITSA_AS_V.sub("в", word).translate(_LETTERS)
    if word in _IRREGULAR:
        return (_IRREGULAR[word],)
    if "ѣ" not in word:
        return (_spell(word),)
    return tuple(dict.fromkeys(_spell(reading) for reading in _yat(word)))


def _spell(word: str) -> str:
    """The endings and letters of the old spelling, once ѣ is decided."""
    if len(word) > 3 and word.endswith("ьтъ"):
        word = word[:-3] + "ят"  # the soft full article: коньтъ → конят, пѫтьтъ → пѫтят
    elif word.endswith("ѫтъ") and _VOWELS.intersection(word[:-3]):
        word = word[:-3] + "ат"  # 3rd person plural: четѫтъ → четат (but пѫтъ, прѫтъ: път, прът)
    elif word.endswith("ѫтѫ") and _VOWELS.intersection(word[:-3]):
        word = word[:-3] + "ата"  # feminine object form with article: рѫкѫтѫ → рѫката
    if len(word) > 1 and word[-1] in "ъь":
        word = word[:-1]  # градъ → град, конь → кон; a lone ъ or ь stays
    elif len(word) > 4 and word.endswith(("ский", "цкий")):
        word = word[:-1]  # the Church Slavonic adjective ending (і is и by now): Българскій → български
    if len(word) > 1 and word[-1] == "ѫ":
        word = word[:-1] + "а"  # verb endings and сѫ, the object form: четѫ → чета, сѫ → са, женѫ → жена
    if word.startswith("нѫж"):
        word = "нуж" + word[3:]  # нѫжда → нужда: the one frequent root whose ѫ became у
    return _SOFT_SIGN.sub("", word.replace("ѫ", "ъ"))  # рѫка → ръка; пѣсеньта → пѣсента


def _yat(word: str) -> tuple[str, str]:
    """Two readings of every ѣ: the best guess, and the same with е wherever the guess
    is я only because the next syllable is back (where the stress could make it е).

    The yat alternation: a stressed ѣ is я when the next syllable has a back vowel
    (а о у ъ) or there is none (бѣлъ → бял, мѣсто → място), е when it has a front vowel
    or a soft consonant (бѣли → бели, дѣте → дете, цѣль → цел); an unstressed ѣ is е.
    The spelling still has its final ъ and ь here: a final ъ counts as "no vowel", a
    final ь as soft. After ж, ч, ш the я is written а (мълчѣхъ → мълчах).
    """
    if word.startswith(_YAT_AS_E):
        word = word.replace("ѣ", "е")
        return word, word
    best, other = list(word), list(word)
    for i, letter in enumerate(word):
        if letter != "ѣ":
            continue
        before, after = word[i - 1 : i], word[i + 1 :]
        ya = "а" if before in ("ж", "ч", "ш") else "я"
        if not before or before in _VOWELS:
            best[i] = other[i] = "я"  # pronounced "ja" at the start or after a vowel: ѣмъ → ям, поѣде → пояде
        elif after in ("хме", "хте"):
            best[i] = other[i] = ya  # aorist and imperfect: бѣхме → бяхме, видѣхте → видяхте
        elif _soft_after(after):
            best[i] = other[i] = "е"
        else:
            best[i], other[i] = ya, "е"
    return "".join(best), "".join(other)


def _soft_after(after: str) -> bool:
    """Whether the letters after a ѣ make it е whatever the stress: it ends the word
    (горѣ, градоветѣ), a palatal consonant follows (нѣщо), or the next syllable is
    front or soft (бѣли, дѣте, вѣсть, пѣсеньта)."""
    if not after or after[0] in _PALATAL:
        return True
    for letter in after:
        if letter == "ь":
            return True
        if letter in _VOWELS:
            return letter not in _BACK_VOWELS
    return False  # only consonants follow (бѣл written without its ъ): no next syllable


@lru_cache(maxsize=_CACHE)
def prefix_forms(prefix: str) -> tuple[str, ...]:
    """The letters before a * in modern spelling (рѫк → рък; бѣл → бял, бел).

    The letters are folded as in a word, but not its end: the word goes on after them,
    so a final ъ or ь stays (градъ* finds градът) and nothing is stemmed. An ѣ gives
    both readings, since the letters that decide it are not typed.
    """
    prefix = exact_form(prefix)
    if not _CYRILLIC.search(prefix):
        return (prefix,)
    prefix = _IZHITSA_AS_V.sub("в", prefix).translate(_LETTERS)
    prefix = _SOFT_SIGN_INSIDE.sub("", prefix.replace("ѫ", "ъ"))
    if "ѣ" not in prefix:
        return (prefix,)
    if prefix.startswith(_YAT_AS_E):
        return (prefix.replace("ѣ", "е"),)
    always_ya = re.sub("(?:^|(?<=[аеиоуъюяѣ]))ѣ", "я", prefix)
    return tuple(dict.fromkeys((re.sub("(?<=[жчш])ѣ", "а", always_ya).replace("ѣ", "я"), always_ya.replace("ѣ", "е"))))


# -- Stems ---------------------------------------------------------------------------

# Endings the stemmer takes off, longest first: articles, plurals and the two together
# (they count as one ending). Inflection only: no suffix of word formation goes.
_ENDINGS = (
    # plural + article
    "овете", "евете", "ищата", "етата", "ището", "иите",
    "ията",  # -ия nouns and adjectives with article: историята, белия
    # article on a noun or adjective ending in a vowel; plurals
    "ове", "еве", "ища", "ище", "ите", "ата", "ята", "ото", "ето", "ета", "ете", "ият",
    # short and full masculine article, -ия nouns, plural of -ия nouns
    "ът", "ят", "ия", "ии",
    "та",  # the feminine article after a consonant: only where _ARTICLE_TA says so
    "а", "я", "о", "е", "и",
)  # fmt: skip
# -та is the article of a feminine noun ending in a consonant (радостта, нощта, кръвта,
# песента, мисълта, целта, вечерта), but most words ending in a consonant + та are not
# articled (карта, мечта, места, жълта, момента = момент-а): -та goes only after the
# endings of such feminine nouns, elsewhere only the -а.
_ARTICLE_TA = re.compile("(?:[тщвд]|сен|съл|[аеиоуя]л|вечер)$")
_MIN_STEM = 3  # shorter stems would merge unrelated words: words of 3 letters keep their ending
_CONSONANTS = "бвгджзйклмнпрстфхцчшщ"
# A fleeting ъ before the last consonant of a stem (вятър / ветрове, добър / добра, ъгъл /
# ъгли, малък / малка) goes, if the stem keeps another vowel (кръг keeps its ъ).
_FLEETING = re.compile(f"(?<=[{_CONSONANTS}])ъ(?=[{_CONSONANTS}]$)")
# я between consonants inside a stem counts as е: the two faces of a ѣ root (бял / бели,
# място / места, голям / големи, хляб / хлебове, свят / светът) share a stem. It merges
# the few words told apart only by я and е in the root (цял / цел, ляв / лев), which a
# reader searching a spelling that wavered anyway prefers to a miss. A я at the start
# or after a vowel is never a ѣ (ясен ≠ есен, моя) and stays.
_YA_AS_E = re.compile(f"(?<=[{_CONSONANTS}])я(?=[{_CONSONANTS}])")


@lru_cache(maxsize=_CACHE)
def stem(modern_word: str) -> str:
    """A light stemmer of Bulgarian inflection, so that a word finds its forms: град,
    града, градът, градове, градовете → град; ръка, ръката → рък; бял, бели → бел.

    One ending goes (an article and a plural together count as one: -овете, -ите), if a
    stem of three letters or more is left, so short function words stay as they are.
    Then a fleeting ъ before the stem's last consonant goes and я between consonants
    reads е (see _FLEETING and _YA_AS_E). Verbs are not stemmed beyond the vowel
    endings (чета, чете → чет; четат stays). Latin words stay as they are.
    """
    word = modern_word
    if not _CYRILLIC.search(word):
        return word
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_STEM:
            if ending == "та" and not _ARTICLE_TA.search(word[:-2]):
                continue
            word = word[: -len(ending)]
            break
    if len(word) > _MIN_STEM and _FLEETING.search(word):
        shorter = _FLEETING.sub("", word)
        if _VOWELS.intersection(shorter):
            word = shorter
    return _YA_AS_E.sub("е", word)


@lru_cache(maxsize=_CACHE)
def index_terms(word: str) -> tuple[str, ...]:
    """What to index for one word of a line, all at its position: its modern forms (for
    prefix and fuzzy queries, which need whole words) and their stems (for word and
    phrase queries, which should not care about inflection)."""
    forms = modern_forms(word)
    return tuple(dict.fromkeys(forms + tuple(stem(form) for form in forms)))


@lru_cache(maxsize=_CACHE)
def query_terms(word: str) -> tuple[str, ...]:
    """What a reader's word, typed in modern or old spelling, is looked up by: the stems
    of its modern forms, which index_terms put beside every form of the word."""
    return tuple(dict.fromkeys(stem(form) for form in modern_forms(word)))
