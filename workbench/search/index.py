"""Full-text search over the published lines: the one module that knows Whoosh.

What a word means for search (old and modern spelling, stress marks, homoglyphs,
inflection) is decided in ``analysis.py``; this module turns it into a Whoosh index
with two searchable fields per line:

- ``text``: the line's reading text (expansions, no deletions), each word indexed by
  its modern spellings and their stems, so ``бял`` finds ``бѣлъ``;
- ``exact``: the diplomatic text, word by word as written (only case, stress marks and
  homoglyphs folded), for the "exact spelling" switch;
- ``pairs``: each two neighbouring words of ``text`` as one term (their stems), so a
  phrase is a lookup of its word pairs rather than a walk through the positions of
  every line that has all its words (which takes seconds for "и на" on a million lines).

and one more, not searched by readers' words: ``refs``, what the line's tagged names point
at (``register.xml#trifonov``, ``bibliography.xml#b001``), for the register pages that
list every line naming a person, place or work (``Query.ref``).

Callers use ``SearchIndex`` (``LineRecord`` in, ``Results`` out): another engine can
stand behind the same interface. The index is derived data: ``indexing.py`` rebuilds or
updates it from ``tei/``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import html
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from whoosh import index as whoosh_index
from whoosh import qparser, scoring
from whoosh import query as q
from whoosh.analysis import Token, Tokenizer
from whoosh.codec.whoosh3 import W3Codec
from whoosh.collectors import TimeLimit, TimeLimitCollector, TopCollector
from whoosh.fields import ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.matching import ListMatcher, NullMatcher
from whoosh.support.levenshtein import damerau_levenshtein

from workbench.model import WorkbenchError
from workbench.search import analysis

# Bump when the schema changes; a change to analysis.py is noticed by itself (its digest
# is part of the index's version). An index of another version is built again.
SCHEMA_VERSION = 6
PER_PAGE = 20
MAX_PAGE = 50  # deeper pages cost more to collect, and nobody reads them
MIN_PREFIX = 2  # letters before a * (one letter would expand to a large part of the vocabulary)
MAX_EXPANSION = 1000  # index words one prefix or fuzzy term may stand for
MAX_FUZZY_DISTANCE = 2
FUZZY_PREFIX = 2  # letters at the start of a fuzzy word that must match exactly
TIME_LIMIT = 2.0  # seconds one search may spend collecting hits
WILDCARDS = re.compile(r"[*?]")


class _Rarity(scoring.WeightingModel):
    """A line scores the rarity (idf) of each query word it has, however often it has it.

    Lines are short and of like length, so BM25's term frequency and length norms say
    little about relevance but cost a length lookup per matching line. With equal
    scores for every line that has a word, Whoosh skips whole blocks of postings once
    it has a page of hits (ties keep document order): "и", in a fifth of a million
    lines, is answered as fast as a rare word. Lines with more, and rarer, of the
    words of an OR query come first; an AND query's hits come in document order.
    """

    def scorer(self, searcher, fieldname, text, qf=1):
        return _RarityScorer(searcher.get_parent().idf(fieldname, text))


class _RarityScorer(scoring.BaseScorer):
    def __init__(self, idf: float):
        self.idf = idf

    def supports_block_quality(self) -> bool:
        return True

    def score(self, matcher) -> float:
        return self.idf

    def max_quality(self) -> float:
        return self.idf

    def block_quality(self, matcher) -> float:
        return self.idf


WEIGHTING = _Rarity()
# Postings in blocks of 1024 lines, not Whoosh's 128: skipping a frequent word's
# blocks reads each block's header from disk (no mmap, see _open_or_create), and eight
# times fewer blocks took a 200,000-line index's word p95 from 17 ms to 5 ms.
CODEC = W3Codec(blocklimit=1024)


class _TopCollector(TopCollector):
    """Whoosh's top-N collector, which starts skipping blocks as soon as it has N hits.

    Whoosh sets the score a line must beat only when a better line replaces one of
    the N, so with equal scores (see _Rarity) it never skipped at all.
    """

    def _collect(self, global_docnum: int, score: float) -> float:
        result = super()._collect(global_docnum, score)
        if len(self.items) >= self.limit and self.items[0][0] > (self.minscore or 0):
            self.minscore = self.items[0][0]
        return result


class QueryError(WorkbenchError):
    """A query the reader must change; ``code`` names the kind (for the translated message)."""

    def __init__(self, code: str, message: str, term: str = ""):
        super().__init__(message)
        self.code = code
        self.term = term


@dataclass(frozen=True)
class LineRecord:
    """What the index keeps of one line."""

    manuscript_id: str
    title: str
    page_n: str
    line_id: str
    line_n: int  # the line's number on its page, from 1
    diplomatic: str  # as written (diplomatic_text)
    reading: str  # normalised reading (reading_text)
    years: tuple[int, int] | None = None
    refs: tuple[str, ...] = ()  # what its tagged names point at (line_refs)


@dataclass(frozen=True)
class Query:
    text: str
    ref: str | None = None  # only lines naming this (a register key or bibliography entry, as @ref writes it)
    exact: bool = False  # search the diplomatic text, spelling as written
    manuscript_id: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    page: int = 1
    per_page: int = PER_PAGE


@dataclass
class Hit:
    manuscript_id: str
    title: str
    page_n: str
    line_id: str
    line_n: int
    snippet: str  # HTML: the line's text, escaped, the matching words in <mark>
    diplomatic: str = ""  # the line as written


@dataclass
class Results:
    query: Query
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    exact_total: bool = True  # False: ``total`` is an upper estimate
    timed_out: bool = False  # the search stopped at TIME_LIMIT: hits are the best found by then

    @property
    def pages(self) -> int:
        return min(MAX_PAGE, max(1, -(-self.total // self.query.per_page)))


class SearchIndex(Protocol):
    """What the rest of the workbench needs from a search engine."""

    def open(self) -> bool:
        """Open (or create) the index; True if it is new and empty (then everything must be indexed)."""

    def replace_pages(self, manuscript_id: str, page_ns: Iterable[str], records: Iterable[LineRecord]) -> None:
        """Drop what the index has of those pages of the manuscript, then add ``records``."""

    def remove_manuscript(self, manuscript_id: str) -> None: ...

    def clear(self) -> None:
        """Drop everything (a rebuild follows)."""

    def search(self, query: Query) -> Results: ...


class _Analyzer(Tokenizer):
    """A Whoosh analyzer made of ``analysis``, for one of the three searchable fields.

    - ``text``: each word's modern forms and their stems at the word's position (its
      stems only, for a query word), so бял finds бѣлъ;
    - ``exact``: each word as written, only marks, look-alikes and case folded;
    - ``pairs``: each two neighbouring words' stems as one term, at the first word's
      position, so a phrase is a lookup of its pairs.
    """

    def __init__(self, field: str):
        self.field = field

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.field == self.field

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs,
    ) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for text, position, start, end in self._terms(value, tokenize, mode):
            token.text, token.boost, token.stopped = text, 1.0, False
            if positions:
                token.pos = start_pos + position
            if chars:
                token.startchar, token.endchar = start_char + start, start_char + end
            yield token

    def _terms(self, value: str, tokenize: bool, mode: str) -> Iterator[tuple[str, int, int, int]]:
        """(term, word position, start, end) for each term of ``value``."""
        if not tokenize:
            # The text of a wildcard or fuzzy term: fold its letters, keep * and ?.
            for form in _pattern_forms(value, exact=self.field == "exact"):
                yield form, 0, 0, len(value)
            return
        previous: tuple[str, ...] = ()
        for word in analysis.words(value):
            if self.field == "exact":
                terms: tuple[str, ...] = (analysis.exact_form(word.word),)
            elif self.field == "pairs":
                stems = analysis.query_terms(word.word)
                for pair in (f"{first} {second}" for first in previous for second in stems):
                    yield pair, word.position - 1, word.start, word.end
                previous = stems
                continue
            elif mode == "query":
                terms = analysis.query_terms(word.word)
            else:
                terms = analysis.index_terms(word.word)
            for term in terms:
                yield term, word.position, word.start, word.end


def _pattern_forms(pattern: str, exact: bool) -> list[str]:
    """``рѫк*`` → ``["рък*"]``: the letters between wildcards folded like index words."""
    pieces = WILDCARDS.split(pattern)
    wildcards = WILDCARDS.findall(pattern)
    forms = [""]
    for i, piece in enumerate(pieces):
        if exact:
            variants: tuple[str, ...] = (analysis.exact_form(piece),) if piece else ("",)
        else:
            variants = analysis.prefix_forms(piece) if piece else ("",)
        # A pattern with several ambiguous letters could multiply: keep it small.
        forms = [form + variant for form in forms for variant in variants][:4]
        if i < len(wildcards):
            forms = [form + wildcards[i] for form in forms]
    return forms


def _schema() -> Schema:
    return Schema(
        line=ID(stored=True, unique=True),
        page_key=ID,  # "<manuscript>/<page>": what replace_pages deletes by
        manuscript=ID(stored=True),
        title=STORED,
        page=STORED,
        line_n=STORED,
        diplomatic=STORED,
        reading=STORED,  # kept only where it differs from the diplomatic text
        year_from=NUMERIC(int, bits=16),
        year_to=NUMERIC(int, bits=16),
        text=TEXT(analyzer=_Analyzer("text"), phrase=False),  # phrases go to ``pairs``
        exact=TEXT(analyzer=_Analyzer("exact"), phrase=True),
        pairs=TEXT(analyzer=_Analyzer("pairs"), phrase=True),
        refs=KEYWORD(lowercase=False, scorable=False),  # register.xml#key …, space-separated
        digest=STORED,  # of the document as indexed (_document): replace_pages skips lines unchanged
    )


class WhooshIndex:
    """A Whoosh index in a folder of its own (``.workbench/index`` in an edition).

    Searchers are kept per thread and refreshed only when the index changed, since
    opening one costs more than most searches. Writes are serialised by Whoosh's lock;
    a writer waits for it (another process may be writing).
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._local = threading.local()
        self._open_lock = threading.Lock()
        self._index: whoosh_index.Index | None = None

    @property
    def index(self) -> whoosh_index.Index:
        self.open()
        return self._index

    def open(self) -> bool:
        with self._open_lock:
            if self._index is not None:
                return False
            self._index, created = self._open_or_create()
            return created

    def _open_or_create(self) -> tuple[whoosh_index.Index, bool]:
        version_file = self.directory / "VERSION"
        version = f"{SCHEMA_VERSION} {_analysis_digest()}"
        current = version_file.exists() and version_file.read_text().strip() == version
        # No mmap: with it, Whoosh copies each segment's term and posting files into
        # memory whenever a reader opens (BytesIO over the map), which made every new
        # searcher after a save cost 0.2 s at 300,000 lines; at a million lines save → findable took 1.8 s.
        storage = FileStorage(str(self.directory), supports_mmap=False)
        if current and whoosh_index.exists_in(str(self.directory)):
            return storage.open_index(), False
        # Another version's index (or none): start again; indexing.py refills it from tei/.
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        created = FileStorage(str(self.directory), supports_mmap=False).create_index(_schema())
        version_file.write_text(f"{version}\n")
        return created, True

    # -- writing ------------------------------------------------------------

    def replace_pages(
        self, manuscript_id: str, page_ns: Iterable[str], records: Iterable[LineRecord], bulk: bool = False
    ) -> None:
        """``bulk``: a large load (a rebuild); uses more memory and both cores."""
        options = {"limitmb": 256, "procs": 2, "multisegment": True} if bulk else {"limitmb": 64}
        writer = self.index.writer(timeout=30, codec=CODEC, **options)
        try:
            if bulk:
                for n in page_ns:
                    writer.delete_by_term("page_key", f"{manuscript_id}/{n}")
                for record in records:
                    writer.add_document(**_document(record))
            else:
                self._replace_changed_lines(writer, manuscript_id, page_ns, records)
        except BaseException:
            writer.cancel()
            raise
        writer.commit()

    @staticmethod
    def _replace_changed_lines(
        writer, manuscript_id: str, page_ns: Iterable[str], records: Iterable[LineRecord]
    ) -> None:
        """Of the pages' lines, write again only those whose document changed (by its
        stored digest), and remove those no longer there.

        A save changes a line, and the indexer gets its page: writing the page's 30
        lines again made a segment of ~1,500 terms per save (~0.1 s of CPU with the
        merges it brings, most of a core under eight editors; bench/mixed_load.py).
        """
        with writer.searcher() as searcher:
            indexed = {
                document["line"]: document.get("digest")
                for n in page_ns
                for document in searcher.documents(page_key=f"{manuscript_id}/{n}")
            }
        for record in records:
            document = _document(record)
            if indexed.pop(record.line_id, None) == document["digest"]:
                continue
            writer.delete_by_term("line", record.line_id)
            writer.add_document(**document)
        for line_id in indexed:  # lines gone from the pages
            writer.delete_by_term("line", line_id)

    def remove_manuscript(self, manuscript_id: str) -> None:
        writer = self.index.writer(timeout=30)
        writer.delete_by_term("manuscript", manuscript_id)
        writer.commit()

    def clear(self) -> None:
        with self._open_lock:
            self._index = None
            shutil.rmtree(self.directory, ignore_errors=True)

    # -- searching ----------------------------------------------------------

    def searcher(self):
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self._local.searcher = self.index.searcher(weighting=WEIGHTING)
        elif not searcher.up_to_date():
            # A new searcher, not ``searcher.refresh()``: refresh reuses the readers of
            # unchanged segments and so misses lines deleted from them since.
            searcher.close()
            searcher = self._local.searcher = self.index.searcher(weighting=WEIGHTING)
        return searcher

    def parse(self, query: Query) -> q.Query:
        """The reader's query as a Whoosh query, refused (QueryError) if it would be slow."""
        field_name = "exact" if query.exact else "text"
        parser = _parser(field_name)
        text = query.text.strip()
        if not text and query.ref:
            return q.Term("refs", query.ref)  # every line naming it, in document order
        if not text:
            raise QueryError("empty", "type one or more words to search for")
        if len(text) > 500:
            raise QueryError("too_long", "a query may have at most 500 characters")
        parsed = _bounded(_phrases_as_pairs(parser.parse(text)), self.searcher().reader())
        if parsed is q.NullQuery or not list(parsed.leaves()):
            raise QueryError("no_words", "the query has no words to search for")
        filters = [parsed]
        if query.ref:
            filters.append(q.Term("refs", query.ref))
        if query.manuscript_id:
            filters.append(q.Term("manuscript", query.manuscript_id))
        if query.year_from is not None or query.year_to is not None:
            # Overlap of [year_from, year_to] with the manuscript's years.
            if query.year_to is not None:
                filters.append(q.NumericRange("year_from", None, query.year_to))
            if query.year_from is not None:
                filters.append(q.NumericRange("year_to", query.year_from, None))
        return q.And(filters) if len(filters) > 1 else parsed

    def search(self, query: Query) -> Results:
        if self._index is None and not whoosh_index.exists_in(str(self.directory)):
            return Results(query)  # nothing indexed yet; a search (a reader's) never creates the index
        parsed = self.parse(query)
        page = max(1, min(query.page, MAX_PAGE))
        searcher = self.searcher()
        results = Results(query)
        collector = _TopCollector(limit=page * query.per_page)
        timed = TimeLimitCollector(collector, timelimit=TIME_LIMIT, use_alarm=False)
        try:
            searcher.search_with_collector(parsed, timed)
        except TimeLimit:
            results.timed_out = True
        found = collector.results()
        marks = _Marks(parsed)
        start = (page - 1) * query.per_page
        # A slice, not list(found): list() asks for len(), and Whoosh counts every match for it.
        for hit in found[start : start + query.per_page]:
            written = hit.get("reading") if (hit.get("reading") is not None and not query.exact) else hit["diplomatic"]
            results.hits.append(
                Hit(
                    manuscript_id=hit["manuscript"],
                    title=hit["title"],
                    page_n=hit["page"],
                    line_id=hit["line"],
                    line_n=hit["line_n"],
                    snippet=highlight(written, marks, exact=query.exact),
                    diplomatic=hit["diplomatic"],
                )
            )
        # Fewer hits than were asked for: that is all of them. Otherwise Whoosh did not
        # count the rest (counting costs as much as the search) and estimates from above.
        complete = found.scored_length() < page * query.per_page and not results.timed_out
        results.exact_total = complete or (found.has_exact_length() and not results.timed_out)
        if complete:
            results.total = found.scored_length()
        else:
            results.total = len(found) if results.exact_total else max(found.estimated_length(), len(results.hits))
        return results


