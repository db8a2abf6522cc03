"""The search analysis chain (analysis.py): old spelling → modern, stems, Unicode."""

from __future__ import annotations

import unicodedata

import pytest

from workbench.search.analysis import (
    exact_form,
    index_terms,
    modern_forms,
    normalize,
    prefix_forms,
    query_terms,
    stem,
    words,
)

# Old (pre-1945) spelling → modern spelling: the first guess of modern_forms.
OLD_TO_MODERN = [
    # ѣ as я: the next syllable has a back vowel, or there is none
    ("бѣлъ", "бял"),
    ("хлѣбъ", "хляб"),
    ("мѣсто", "място"),
    ("вѣра", "вяра"),
    ("голѣмъ", "голям"),
    ("видѣхъ", "видях"),
    ("цѣлъ", "цял"),
    ("нѣма", "няма"),
    ("свѣтъ", "свят"),
    ("звѣръ", "звяр"),
    ("тѣхъ", "тях"),
    ("вѣтърътъ", "вятърът"),
    ("лѣто", "лято"),
    ("тѣло", "тяло"),
    ("дѣдо", "дядо"),
    ("нѣколко", "няколко"),
    ("нѣкой", "някой"),
    ("желѣзо", "желязо"),
    ("смѣхъ", "смях"),
    ("млѣко", "мляко"),
    ("вѣтъръ", "вятър"),
    ("бѣгамъ", "бягам"),
    ("вѣрна", "вярна"),
    ("всѣкога", "всякога"),
    ("видѣлъ", "видял"),
    ("живѣлъ", "живял"),
    ("бѣхѫ", "бяха"),  # aorist 3rd plural -хѫ: ѫ is а, a back vowel
    ("видѣхѫ", "видяха"),
    # ѣ in the 1st and 2nd person plural of the past tenses: я before -хме, -хте
    ("бѣхме", "бяхме"),
    ("видѣхме", "видяхме"),
    ("видѣхте", "видяхте"),
    # ѣ after ж ч ш is а where it would be я; at the start of a word or after a vowel, я
    ("мълчѣхъ", "мълчах"),
    ("лежѣхъ", "лежах"),
    ("ѣмъ", "ям"),
    ("ѣде", "яде"),
    ("поѣде", "пояде"),
    # ѣ as е: before a front vowel, at the end of a word, before ж ч ш щ й
    ("бѣли", "бели"),
    ("дѣте", "дете"),
    ("голѣми", "големи"),
    ("цѣли", "цели"),
    ("градоветѣ", "градовете"),
    ("горѣ", "горе"),
    ("двѣ", "две"),
    ("тѣ", "те"),
    ("нѣщо", "нещо"),
    ("пѣе", "пее"),
    ("жалѣятъ", "жалеят"),
    ("звѣздитѣ", "звездите"),
    ("ученицитѣ", "учениците"),
    ("робинитѣ", "робините"),
    ("мѣчка", "мечка"),
    ("бѣше", "беше"),
    ("вѣренъ", "верен"),
    ("видѣли", "видели"),
    ("живѣе", "живее"),
    ("грѣятъ", "греят"),
    ("недѣля", "неделя"),
    ("всѣки", "всеки"),
    ("мѣсецъ", "месец"),
    ("сѣверъ", "север"),
    ("свѣтлина", "светлина"),
    ("послѣ", "после"),
    ("кѫдѣ", "къде"),
    ("пѣсни", "песни"),
    # a soft consonant (final or inner ь) after ѣ: е
    ("вѣсть", "вест"),
    ("цѣль", "цел"),
    ("заповѣдь", "заповед"),
    # ѣ in the frequent words and the prefix where the rule cannot see the stress
    ("прѣзъ", "през"),
    ("прѣди", "преди"),
    ("срѣдъ", "сред"),
    ("дѣца", "деца"),
    ("рѣка", "река"),
    ("прѣдъ", "пред"),
    ("вѣкъ", "век"),
    ("човѣкъ", "човек"),
    ("човѣкътъ", "човекът"),
    ("звѣзда", "звезда"),
    ("лѣсъ", "лес"),
    ("побѣда", "победа"),
    ("дѣлото", "делото"),
    ("сѣдна", "седна"),
    ("звѣрь", "звяр"),  # masculine, with я although its ь is soft
    # ѫ: ъ in the root, а in verb endings and сѫ
    ("рѫка", "ръка"),
    ("пѫть", "път"),
    ("зѫбъ", "зъб"),
    ("сѫдъ", "съд"),
    ("мѫжъ", "мъж"),
    ("мѫжка", "мъжка"),
    ("тѫжни", "тъжни"),
    ("ѫгълъ", "ъгъл"),
    ("сѫщо", "също"),
    ("кѫща", "къща"),
    ("мѫдъръ", "мъдър"),
    ("сѫбота", "събота"),
    ("пѫтъ", "път"),  # -ѫтъ after no vowel is a root, not the 3rd person plural
    ("прѫтъ", "прът"),
    ("нѫжда", "нужда"),  # the one frequent root whose ѫ became у
    ("четѫ", "чета"),
    ("пишѫ", "пиша"),
    ("четѫтъ", "четат"),
    ("сѫ", "са"),
    ("водѫтѫ", "водата"),
    ("рѫкѫтѫ", "ръката"),
    ("женѫ", "жена"),  # the feminine object form
    # ѭ, ѧ, і, ы, ѳ, ѵ
    ("знаѭ", "зная"),
    ("стоѭ", "стоя"),
    ("Россія", "россия"),
    ("обикновенiето", "обикновението"),
    ("исторія", "история"),
    ("ѳеодоръ", "феодор"),
    ("мѵро", "миро"),
    ("Еѵангеліе", "евангелие"),  # ѵ after е is в
    ("здравіе", "здравие"),
    # the Church Slavonic adjective ending -скій, -цкій of titles and names
    ("Българскій", "български"),
    ("Славянскій", "славянски"),
    ("нѣмскій", "немски"),
    ("Турцкій", "турцки"),
    ("Благій", "благий"),  # only -скій and -цкій: other -ій words keep their и
    # final ъ and ь; -ьтъ → -ят; middle ь before a consonant
    ("градъ", "град"),
    ("градътъ", "градът"),
    ("въ", "в"),
    ("съ", "с"),
    ("отъ", "от"),
    ("къмъ", "към"),
    ("юнакъ", "юнак"),
    ("конь", "кон"),
    ("день", "ден"),
    ("нощь", "нощ"),
    ("коньтъ", "конят"),
    ("царьтъ", "царят"),
    ("пѫтьтъ", "пътят"),
    ("пѣсеньта", "песента"),
    ("кръвьта", "кръвта"),
    ("челядьта", "челядта"),
    ("мѫжътъ", "мъжът"),
    ("юнакътъ", "юнакът"),
    ("безъ", "без"),
    ("приятель", "приятел"),
    ("учительтъ", "учителят"),
    ("огъньтъ", "огънят"),
    ("деньтъ", "денят"),
    ("любовьта", "любовта"),
    ("радостьта", "радостта"),
    ("нощьта", "нощта"),
    # modern spelling passes unchanged; ь before о stays
    ("ръка", "ръка"),
    ("път", "път"),
    ("пътят", "пътят"),
    ("синьо", "синьо"),
    ("шофьор", "шофьор"),
]