def _analysis_digest() -> str:
    return hashlib.blake2b(Path(analysis.__file__).read_bytes(), digest_size=8).hexdigest()


class _Marks:
    """Which words of a hit the query matched: its terms, and the words its prefixes,
    wildcards and fuzzy terms stand for (tested word by word, not by expanding them
    over the whole vocabulary, which costs more than the search)."""

    def __init__(self, parsed: q.Query):
        self.terms: set[str] = set()
        self.patterns: list[_DocSetMatching] = []
        for leaf in parsed.leaves():
            if isinstance(leaf, _DocSetMatching):
                self.patterns.append(leaf)
            elif isinstance(leaf, q.Term):
                self.terms.update(str(leaf.text).split(" "))  # a pair of the phrase field: both words
            elif isinstance(leaf, q.Phrase):
                for word in leaf.words:
                    self.terms.update(word.split(" "))

    def __call__(self, forms: tuple[str, ...]) -> bool:
        return bool(self.terms.intersection(forms)) or any(pattern.marks(forms) for pattern in self.patterns)


def highlight(text: str, marks: Callable[[tuple[str, ...]], bool], exact: bool = False) -> str:
    """``text`` as HTML, each word ``marks`` accepts (by its index forms) in ``<mark>``."""
    parts, last = [], 0
    for word in analysis.words(text):
        forms = (analysis.exact_form(word.word),) if exact else analysis.index_terms(word.word)
        if marks(forms):
            parts += [html.escape(text[last : word.start]), "<mark>", html.escape(word.word), "</mark>"]
            last = word.end
    parts.append(html.escape(text[last:]))
    return "".join(parts)