# Old spellings whose ѣ the manuscripts cannot settle: the modern word must be a candidate.
AMBIGUOUS = [
    ("мѣста", "места"),
    ("свѣтътъ", "светът"),
    ("бѣлъ", "бел"),
    ("хлѣбъ", "хлеб"),
    ("вѣтрове", "ветрове"),  # the stress is on the ending: е although о follows
    ("орѣхъ", "орех"),
    ("гнѣздо", "гнездо"),
]

# A reader types the modern word; the manuscript has the old spelling of a form of it.
FINDS = [
    ("бял", "бѣлъ"),
    ("бял", "бѣли"),
    ("бели", "бѣлъ"),
    ("ръка", "рѫка"),
    ("ръка", "рѫката"),
    ("ръце", "рѫцѣ"),
    ("път", "пѫть"),
    ("път", "пѫтя"),
    ("път", "пѫтьтъ"),
    ("чета", "четѫ"),
    ("град", "градоветѣ"),
    ("град", "градътъ"),
    ("град", "града"),
    ("град", "градове"),
    ("река", "рѣка"),
    ("река", "рѣката"),
    ("места", "мѣста"),
    ("място", "мѣсто"),
    ("място", "мѣстото"),
    ("са", "сѫ"),
    ("кон", "коньтъ"),
    ("песен", "пѣсеньта"),
    ("песента", "пѣсень"),
    ("голям", "голѣми"),
    ("големи", "голѣмъ"),
    ("звезди", "звѣздитѣ"),
    ("ъгъл", "ѫгълъ"),
    ("юнак", "юнакътъ"),
    ("история", "исторіята"),
    ("зная", "знаѭ"),
    ("мъж", "мѫжътъ"),
    ("вятър", "вѣтърътъ"),
    ("работа", "работата"),
    ("книга", "книгитѣ"),
    ("вятър", "вѣтрове"),
    ("ветрове", "вѣтъръ"),
    ("свят", "свѣтътъ"),
    ("добър", "добритѣ"),
    ("мисъл", "мисъльта"),
    ("нощ", "нощьта"),
    ("радост", "радостьта"),
    ("карта", "картата"),
    ("училище", "училищата"),
    ("път", "пѫтища"),
    ("история", "исторіи"),
    ("човек", "човѣкътъ"),
    ("нужда", "нѫждата"),
    ("вест", "вѣстьта"),
    ("цел", "цѣльта"),
    ("бяхме", "бѣхме"),
    ("момент", "момента"),
    ("малък", "малки"),
]
MISSES = [
    ("бял", "боръ"),
    ("път", "петь"),
    ("ръка", "рѣка"),
    ("река", "рѫка"),
    ("град", "гробъ"),
    ("кон", "конецъ"),
    ("са", "сѣ"),
    ("ясен", "есеньта"),  # a я at the start of a word is never a ѣ
    ("карта", "кара"),
    ("мечта", "мечъ"),
    ("път", "пета"),
]


@pytest.mark.parametrize(("old", "modern"), OLD_TO_MODERN)
def test_old_spelling_becomes_modern(old, modern):
    assert modern_forms(old)[0] == modern


def test_the_table_has_at_least_sixty_cases():
    assert len(OLD_TO_MODERN) >= 60


@pytest.mark.parametrize(
    "word", ["ръка", "път", "град", "чета", "бял", "пътят", "бяхме", "нужда", "къща", "ясен", "вятър", "история"]
)
def test_modern_spelling_passes_unchanged(word):
    assert modern_forms(word) == (word,)


@pytest.mark.parametrize(("old", "modern"), AMBIGUOUS)
def test_ambiguous_yat_gives_both_readings(old, modern):
    assert modern in modern_forms(old)
    assert len(modern_forms(old)) == 2


@pytest.mark.parametrize(("typed", "written"), FINDS)
def test_a_modern_word_finds_the_old_spelling_of_its_forms(typed, written):
    assert set(query_terms(typed)) & set(index_terms(written))


@pytest.mark.parametrize(("typed", "written"), MISSES)
def test_different_words_stay_apart(typed, written):
    assert not set(query_terms(typed)) & set(index_terms(written))


@pytest.mark.parametrize(("typed", "written"), [("бѣлъ", "бѣли"), ("рѫка", "ръка"), ("ГРАДЪТЪ", "градоветѣ")])
def test_old_spelling_typed_by_a_reader_works_too(typed, written):
    assert set(query_terms(typed)) & set(index_terms(written))


# -- Unicode -------------------------------------------------------------------


def test_decomposed_and_precomposed_short_i_are_one_letter():
    decomposed = "краи\u0306"
    assert unicodedata.normalize("NFC", decomposed) == "край"
    assert exact_form(decomposed) == exact_form("край") == "край"
    assert modern_forms(decomposed) == ("край",)
    assert exact_form("Й") == "й"


@pytest.mark.parametrize("mark", ["\u0301", "\u0300"])
def test_stress_marks_are_ignored(mark):
    assert exact_form(f"бя{mark}л") == "бял"
    assert query_terms(f"ръ{mark}ка") == query_terms("ръка")
    assert normalize(f"ра{mark}зказ") == "разказ"


def test_precomposed_accented_letters_lose_the_accent_only():
    assert exact_form("ѝ") == "и"  # U+045D: и with grave
    assert exact_form("ѐ") == "е"  # U+0450: е with grave
    assert normalize("ї") == "ї"  # the diaeresis is a letter's part, not a stress mark
    assert normalize("ё") == "ё"


@pytest.mark.parametrize("mark", ["\u0483", "\u0484", "\u0485", "\u0486", "\u0487", "\u2de0", "\u2df5", "\ua675"])
def test_titlo_and_letters_written_above_are_stripped(mark):
    assert exact_form(f"г{mark}дь") == "гдь"


def test_breve_and_diaeresis_are_never_stripped():
    assert normalize("и\u0306") == "й"
    assert normalize("е\u0308") == "ё"