def _document(record: LineRecord) -> dict:
    document = {
        "line": record.line_id,
        "page_key": f"{record.manuscript_id}/{record.page_n}",
        "manuscript": record.manuscript_id,
        "title": record.title,
        "page": record.page_n,
        "line_n": record.line_n,
        "diplomatic": record.diplomatic,
        "text": record.reading,
        "exact": record.diplomatic,
        "pairs": record.reading,
    }
    if record.reading != record.diplomatic:
        document["reading"] = record.reading
    if record.refs:
        document["refs"] = " ".join(record.refs)
    if record.years:
        document["year_from"], document["year_to"] = record.years
    # What was indexed, in one value: a line whose digest is unchanged is left as it is.
    document["digest"] = hashlib.blake2b(repr(sorted(document.items())).encode(), digest_size=16).hexdigest()
    return document


_parsers: dict[str, qparser.QueryParser] = {}


def _parser(field_name: str) -> qparser.QueryParser:
    """Words (all required), "phrases", AND/OR/NOT (also И/ИЛИ/НЕ), prefix*, fuzzy~ and fuzzy~2.

    No field names, ranges or boosts: readers search the text, nothing else.
    """
    parser = _parsers.get(field_name)
    if parser is None:
        schema = _schema()
        parser = qparser.QueryParser(
            field_name,
            schema,
            plugins=[
                qparser.WhitespacePlugin(),
                qparser.SingleQuotePlugin(),
                qparser.PhrasePlugin(),
                qparser.GroupPlugin(),
                qparser.WildcardPlugin(),
                qparser.FuzzyTermPlugin(),
                qparser.OperatorsPlugin(
                    And=r"(?<=\s)(AND|И)(?=\s)",
                    Or=r"(?<=\s)(OR|ИЛИ)(?=\s)",
                    Not=r"(^|(?<=(\s|[()])))(NOT|НЕ)(?=\s)",
                    AndNot=None,
                    AndMaybe=None,
                    Require=None,
                ),
            ],
        )
        _parsers[field_name] = parser
    return parser


def _phrases_as_pairs(node: q.Query) -> q.Query:
    """A phrase of the ``text`` field as its word pairs: "a b c" → pairs "a b", "b c" in a row."""
    if isinstance(node, q.Phrase) and node.fieldname == "text":
        words = node.words
        if len(words) == 1:
            return q.Term("text", words[0], boost=node.boost)
        pairs = [f"{first} {second}" for first, second in zip(words, words[1:], strict=False)]
        if len(pairs) == 1:
            return q.Term("pairs", pairs[0], boost=node.boost)
        return q.Phrase("pairs", pairs, boost=node.boost)
    return node.apply(_phrases_as_pairs)


class _DocSetMatching:
    """Match the lines of all the words a prefix, wildcard or fuzzy term stands for, as one set.

    Whoosh ORs the words' posting lists in a tree of union matchers, whose quality
    checks grow with the square of the words: "стре*" (hundreds of words) took 2.5 s
    on 50,000 lines. Reading each word's postings into one sorted list takes 60 ms.
    The lines score alike (as Whoosh's constant score would), so they rank in
    document order, after any other words of the query.
    """

    matched: int | None = None  # lines matched, over the segments searched so far

    def matcher(self, searcher, context=None):
        reader = searcher.reader()
        lines: set[int] = set()
        for word in self._btexts(reader):
            if word:
                lines.update(reader.postings(self.fieldname, word).all_ids())
        self.matched = (self.matched or 0) + len(lines)
        if not lines:
            return NullMatcher()
        return ListMatcher(sorted(lines), all_weights=self.boost)

    def estimate_size(self, reader) -> int:
        # After the search, the count is known; Whoosh would expand the words again.
        return self.matched if self.matched is not None else super().estimate_size(reader)

    def marks(self, forms: tuple[str, ...]) -> bool:
        """Whether a word with these index forms is one this term stands for (for highlighting)."""
        raise NotImplementedError