@pytest.mark.parametrize(
    ("mixed", "cyrillic"),
    [
        ("pъка", "ръка"),  # Latin p
        ("бялa", "бяла"),  # Latin a
        ("Cело", "село"),  # Latin C
        ("ГPАДЪ", "градъ"),  # Latin P
        ("MОРЕ", "море"),  # Latin M
        ("Россiя", "россія"),  # Latin i: Cyrillic і, which modern spelling makes и
    ],
)
def test_latin_look_alikes_inside_cyrillic_words_are_folded(mixed, cyrillic):
    assert exact_form(mixed) == cyrillic
    assert query_terms(mixed) == query_terms(cyrillic)


def test_a_latin_letter_with_diaeresis_folds_to_its_cyrillic_twin():
    assert exact_form("Украïна") == "україна"  # Latin ï: і + diaeresis = ї


def test_latin_words_stay_latin():
    assert exact_form("Shakespeare") == "shakespeare"
    assert modern_forms("Hamlet") == ("hamlet",)
    assert stem("hamlet") == "hamlet"


def test_upper_case_old_letters_fold_like_lower_case():
    assert modern_forms("БѢЛЪ") == modern_forms("бѣлъ")
    assert modern_forms("РѪКА") == ("ръка",)
    assert modern_forms("ЗНАѬ") == ("зная",)


# -- words ---------------------------------------------------------------------


def test_words_are_found_with_offsets_into_the_original_text():
    text = "Бя́лъ, краи\u0306-то д'аз: 1890 г. x_y"
    found = words(text)
    assert [t.word for t in found] == ["Бя́лъ", "краи\u0306", "то", "д", "аз", "1890", "г", "x", "y"]
    assert all(text[t.start : t.end] == t.word for t in found)
    assert [t.position for t in found] == list(range(len(found)))


def test_modifier_letter_apostrophe_separates_words_too():
    assert [t.word for t in words("д\u02bcаз")] == ["д", "аз"]


def test_titlo_inside_a_word_keeps_it_one_word():
    assert [t.word for t in words("г\u0483дь рече")] == ["г\u0483дь", "рече"]


# -- prefixes and stems -----------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "forms"),
    [
        ("рѫк", ("рък",)),
        ("бѣл", ("бял", "бел")),  # the letters that decide ѣ are not typed: both
        ("ръка", ("ръка",)),
        ("градъ", ("градъ",)),  # a final ъ stays: градъ* finds градът
        ("РѪК", ("рък",)),
        ("пѣсеньт", ("пясент", "песент")),  # an inner ь goes, as in a word
        ("прѣд", ("пред",)),
        ("ѣд", ("яд",)),  # ѣ at the start is always я
        ("жѣл", ("жал", "жел")),
    ],
)
def test_prefix_forms_fold_letters_but_keep_the_end(prefix, forms):
    assert prefix_forms(prefix) == forms


@pytest.mark.parametrize(
    "forms",
    [
        ["град", "града", "градът", "градове", "градовете"],
        ["ръка", "ръката"],
        ["бял", "бяла", "бялата", "бели", "белите", "белия", "белият"],
        ["място", "мястото"],
        ["песен", "песента"],
        ["кон", "конят", "коня", "коне"],
        ["работа", "работата"],
        ["история", "историята"],
        ["момче", "момчета", "момчето"],
        ["път", "пътя", "пътят", "пътища", "пътищата"],
        ["място", "места", "мястото", "местата"],
        ["вятър", "вятърът", "ветрове", "ветровете"],
        ["добър", "добра", "добри", "доброто", "добрият"],
        ["малък", "малка", "малки"],
        ["мисъл", "мисълта", "мисли"],
        ["нощ", "нощта", "нощи"],
        ["радост", "радостта", "радости"],
        ["карта", "картата", "карти"],
        ["момент", "момента", "моменти"],
        ["училище", "училището", "училища", "училищата"],
        ["история", "историята", "истории", "историите"],
        ["свят", "светът", "света"],
        ["чета", "чете"],
    ],
)
def test_inflected_forms_share_a_stem(forms):
    assert len({stem(form) for form in forms}) == 1


@pytest.mark.parametrize(
    ("first", "second"), [("ясен", "есен"), ("карта", "кара"), ("мечта", "меч"), ("път", "пет"), ("бял", "бор")]
)
def test_different_words_keep_different_stems(first, second):
    assert stem(first) != stem(second)


@pytest.mark.parametrize("word", ["и", "на", "се", "да", "тя", "аз", "път", "са", "ще", "той", "кой", "моя"])
def test_short_words_are_not_stemmed(word):
    assert stem(word) == word