class _Prefix(_DocSetMatching, q.Prefix):
    def marks(self, forms: tuple[str, ...]) -> bool:
        return any(form.startswith(self.text) for form in forms)


class _Wildcard(_DocSetMatching, q.Wildcard):
    def marks(self, forms: tuple[str, ...]) -> bool:
        pattern = re.compile(fnmatch.translate(self.text))
        return any(pattern.match(form) for form in forms)


class _FuzzyTerm(_DocSetMatching, q.FuzzyTerm):
    def marks(self, forms: tuple[str, ...]) -> bool:
        start = self.text[: self.prefixlength]
        return any(
            form.startswith(start) and damerau_levenshtein(form, self.text, self.maxdist + 1) <= self.maxdist
            for form in forms
        )


def _bounded(node: q.Query, reader) -> q.Query:
    """Refuse the query kinds Whoosh answers slowly before they run; match the rest as sets."""
    if isinstance(node, q.Wildcard | q.Prefix):
        pattern = node.text + ("*" if isinstance(node, q.Prefix) else "")
        head = WILDCARDS.split(pattern, maxsplit=1)[0]
        if not head:
            raise QueryError(
                "leading_wildcard", f"{pattern}: a * or ? cannot come first; type the word's first letters", pattern
            )
        if len(head) < MIN_PREFIX:
            raise QueryError("short_prefix", f"{pattern}: type at least {MIN_PREFIX} letters before a * or ?", pattern)
        _check_expansion(node.fieldname, head, pattern, reader)
        if isinstance(node, q.Prefix):
            return _Prefix(node.fieldname, node.text, boost=node.boost)
        return _Wildcard(node.fieldname, node.text, boost=node.boost)
    if isinstance(node, q.FuzzyTerm):
        if node.maxdist > MAX_FUZZY_DISTANCE:
            raise QueryError(
                "fuzzy_distance", f"{node.text}: at most {MAX_FUZZY_DISTANCE} letters may differ", node.text
            )
        if len(node.text) <= node.maxdist + 1:
            raise QueryError("short_fuzzy", f"{node.text}: a word this short cannot be searched for fuzzily", node.text)
        # The first letters must match: Whoosh then compares only the words that begin
        # with them, not the whole vocabulary.
        return _FuzzyTerm(node.fieldname, node.text, boost=node.boost, maxdist=node.maxdist, prefixlength=FUZZY_PREFIX)
    return node.apply(lambda child: _bounded(child, reader))


def _check_expansion(field_name: str, head: str, pattern: str, reader) -> None:
    count = 0
    for _ in reader.expand_prefix(field_name, head):
        count += 1
        if count > MAX_EXPANSION:
            raise QueryError(
                "too_many_words", f"{pattern}: too many different words begin with {head!r}; type more letters", pattern
            )
