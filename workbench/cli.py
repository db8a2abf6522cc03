"""The ``workbench`` command: thin commands over Edition and the pipeline."""

from __future__ import annotations

import getpass
import html
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import click

from workbench import metadata
from workbench.bibliography import TYPES, Bibliography
from workbench.edition import Edition
from workbench.exchange import bibliographic, transfer
from workbench.files import write_atomically
from workbench.htr import kraken, pipeline, segeval, training
from workbench.layout import mend
from workbench.model import STATUSES, Manuscript, WorkbenchError, check_manuscript_id
from workbench.register import IDENTIFIERS, BadEntity, Entity, Register, Source
from workbench.tei import validation
from workbench.tei.validation import InvalidDocument
from workbench.tei.xml import parse_xml
from workbench.users import ROLES


class Context:
    def __init__(self, edition: Edition, user: str):
        self.edition = edition
        self.user = user


pass_context = click.make_pass_decorator(Context)


@click.group()
@click.option(
    "--edition",
    "edition_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    envvar="WORKBENCH_EDITION",
    show_default=True,
    help="The edition folder (with tei/ and facsimiles/).",
)
@click.option("--user", envvar="WORKBENCH_USER", help="Who is making the changes (default: your login name).")
@click.pass_context
def cli(ctx: click.Context, edition_root: Path, user: str | None) -> None:
    """Manuscript transcription workbench: facsimiles → kraken → TEI."""
    ctx.obj = Context(Edition(edition_root), user or getpass.getuser())


class Interrupted(KeyboardInterrupt):
    """A signal stopped the command (raised where it was, so that its cleanup runs)."""

    def __init__(self, number: int, outcome: str):
        super().__init__(number)
        self.number = number
        self.outcome = outcome  # what became of the command's work, for the message


@contextmanager
def _stopped_cleanly_by_signals(outcome: str) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP end the command through its cleanup, whatever it inherited.

    Python dies at once on SIGTERM (an import left its images without a TEI), and it
    leaves SIGINT ignored when it starts with SIGINT ignored, as a shell without job
    control starts commands run with ``&``: Ctrl-C or ``kill -INT`` did nothing until
    the import had finished. The first signal raises ``Interrupted``; later ones are
    ignored so that they cannot cut the cleanup short (SIGKILL still ends it all).
    """
    numbers = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    interrupted = False

    def interrupt(number: int, frame: object) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise Interrupted(number, outcome)

    previous = {number: signal.signal(number, interrupt) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort as abort:
        if isinstance(abort.__cause__, Interrupted):
            number = abort.__cause__.number
            click.secho(f"Stopped by {signal.Signals(number).name}: {abort.__cause__.outcome}", fg="red", err=True)
            sys.exit(128 + number)
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except (WorkbenchError, InvalidDocument) as error:
        click.secho(f"Error: {error}", fg="red", err=True)
        sys.exit(1)


_METADATA_HELP = {
    "title": "The manuscript's title.",
    "author": "Its author, e.g. 'Трифон Цанев Трифонов (1866–1926)'.",
    "date": "The date as catalogued: 1890, 1888–1892, 'около 1890'.",
    "years": "The years it was written, for searching by date: 1890 or 1888-1892 (default: from --date).",
    "language": "The main language, a BCP 47 tag: bg, chu, ru.",
    "settlement": "Where the holding library is, e.g. Русе.",
    "repository": "The holding library.",
    "collection": "The fund or collection.",
    "shelfmark": "The shelfmark.",
    "material": "What it is written on: хартия, пергамент.",
    "extent": "How much there is, e.g. '12 листа'.",
    "dimensions": "Leaf size in mm, height × width: 210x170.",
    "hands": "A hand, described (repeat for several; --hand '' removes them all).",
    "editors": "'Name: responsibility' (repeat for several; --editor '' removes them all).",
    "licence": f"A licence URL or one of {', '.join(metadata.LICENCES)}.",
}


def _metadata_options(command: Callable) -> Callable:
    for name in reversed(metadata.FIELDS):
        if name in ("hands", "editors"):
            command = click.option(f"--{name[:-1]}", name, multiple=True, help=_METADATA_HELP[name])(command)
        else:
            command = click.option(f"--{name}", help=_METADATA_HELP[name])(command)
    return command


@cli.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--admin", "admin_name", help="The first admin account's name (asked for when not given).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the admin's password from the first line of stdin (for scripts)."
)
@pass_context
def init(context: Context, path: Path, admin_name: str | None, password_stdin: bool) -> None:
    """Make an empty edition in PATH, a new or empty folder, with its first admin account."""
    from workbench.edition import check_new_edition_folder, new_edition
    from workbench.users import Users, check_account

    check_new_edition_folder(path)  # before the prompts
    name = admin_name or click.prompt("Name of the first admin account")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password of {name}", hide_input=True, confirmation_prompt=True)
    check_account(name, password)  # before anything is made: a refused password leaves no half edition
    edition = new_edition(path)
    Users.of(edition).add(name, "admin", password, who=context.user)
    click.echo(f"Made an empty edition in {edition.root}: tei/, facsimiles/, .workbench/, workbench.toml (settings)")
    click.echo(
        f"admin {name} added. Next: workbench --edition {path} import FOLDER, then workbench --edition {path} serve"
    )


@cli.command("sample")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def sample_command(path: Path) -> None:
    """Make the bundled sample edition (rendered pages in the old orthography) in PATH, a new or empty folder."""
    from workbench.edition import new_edition
    from workbench.sample import copy_sample_edition

    edition = new_edition(path)
    manuscript_id = copy_sample_edition(edition)
    click.echo(
        f"Made the sample edition in {edition.root}: {edition.tei_path(manuscript_id).relative_to(edition.root)}"
    )
    click.echo(f"Next: workbench --edition {path} user add NAME --role admin, then workbench --edition {path} serve")


@cli.command("new-manuscript")
@click.argument("manuscript_id")
@_metadata_options
@pass_context
def new_manuscript(context: Context, manuscript_id: str, **values: str | tuple[str, ...] | None) -> None:
    """Create an empty manuscript with its TEI header (--title is required)."""
    check_manuscript_id(manuscript_id)
    given = _given(values)
    if not given.get("title"):
        raise click.UsageError("a new manuscript needs --title")
    manuscript = Manuscript(id=manuscript_id, title="")
    metadata.update(manuscript, given)
    context.edition.create(manuscript, who=context.user)
    click.echo(f"Created {context.edition.tei_path(manuscript_id)}")


_steps_option = click.option(
    "--steps",
    default=",".join(mend.STEPS),
    show_default=True,
    callback=lambda context, parameter, value: _steps(value),
    help="Mending after kraken: join (pieces of one line), specks (dots taken for lines); 'none' for kraken alone.",
)


def _steps(value: str) -> tuple[str, ...]:
    steps = tuple(step.strip() for step in value.split(",") if step.strip() and step.strip() != "none")
    unknown = set(steps) - set(mend.STEPS)
    if unknown:
        raise click.BadParameter(f"unknown step(s) {', '.join(sorted(unknown))}; use {', '.join(mend.STEPS)} or none")
    return steps


def _given(values: dict[str, str | tuple[str, ...] | None]) -> dict[str, str]:
    """The metadata options given on the command line, as metadata.update reads them."""
    return {name: "\n".join(v) if isinstance(v, tuple) else v for name, v in values.items() if v not in (None, ())}


@cli.command("metadata")
@click.argument("manuscript_id")
@_metadata_options
@pass_context
def metadata_command(context: Context, manuscript_id: str, **values: str | tuple[str, ...] | None) -> None:
    """Show the manuscript's metadata, or change the fields given (an empty value clears one)."""
    given = _given(values)
    if given:
        changed = context.edition.set_metadata(manuscript_id, given, who=context.user)
        click.echo(f"Changed: {', '.join(changed)}" if changed else "Nothing changed.")
    shown = metadata.as_text(context.edition.header(manuscript_id))
    for name in metadata.FIELDS:
        lines = shown[name].split("\n") if shown[name] else ["—"]
        click.echo(f"{name + ':':12} {lines[0]}")
        for line in lines[1:]:
            click.echo(f"{'':12} {line}")


@cli.command("add-pages")
@click.argument("manuscript_id")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def add_pages(context: Context, manuscript_id: str, images: tuple[Path, ...]) -> None:
    """Add page images (JPEG, PNG, TIFF; each frame of a multi-page TIFF is a page)."""
    result = context.edition.add_pages(manuscript_id, list(images), who=context.user)
    for name in result.skipped:
        click.echo(f"{name}: already in {manuscript_id} (same content), skipped")
    for page in result.pages:
        frame = f" (frame {page.frame + 1})" if page.frame is not None else ""
        click.echo(f"page {page.n}: {page.image}{frame}, {page.width}×{page.height}")
    click.echo(f"{len(result.pages)} page(s) added to {manuscript_id}")


@cli.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--id", "manuscript_id", help="The new manuscript's id (default: from the file or folder name).")
@click.option("--title", help="Its title (default: the file or folder name).")
@pass_context
def import_command(context: Context, source: Path, manuscript_id: str | None, title: str | None) -> None:
    """Import PAGE XML or ALTO files with their images (a folder or a zip), or a project TEI document."""
    with _stopped_cleanly_by_signals("the import was undone, nothing of it is left; it can be run again"):
        report = transfer.import_path(context.edition, source, context.user, manuscript_id, title)
    for page in report.pages:
        click.echo(page)
    for note in report.notes:
        click.secho(f"note: {note}", fg="yellow")
    for skipped in report.skipped:
        click.secho(f"skipped: {skipped}", fg="red", err=True)
    click.echo(f"Imported {len(report.pages)} page(s) as {report.manuscript_id}")


@cli.command("import-iiif")
@click.argument("manifest")
@click.option("--id", "manuscript_id", help="The new manuscript's id (default: from the manifest's label).")
@pass_context
def import_iiif_command(context: Context, manifest: str, manuscript_id: str | None) -> None:
    """Import a manuscript from a IIIF Presentation 2 or 3 manifest (an http(s) address or a file):
    the largest image the server allows of each canvas, the label and metadata into the TEI header.
    An interrupted import, run again, fetches only the images it does not have yet."""
    from workbench.exchange import iiif

    with click.progressbar(length=1, label="Fetching images", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        with _stopped_cleanly_by_signals("nothing was imported; the images fetched so far are kept for the next run"):
            report = iiif.import_manifest(context.edition, manifest, context.user, manuscript_id, progress)
    for page in report.pages:
        click.echo(page)
    click.echo(
        f"Imported {len(report.pages)} page(s) as {report.manuscript_id} ({report.fetched} image(s) fetched now)"
    )


@cli.command()
@click.argument("manuscript_id")
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(transfer.FORMATS),
    help="What to write (repeat for several; default: all): TEI, PAGE XML 2019, PAGE XML 2013 (Transkribus), ALTO v4, plain text.",
)
@click.option("--to", "folder", type=click.Path(file_okay=False, path_type=Path), help="Write into this folder.")
@click.option("--zip", "zip_path", type=click.Path(dir_okay=False, path_type=Path), help="Write one zip, with images.")
@click.option("--notes", is_flag=True, help="Put the comments on lines into the TEI as editorial notes.")
@pass_context
def export(
    context: Context,
    manuscript_id: str,
    formats: tuple[str, ...],
    folder: Path | None,
    zip_path: Path | None,
    notes: bool,
) -> None:
    """Export a manuscript; TEI is checked against the project schema and tei_all first."""
    if (folder is None) == (zip_path is None):
        raise click.UsageError("give either --to FOLDER or --zip FILE")
    formats = formats or transfer.FORMATS
    if "tei" in formats:
        click.echo("Checking the TEI against tei_all (loading it takes about 15 s)…", err=True)
    if zip_path:
        transfer.export_zip(context.edition, manuscript_id, zip_path, formats, notes)
        click.echo(f"Wrote {zip_path}")
    else:
        for path in transfer.export(context.edition, manuscript_id, folder, formats, notes):
            click.echo(f"Wrote {path}")


@cli.command()
@click.argument("manuscript_id")
@click.option(
    "--to", "folder", required=True, type=click.Path(file_okay=False, path_type=Path), help="The new bag's folder."
)
@pass_context
def package(context: Context, manuscript_id: str, folder: Path) -> None:
    """Write a deposit package: a BagIt bag with the masters, TEI, PAGE, ALTO, journal and METS."""
    from workbench import deposit

    click.echo("Checking the TEI against tei_all (loading it takes about 15 s)…", err=True)
    with _stopped_cleanly_by_signals("no package was written; it can be run again"):
        report = deposit.package(context.edition, manuscript_id, folder)
    click.echo(f"Wrote {report.bag}: {report.pages} page(s), {report.files} file(s), {report.bytes:,} bytes")


@cli.command()
@click.argument("bag", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--id", "manuscript_id", help="Restore under this id (default: the manuscript's own).")
@pass_context
def restore(context: Context, bag: Path, manuscript_id: str | None) -> None:
    """Bring a manuscript back from a deposit package (checked against its manifests first)."""
    from workbench import deposit

    with _stopped_cleanly_by_signals("the restore was undone, nothing of it is left; it can be run again"):
        report = deposit.restore(context.edition, bag, context.user, manuscript_id)
    click.echo(
        f"Restored {report.manuscript_id}: {report.pages} page(s), {report.images} image(s), "
        f"{report.journal_entries} journal entries"
    )
    if report.published:
        click.echo("It is published: the web workbench's search index catches up by itself; or: workbench reindex")
    _report_result(context.edition, report.manuscript_id)


@cli.command()
@click.argument("manuscript_id")
@click.option("--pages", help="Page numbers, e.g. 3 or 1,4-6 (default: all).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: one per core).")
@_steps_option
@click.option(
    "--mode",
    type=click.Choice(list(pipeline.MODES)),
    default="replace",
    show_default=True,
    help="replace: new lines in place of the old (text carried over by overlap); "
    "add: keep every line and add new ones only where there are none.",
)
@pass_context
def segment(
    context: Context, manuscript_id: str, pages: str | None, workers: int | None, steps: tuple[str, ...], mode: str
) -> None:
    """Find regions and lines on pages with kraken's bundled segmentation model, then mend them.

    Every page's new segmentation can be undone in the page editor by whoever ran it."""
    edition = context.edition
    count = len(pipeline.select_pages(edition.page_numbers(manuscript_id), pages, manuscript_id))
    click.echo(f"Segmenting {count} page(s) of {manuscript_id} with kraken (loading the model takes a while)…")
    with _progress(count, "Segmenting") as update:
        summary = pipeline.segment(
            edition, manuscript_id, context.user, pages, workers, progress=update, steps=steps, mode=mode
        )
    for outcome in summary.outcomes:
        if outcome.error:
            click.secho(f"page {outcome.page} ({outcome.image}): not segmented: {outcome.error}", fg="red", err=True)
        else:
            report = outcome.report
            kept = (
                f", {report.kept} transcribed line(s) matched no new line, kept as they were: "
                + ", ".join(report.unmapped)
                if report.unmapped
                else ""
            )
            existing = f" ({report.existing} kept, {report.added} added)" if report.existing else ""
            repaired = f", {report.repaired} polygon(s) rebuilt from the baseline" if report.repaired else ""
            joined = f", {report.joined} piece(s) joined to their line" if report.joined else ""
            dropped = f", {report.dropped} speck(s) dropped" if report.dropped else ""
            click.echo(
                f"page {outcome.page} ({outcome.image}): {report.lines} line(s){existing}{kept}{repaired}{joined}{dropped}"
            )
    for outcome in summary.without_lines:
        click.secho(
            f"page {outcome.page} ({outcome.image}): kraken found no lines; the page is kept with none",
            fg="yellow",
        )
    _report_result(edition, manuscript_id)
    if summary.failed:
        sys.exit(1)


@cli.command("eval-seg")
@click.argument("ground_truth", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Pages segmented at once.")
@_steps_option
def eval_seg(ground_truth: tuple[Path, ...], workers: int, steps: tuple[str, ...]) -> None:
    """Score the workbench's segmentation against ground-truth PAGE or ALTO files (or folders of them).

    Each file's image (beside it) is segmented as `workbench segment` does; found
    baselines are matched to the file's as the README's "Segmentation quality" says.
    """
    files = []
    for path in ground_truth:
        files += sorted(path.glob("*.xml"), key=transfer.natural_order) if path.is_dir() else [path]
    if not files:
        raise click.UsageError("no PAGE or ALTO files (*.xml) given")
    click.echo(f"Segmenting {len(files)} page(s) with kraken (loading the model takes a while)…", err=True)

    def show(score: segeval.PageScore) -> None:
        click.echo(
            f"{score.name}: recall {score.recall:.3f}, precision {score.precision:.3f}, F1 {score.f1:.3f} "
            f"(truth {score.truth}, found {score.found}, matched {score.matched}), {score.seconds:.1f} s"
        )

    scores = pipeline.evaluate_segmentation(files, workers, progress=show, steps=steps)
    total = segeval.overall(scores)
    click.echo(
        f"overall: recall {total.recall:.3f}, precision {total.precision:.3f}, F1 {total.f1:.3f} "
        f"(truth {total.truth}, found {total.found}, matched {total.matched}), "
        f"{total.seconds / len(scores):.1f} s per page"
    )


@cli.command()
@click.argument("manuscript_id")
@click.option(
    "--model", help="A trained model's name or a kraken model file (default: the manuscript's default model)."
)
@click.option("--pages", help="Page numbers, e.g. 3 or 1,4-6 (default: all).")
@pass_context
def recognize(context: Context, manuscript_id: str, model: str | None, pages: str | None) -> None:
    """Read the lines that have no human text with a recognition model (machine text is replaced)."""
    edition = context.edition
    store = training.ModelStore.of(edition)
    model = model or store.default(manuscript_id)
    if not model:
        raise click.UsageError(f"give --model (a trained model or a model file); {manuscript_id} has no default model")
    model_path = store.resolve(model)
    name = model_path.name if Path(model).expanduser().is_file() else model
    count = len(pipeline.select_pages(edition.page_numbers(manuscript_id), pages, manuscript_id))
    with _progress(count, "Recognising") as update:
        summary = pipeline.recognize(
            edition, manuscript_id, model_path, context.user, pages, progress=update, model_name=name
        )
    for outcome in summary.outcomes:
        if outcome.error:
            click.secho(f"page {outcome.page}: not recognised: {outcome.error}", fg="red", err=True)
        else:
            click.echo(f"page {outcome.page}: {outcome.recognized} line(s) filled")
    _report_result(edition, manuscript_id)
    if summary.failed:
        sys.exit(1)


@cli.command()
@click.argument("manuscript_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--name", help="The new model's name (default: the manuscripts and the date).")
@click.option(
    "--base", help="Fine-tune this model (a trained model's name or a model file) instead of starting afresh."
)
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Passes over the lines.")
@click.option("--spec", default=kraken.DEFAULT_SPEC, show_default=True, help="The network, in kraken's VGSL notation.")
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    help="Stop after this many epochs without a better validation CER (--epochs is then the most).",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop training after this long, keeping the best epoch.",
)
@click.option(
    "--verbose", is_flag=True, help="Show kraken's and Lightning's own messages here instead of only in the log file."
)
@pass_context
def train(
    context: Context,
    manuscript_ids: tuple[str, ...],
    name: str | None,
    base: str | None,
    epochs: int,
    spec: str,
    patience: int | None,
    max_minutes: float | None,
    verbose: bool,
) -> None:
    """Train a recognition model on the manuscripts' corrected and verified lines."""
    name = name or f"{'+'.join(manuscript_ids)}-{datetime.now(UTC):%Y%m%d-%H%M}"
    split = training.split_lines([context.edition.load(ms) for ms in manuscript_ids])
    click.echo(
        f"Training {name} on {len(split.training)} line(s), choosing the best epoch on {len(split.validation)}; "
        f"{len(split.held_out)} verified line(s) held out for evaluation",
        err=True,
    )
    if not base:
        click.echo(kraken.WHAT_IS_NORMAL, err=True)
    with _kraken_training(context, "train", name, verbose) as terminal:
        record = training.train(
            context.edition,
            list(manuscript_ids),
            name,
            context.user,
            base=base,
            epochs=epochs,
            spec=spec,
            patience=patience,
            max_minutes=max_minutes,
            progress=lambda done: click.echo(str(done), file=terminal),
        )
    click.echo(
        f"Model {record.name}: kept epoch {record.kept_epoch} of {record.epochs_run}, "
        f"validation CER {record.validation_cer:.1%} ({record.validation_lines} line(s)); "
        f"trained in {record.training_seconds:.0f} s"
    )
    if record.scores:
        click.echo(
            f"held-out lines: CER {record.scores.cer:.2%}, WER {record.scores.wer:.2%} ({record.scores.lines} line(s))"
        )


@cli.command()
@click.argument("model")
@click.option("--job", "as_job", is_flag=True, help="Queue it as a training job (a worker runs it) instead of here.")
@click.option(
    "--verbose", is_flag=True, help="Show kraken's and Lightning's own messages here instead of only in the log file."
)
@click.pass_context
def retrain(click_context: click.Context, model: str, as_job: bool, verbose: bool) -> None:
    """Fine-tune MODEL on its manuscripts' lines, with those corrected or verified since it was trained.

    The new model is named after its lineage (MODEL-2, -3…) and trains for as many epochs
    as MODEL was asked for; what the web models page's Retrain button does."""
    context = click_context.find_object(Context)
    store = training.ModelStore.of(context.edition)
    if as_job:
        job = training.submit_retraining(context.edition, model, context.user)
        click.echo(
            f"job {job.id}: training {job.name} from {model} on {job.options['lines']} line(s), "
            f"{job.state} on the {job.queue} queue (follow it: workbench jobs {job.id})"
        )
        return
    record = store.get(model)
    training.check_new_lines(record, training.TrainableLines(context.edition).of(record.manuscripts))
    click_context.invoke(
        train,
        manuscript_ids=tuple(record.manuscripts),
        name=training.retraining_name(store, record),
        base=model,
        epochs=record.epochs,
        verbose=verbose,
    )


@cli.command()
@click.argument("name")
@click.option(
    "--lines", type=click.IntRange(min=20), default=4000, show_default=True, help="Synthetic lines to render."
)
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed renders the same lines.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True, help="Passes over the lines.")
@click.option("--spec", default=kraken.DEFAULT_SPEC, show_default=True, help="The network, in kraken's VGSL notation.")
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop training after this long, keeping the best epoch.",
)
@click.option(
    "--patience",
    type=click.IntRange(min=1),
    help="Stop after this many epochs without a better validation CER (--epochs is then the most).",
)
@click.option(
    "--fonts",
    "font_names",
    multiple=True,
    help="A font file, or part of installed fonts' file names (repeat for several; "
    "default: every installed font with Bulgarian letters). Fonts lacking a letter of the corpus are left out.",
)
@click.option(
    "--verbose", is_flag=True, help="Show kraken's and Lightning's own messages here instead of only in the log file."
)
@pass_context
def pretrain(
    context: Context,
    name: str,
    lines: int,
    seed: int,
    epochs: int,
    spec: str,
    max_minutes: float | None,
    patience: int | None,
    font_names: tuple[str, ...],
    verbose: bool,
) -> None:
    """Pretrain a base model NAME on rendered lines of pre-1945 Bulgarian in many fonts.

    Fine-tune it on a manuscript's own lines with `workbench train ID --base NAME`.
    """
    from workbench.htr import synthetic

    training.check_name(context.edition, name)
    choice = synthetic.usable_fonts(synthetic.fonts_from(font_names) if font_names else None)
    for path, why in choice.skipped.items():
        click.echo(f"font {path.name} left out: {why}", err=True)
    for path, lacking in choice.lacking.items():
        click.echo(f"font {path.name} draws only lines without {' '.join(lacking)}", err=True)
    click.echo(
        f"Rendering {lines} line(s) (seed {seed}) in {len(choice.fonts)} font(s): "
        + ", ".join(path.name for path in choice.fonts),
        err=True,
    )
    click.echo(kraken.WHAT_IS_NORMAL, err=True)
    with _kraken_training(context, "pretrain", name, verbose) as terminal:
        record = synthetic.pretrain(
            context.edition,
            name,
            context.user,
            lines=lines,
            seed=seed,
            fonts=choice,
            epochs=epochs,
            spec=spec,
            max_minutes=max_minutes,
            patience=patience,
            progress=lambda done: click.echo(str(done), file=terminal),
            rendered=lambda done, total: click.echo(f"rendered {done}/{total} line(s)", file=terminal),
        )
    click.echo(
        f"Model {record.name}: kept epoch {record.kept_epoch} of {record.epochs_run}, "
        f"validation CER {record.validation_cer:.1%} on {record.validation_lines} synthetic line(s); "
        f"trained in {record.training_seconds:.0f} s. Fine-tune it: workbench train ID --base {record.name}"
    )


@contextmanager
def _kraken_training(context: Context, command: str, name: str, verbose: bool) -> Iterator[TextIO]:
    """A training run of ``workbench COMMAND NAME``: kraken's and Lightning's chatter into
    ``.workbench/logs/COMMAND-NAME.log`` (unless ``verbose``), a signal ending it with
    "no model was kept"; yields the stream for the command's own progress."""
    log_path = context.edition.state_dir / "logs" / f"{command}-{name}.log"
    if not verbose:
        click.echo(f"kraken's and Lightning's own messages: {log_path}", err=True)
    with (
        _stopped_cleanly_by_signals(f"the {command}ing was stopped; no model was kept"),
        _output_to_log(None if verbose else log_path, f"workbench {command}") as terminal,
    ):
        yield terminal


@contextmanager
def _output_to_log(log_path: Path | None, command: str) -> Iterator[TextIO]:
    """Send everything written to stdout and stderr meanwhile to ``log_path`` (None: leave them be).

    kraken and Lightning print a model summary table, tips and warnings, some from
    Python (warnings, logging, print), some from native code: both the file
    descriptors and Python's sys.stdout and sys.stderr are redirected. Yields the
    stream that still reaches the user's stderr, for the command's own progress.
    """
    if log_path is None:
        yield sys.stderr
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_streams = sys.stdout, sys.stderr
    saved_descriptors = os.dup(1), os.dup(2)
    try:
        on_descriptor_2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a stream in memory (click's test runner)
        on_descriptor_2 = False
    terminal = os.fdopen(os.dup(saved_descriptors[1]), "w", buffering=1) if on_descriptor_2 else sys.stderr
    with open(log_path, "a", buffering=1, encoding="utf-8") as log:
        log.write(f"-- {datetime.now(UTC).isoformat(timespec='seconds')} {command}\n")
        log.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
        try:
            yield terminal
        finally:
            log.flush()
            if terminal is not saved_streams[1]:
                terminal.close()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_descriptors[0], 1)
            os.dup2(saved_descriptors[1], 2)
            os.close(saved_descriptors[0])
            os.close(saved_descriptors[1])


@cli.command()
@click.argument("model")
@click.argument("manuscript_ids", metavar="ID...", nargs=-1, required=True)
@click.option(
    "--worst", type=click.IntRange(min=0), default=10, show_default=True, help="How many of the worst lines to show."
)
@click.option("--images", type=click.Path(file_okay=False, path_type=Path), help="Write the worst lines' images here.")
@pass_context
def evaluate(context: Context, model: str, manuscript_ids: tuple[str, ...], worst: int, images: Path | None) -> None:
    """Character and word error rates of MODEL on held-out verified lines: overall, per page, worst lines."""
    result = training.evaluate(context.edition, model, list(manuscript_ids))
    scores = result.scores
    click.echo(
        f"{model}: CER {scores.cer:.2%}, WER {scores.wer:.2%} on {scores.lines} line(s), {scores.characters} characters"
    )
    for page, page_scores in result.pages.items():
        click.echo(f"  {page}: CER {page_scores.cer:.2%}, WER {page_scores.wer:.2%} ({page_scores.lines} line(s))")
    worst_lines = result.worst(worst)
    pictures = training.write_line_images(context.edition, worst_lines, images) if images else {}
    for line in worst_lines:
        picture = f", image: {pictures[line.line_id]}" if line.line_id in pictures else ""
        click.echo(f"\n{line.manuscript_id} p.{line.page} {line.line_id} (CER {line.cer:.0%}){picture}")
        click.echo(f"  truth:      {line.truth}")
        click.echo(f"  prediction: {line.prediction}")
        click.echo(f"  diff:       {_diff(line.prediction, line.truth)}")


def _diff(prediction: str, truth: str) -> str:
    """Where the prediction differs from the truth: [-read wrongly-]{+should be+}."""
    from difflib import SequenceMatcher

    parts = []
    for op, a0, a1, b0, b1 in SequenceMatcher(None, prediction, truth, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(truth[b0:b1])
        else:
            parts.append((f"[-{prediction[a0:a1]}-]" if a1 > a0 else "") + (f"{{+{truth[b0:b1]}+}}" if b1 > b0 else ""))
    return "".join(parts)


@cli.group()
def models() -> None:
    """Trained recognition models (in .workbench/models/)."""


@models.command("list")
@pass_context
def models_list(context: Context) -> None:
    """Name, base, training lines, error rates on held-out lines, date, lines new since; a lineage's CERs."""
    store = training.ModelStore.of(context.edition)
    records = store.list()
    if not records:
        click.echo("No trained models yet: workbench train ID...")
    counts = training.TrainableLines(context.edition)
    for record in records:
        scores = f"CER {record.scores.cer:.2%}, WER {record.scores.wer:.2%}" if record.scores else "not measured"
        new_lines = training.new_lines_since(record, counts.of(record.manuscripts))
        click.echo(
            f"{record.name}  {record.created}  base: {record.base or '—'}  {record.training_lines} training line(s)"
            f"  {scores}  ({_trained_on(record)})  {new_lines} new line(s) since"
        )
        history = store.history(record)
        if len(history) > 1:
            points = (
                f"{point['name']} ({point['training_lines']} lines, "
                + (f"CER {point['cer']:.2%})" if point["cer"] is not None else "not measured)")
                for point in history
            )
            click.echo(f"  history: {' → '.join(points)}")


def _trained_on(record: training.ModelRecord) -> str:
    if record.synthetic:
        return f"synthetic lines, seed {record.synthetic['seed']}, {len(record.synthetic['fonts'])} font(s)"
    return ", ".join(record.manuscripts)


@models.command("default")
@click.argument("manuscript_id")
@click.argument("model", required=False)
@click.option("--clear", is_flag=True, help="Remove the manuscript's default model.")
@pass_context
def models_default(context: Context, manuscript_id: str, model: str | None, clear: bool) -> None:
    """Show or set the model that recognises MANUSCRIPT_ID when none is named."""
    context.edition.require(manuscript_id)
    store = training.ModelStore.of(context.edition)
    if model or clear:
        store.set_default(manuscript_id, None if clear else model)
    click.echo(f"{manuscript_id}: {store.default(manuscript_id) or 'no default model'}")


@cli.command()
@click.argument("manuscript_id", required=False)
@click.option("--tei-all/--no-tei-all", default=True, show_default=True, help="Also check the official tei_all.")
@pass_context
def validate(context: Context, manuscript_id: str | None, tei_all: bool) -> None:
    """Check TEI documents against the project schema (and tei_all)."""
    edition = context.edition
    ids = [manuscript_id] if manuscript_id else edition.manuscript_ids()
    if manuscript_id:
        edition.require(manuscript_id)
    if tei_all:
        click.echo("Loading tei_all (about 15 s)…", err=True)
    invalid = 0
    for ms in ids:
        path = edition.tei_path(ms).relative_to(edition.root)
        invalid += _report_problems(path, edition.problems(ms, tei_all=tei_all), tei_all)
    for book in (Bibliography(edition).path, Register(edition).path):
        if manuscript_id or not book.exists():
            continue
        path = book.relative_to(edition.root)
        try:
            tree = parse_xml(book.read_bytes(), str(path))
            problems = validation.check_project(tree, edition.schema_dir)
            problems += validation.check_tei_all(tree, edition.schema_dir) if tei_all else []
        except WorkbenchError as error:
            problems = [validation.Problem(None, str(error), "well-formedness")]
        invalid += _report_problems(path, problems, tei_all)
    if invalid:
        sys.exit(1)


def _report_problems(path: Path, problems: list[validation.Problem], tei_all: bool) -> bool:
    """Print a document's validity and its problems; whether it is invalid."""
    if problems:
        click.secho(f"{path}: INVALID ({len(problems)} problem(s))", fg="red")
        for problem in problems:
            click.echo(f"  {path}:{problem.line or '-'}: {problem.message} [{problem.check}]")
    else:
        checked = "workbench schema and tei_all" if tei_all else "workbench schema"
        click.secho(f"{path}: valid ({checked})", fg="green")
    return bool(problems)


@cli.command()
@click.argument("manuscript_id", required=False)
@click.option(
    "--tei-all", is_flag=True, help="Also check the TEI against the official tei_all (loading it takes ~15 s)."
)
@click.option("--upgrade", is_flag=True, help="First chain the journals written before the chain (once, in place).")
@pass_context
def verify(context: Context, manuscript_id: str | None, tei_all: bool, upgrade: bool) -> None:
    """Check that the edition is intact: facsimiles against SHA256SUMS, TEI validity, the
    journals' hash chains, the search index against the published manuscripts.

    Exits with 1 if anything is wrong; the result is also kept for the web interface's admins.
    """
    from workbench import preservation

    edition = context.edition
    if manuscript_id:
        edition.require(manuscript_id)
    if upgrade:
        for ms in preservation.upgrade_journals(edition):
            click.echo(f"{ms}: journal chained")
    if tei_all:
        click.echo("Loading tei_all (about 15 s)…", err=True)
    ids = [manuscript_id] if manuscript_id else edition.manuscript_ids()
    total = preservation.facsimile_bytes(edition, ids)
    with click.progressbar(length=total, label="Checking facsimiles", file=sys.stderr) as bar:
        report = preservation.verify(edition, manuscript_id, tei_all=tei_all, who=context.user, progress=bar.update)
    for row in report.text().splitlines():
        if row.startswith("PROBLEM"):
            click.secho(row, fg="red")
        else:
            click.echo(row)
    if not report.ok:
        sys.exit(1)


@cli.command()
@click.argument("manuscript_id", required=False)
@pass_context
def status(context: Context, manuscript_id: str | None) -> None:
    """Pages, lines, and lines per status."""
    edition = context.edition
    ids = [manuscript_id] if manuscript_id else edition.manuscript_ids()
    if not ids:
        click.echo(f"No manuscripts in {edition.root}")
    for ms in ids:
        summary = edition.summary(ms)
        click.echo(f"{ms}: {summary.title}")
        click.echo(f"  pages: {len(summary.pages)}, lines: {summary.lines}")
        for name in ("untranscribed", *STATUSES):
            click.echo(f"  {name}: {summary.counts.get(name, 0)}")


@cli.command()
@click.argument("job_id", required=False)
@pass_context
def jobs(context: Context, job_id: str | None) -> None:
    """Background segmentation and recognition jobs (newest first), or the one with JOB_ID."""
    from workbench.jobs import JobStore

    store = JobStore.of(context.edition)
    found = [store.get(job_id)] if job_id else store.list()
    if not found:
        click.echo(f"No jobs in {context.edition.root}")
    for job in found:
        progress = f"{job.done}/{job.total}"
        click.echo(f"{job.id}  {job.kind:<9}  {job.manuscript_id}  {job.state:<9}  {progress:>7}  {job.current}")
        if job.message:
            click.echo(f"    {job.message}")
        if job_id:
            click.echo(f"    by {job.who}; pages {job.pages or 'all'}" + (f"; model {job.model}" if job.model else ""))
            click.echo(f"    created {job.created}, started {job.started or '-'}, finished {job.finished or '-'}")
            if job.worker:
                click.echo(f"    on the remote worker {job.worker}")
            click.echo(f"    log: {store.log_path(job.id)}")


@cli.command()
@click.option(
    "--queues",
    help="The queues to take jobs from: cpu (segmentation, recognition), gpu (training), low (exports, "
    "reindexing). Default: all three; with --remote, cpu,gpu (the low queue's jobs need the edition's files).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Jobs at once on each queue (default: [queue] kraken_jobs on cpu, else one per 2 GB of memory; 1 on gpu, low).",
)
@click.option("--parent", type=int, hidden=True)  # started by serve: stop when that process is gone
@click.option(
    "--remote",
    metavar="URL",
    help="Work for the workbench at URL over HTTP, without the edition's files (a machine of its own).",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --remote: the file holding the worker token (default: $WORKBENCH_WORKER_TOKEN).",
)
@click.option(
    "--redis", "redis_url", metavar="URL", help="With --remote: the Redis queue (default: what the workbench says)."
)
@pass_context
def worker(
    context: Context,
    queues: str | None,
    workers: int | None,
    parent: int | None,
    remote: str | None,
    token_file: Path | None,
    redis_url: str | None,
) -> None:
    """Run the edition's queued jobs (the queue: workbench.toml [queue], else .workbench/queue.db).

    `workbench serve` starts one; run one yourself to take jobs from a Redis queue on
    another machine, or on a GPU (`--queues gpu`). Stops on Ctrl-C or SIGTERM; jobs
    running then go on to their end in their own processes.

    With --remote URL the worker needs no edition: it fetches page images from the
    workbench and sends results back (a worker token: `workbench worker-token create`),
    working in the current folder.
    """
    import logging

    from workbench import queue

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    queues = queues or ("cpu,gpu" if remote else "cpu,gpu,low")
    names = [name.strip() for name in queues.split(",") if name.strip()]
    if remote:
        from workbench import remote as remote_worker

        token = remote_worker.read_token(token_file)
        remote_worker.run_remote_worker(remote, token, names, workers, redis_url)
        return
    if token_file or redis_url:
        raise click.UsageError("--token-file and --redis go with --remote")
    queue.run_worker_command(context.edition.root, names, workers, parent)


@cli.group("worker-token")
def worker_token() -> None:
    """Tokens for remote workers (`workbench worker --remote`); only their digests are kept."""


@worker_token.command("create")
@click.argument("label")
@pass_context
def worker_token_create(context: Context, label: str) -> None:
    """Make a token for a worker machine, LABEL naming it; printed once, never shown again."""
    from workbench import remote

    token = remote.create_token(context.edition.root, label)
    click.echo(token)
    click.echo(f"Keep it in a file only the worker's account reads, e.g. /etc/workbench/{label}.token", err=True)


@worker_token.command("list")
@pass_context
def worker_token_list(context: Context) -> None:
    """The worker tokens' labels and when they were made."""
    from workbench import remote

    for entry in remote.list_tokens(context.edition.root):
        click.echo(f"{entry['label']}\t{entry['created']}")


@worker_token.command("revoke")
@click.argument("label")
@pass_context
def worker_token_revoke(context: Context, label: str) -> None:
    """Withdraw the token labelled LABEL: its worker is refused from its next call."""
    from workbench import remote

    remote.revoke_token(context.edition.root, label)
    click.echo(f"worker token {label} revoked")


@cli.command()
@click.argument("manuscript_id")
@click.option("--withdraw", is_flag=True, help="Hide it from readers again.")
@pass_context
def publish(context: Context, manuscript_id: str, withdraw: bool) -> None:
    """Let readers see and search a manuscript (or, with --withdraw, stop them)."""
    context.edition.set_published(manuscript_id, not withdraw, context.user)
    what = "withdrawn from readers" if withdraw else "published: readers can see and search it"
    click.echo(
        f"{manuscript_id}: {what} (the web workbench's search index catches up by itself; or: workbench reindex)"
    )


@cli.command()
@click.option("--job", "as_job", is_flag=True, help="Queue it as a job on the low queue (a worker runs it).")
@pass_context
def reindex(context: Context, as_job: bool) -> None:
    """Rebuild the readers' search index from tei/ (published manuscripts only)."""
    from workbench.search.indexing import Indexer

    if as_job:
        from workbench.jobs import JobStore

        job = JobStore.of(context.edition).submit(context.edition, "reindex", "", context.user)
        click.echo(f"job {job.id}: reindex, {job.state} on the {job.queue} queue (follow it: workbench jobs {job.id})")
        return

    bars: dict[str, click.progressbar] = {}

    def progress(manuscript_id: str, done: int, total: int) -> None:
        if manuscript_id not in bars:
            for bar in bars.values():
                bar.render_finish()
            bars[manuscript_id] = click.progressbar(length=total, label=manuscript_id, show_pos=True, file=sys.stderr)
        bar = bars[manuscript_id]
        bar.update(done - bar.pos)

    pages = Indexer(context.edition).rebuild(progress=progress)
    for bar in bars.values():
        bar.render_finish()
    click.echo(f"Indexed {pages} page(s) of the published manuscripts.")


@cli.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--exact", is_flag=True, help="Spelling as written (no old/modern folding, no stemming).")
@click.option("--manuscript", "manuscript_id", help="Only this manuscript.")
@click.option("--limit", default=20, show_default=True)
@pass_context
def search(context: Context, words: tuple[str, ...], exact: bool, manuscript_id: str | None, limit: int) -> None:
    """Search the published lines as readers do (the index as it is now)."""
    from workbench.search import indexing
    from workbench.search.index import Query

    results = indexing.open_index(context.edition).search(
        Query(" ".join(words), exact=exact, manuscript_id=manuscript_id, per_page=limit)
    )
    about = "" if results.exact_total else "about "
    click.echo(f"{about}{results.total} line(s)")
    for hit in results.hits:
        marked = hit.snippet.replace("<mark>", "[").replace("</mark>", "]")
        click.echo(f"{hit.manuscript_id} p.{hit.page_n} l.{hit.line_n}: {html.unescape(marked)}")


@cli.group()
def user() -> None:
    """Accounts for the web workbench (readers need none): transcriber, reviewer, editor, admin."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="editor", show_default=True)
@click.password_option(help="The password (asked for when not given; at least 8 characters).")
@pass_context
def user_add(context: Context, name: str, role: str, password: str) -> None:
    """Create an account."""
    _users(context).add(name, role, password, who=context.user)
    click.echo(f"{role} {name} added")


@user.command("disable")
@click.argument("name")
@pass_context
def user_disable(context: Context, name: str) -> None:
    """Disable an account: it loses access at its next request."""
    _users(context).set_disabled(name, True, who=context.user)
    click.echo(f"{name} disabled")


@user.command("enable")
@click.argument("name")
@pass_context
def user_enable(context: Context, name: str) -> None:
    """Enable a disabled account again."""
    _users(context).set_disabled(name, False, who=context.user)
    click.echo(f"{name} enabled")


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@pass_context
def user_role(context: Context, name: str, role: str) -> None:
    """Give an account another role (transcriber < reviewer < editor < admin); its sessions end."""
    _users(context).set_role(name, role, who=context.user)
    click.echo(f"{name} is now {role}")


@user.command("password")
@click.argument("name")
@click.password_option(help="The new password (asked for when not given; at least 8 characters).")
@pass_context
def user_password(context: Context, name: str, password: str) -> None:
    """Give an account a new password; its sessions end."""
    _users(context).set_password(name, password, who=context.user)
    click.echo(f"new password of {name} saved")


@user.command("unlock")
@click.argument("name")
@pass_context
def user_unlock(context: Context, name: str) -> None:
    """Let an account locked out by failed logins try again at once."""
    _users(context).unlock(name, who=context.user)
    click.echo(f"{name} unlocked")


@user.command("list")
@pass_context
def user_list(context: Context) -> None:
    """Accounts, their roles and whether they are disabled."""
    for account in _users(context).all():
        state = "disabled" if account.disabled else "active"
        click.echo(f"{account.name}\t{account.role}\t{state}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Use 0.0.0.0 to serve the library's network.")
@click.option("--port", default=5000, show_default=True)
@click.option("--threads", default=8, show_default=True)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes (gunicorn workers), each with --threads threads; they catch up with each "
    "other's saves from the changes log.",
)
@click.option(
    "--behind-proxy",
    is_flag=True,
    default=None,
    help="Behind a TLS reverse proxy on this machine: trust its X-Forwarded-For/-Proto/-Host "
    "(default: [server] behind_proxy in workbench.toml).",
)
@click.option(
    "--insecure-http",
    is_flag=True,
    help="Let logins work over plain HTTP (no TLS): a trial on a closed network only.",
)
@click.option(
    "--worker/--no-worker",
    "with_worker",
    default=True,
    show_default=True,
    help="Also run the queued jobs here (a `workbench worker` that stops with the server).",
)
@pass_context
def serve(
    context: Context,
    host: str,
    port: int,
    threads: int,
    processes: int,
    behind_proxy: bool | None,
    insecure_http: bool,
    with_worker: bool,
) -> None:
    """Serve the web workbench with gunicorn: one process (or --processes), several threads.

    One process keeps one validated copy of each manuscript in memory; saves of a
    manuscript are serialised anyway, and jobs wait in a queue and run in processes of their own
    (a `workbench worker` started with the server, unless --no-worker).
    Logins need HTTPS (the session cookie is Secure): serve behind a TLS reverse proxy
    (README), or use --insecure-http for a trial.
    """
    os.environ["WORKBENCH_EDITION"] = str(context.edition.root)
    options = {"behind_proxy": behind_proxy, "insecure_http": insecure_http or None}
    # gunicorn calls the factory with these literal arguments.
    factory = ", ".join(f"{name}={value!r}" for name, value in options.items() if value is not None)
    if insecure_http:
        click.secho(
            "WARNING: --insecure-http: passwords and session cookies travel unencrypted; anyone on this "
            "network can read them and act as the person logged in. Use it only for a trial on a closed "
            "network; serve behind HTTPS otherwise (README: Serving on a network).",
            fg="red",
            err=True,
        )
    click.echo(f"Serving {context.edition.root} on http://{'localhost' if host == '127.0.0.1' else host}:{port}/")
    if with_worker:
        from workbench import queue

        # Started before exec: gunicorn keeps this process's pid, which the worker watches.
        queue.start_worker_process(context.edition.root)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    os.execv(
        gunicorn,
        [
            str(gunicorn),
            "--workers",
            str(processes),
            "--threads",
            str(threads),
            "--bind",
            f"{host}:{port}",
            "--access-logfile",
            "-",
            f"workbench.web:create_app({factory})",
        ],
    )


def _users(context: Context):
    from workbench.users import Users

    return Users.of(context.edition)


def _report_result(edition: Edition, manuscript_id: str) -> None:
    path = edition.tei_path(manuscript_id)
    click.echo(f"TEI: {path} (valid against schemas/workbench.rng; `workbench validate {manuscript_id}` adds tei_all)")


class _progress:
    """Pages done / total and the page being worked on: a bar on a terminal, a line per page in a log."""

    def __init__(self, total: int, label: str):
        self.total, self.done, self.label = total, 0, label
        self.interactive = sys.stderr.isatty()
        self.bar = click.progressbar(
            length=total,
            label=label,
            show_pos=True,
            # Before the first page is done (loading kraken takes a while), say so.
            item_show_func=lambda item: item or "loading the model, starting on the first page(s)",
            file=sys.stderr,
        )

    def __enter__(self):
        if self.interactive:
            self.bar.__enter__()
            # Draw the empty bar now: the first page takes the longest (model loading).
            self.bar.render_progress()
        return self.update

    def update(self, outcome: pipeline.PageOutcome) -> None:
        self.done += 1
        working = f", working on page {', '.join(outcome.working_on)}" if outcome.working_on else ""
        message = f"page {outcome.page} ({outcome.image}) done{working}"
        if self.interactive:
            self.bar.update(1, message)
        else:
            click.echo(f"{self.label}: {self.done}/{self.total}, {message}", err=True)

    def __exit__(self, *exc) -> None:
        if self.interactive:
            self.bar.__exit__(*exc)


@cli.group()
def bibliography() -> None:
    """The edition's bibliography (tei/bibliography.xml): import and export records."""


@bibliography.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "file_format", type=click.Choice(bibliographic.FORMATS), help="Default: from the file.")
@click.option(
    "--type",
    "entry_type",
    type=click.Choice(TYPES),
    default="work",
    show_default=True,
    help="What the records are (a record with a translator is a translation, one whose subject is "
    "the author a writing about him, whatever this says).",
)
@click.option(
    "--author",
    "author_key",
    metavar="KEY",
    help="The register key of the person whose bibliography it is (default: the one person the "
    "bibliography's works and translations name, else the register's only person).",
)
@click.option("--yes", is_flag=True, help="Add the new records without asking.")
@pass_context
def bibliography_import(
    context: Context, source: Path, file_format: str | None, entry_type: str, author_key: str | None, yes: bool
) -> None:
    """Read MARC 21 (binary or MARCXML), RIS or BibTeX records, show what would be added
    and what the bibliography has already (in any spelling), then add the new ones."""
    data = source.read_bytes()
    file_format = file_format or bibliographic.guess_format(source, data)
    author = _bibliography_author(context.edition, author_key)
    if author is None:
        click.secho(
            "Writings about the author are not recognised: the register has several people; "
            "name him with --author KEY.",
            fg="yellow",
        )
    names = author.names() if author else []
    records = bibliographic.read(data, file_format, source.name, default_type=entry_type, author=names)
    book = Bibliography(context.edition)
    preview = bibliographic.preview(book, records)
    for entry in preview.new:
        click.echo(f"new: {_entry_line(entry)}")
    for record, existing in preview.duplicates:
        click.secho(f"already there as {existing.id}: {_entry_line(record)}", fg="yellow")
    if not preview.new:
        click.echo("Nothing to add.")
        return
    if not yes and not click.confirm(f"Add {len(preview.new)} entr{'y' if len(preview.new) == 1 else 'ies'}?"):
        click.echo("Nothing was added.")
        return
    added = book.add(preview.new, context.user)
    click.echo(f"Added {len(added)} entr{'y' if len(added) == 1 else 'ies'}: {', '.join(e.id for e in added)}")


@bibliography.command("export")
@click.option("--format", "file_format", type=click.Choice(bibliographic.EXPORT_FORMATS), required=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Default: standard output.")
@pass_context
def bibliography_export(context: Context, file_format: str, output: Path | None) -> None:
    """Write every entry as CSL-JSON, RIS, BibTeX or MARCXML."""
    data = bibliographic.export(Bibliography(context.edition).entries(), file_format)
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        write_atomically(output, data)
        click.echo(f"wrote {output}", err=True)


@cli.group()
def register() -> None:
    """The edition's registers of people and places (tei/register.xml)."""


@register.command("add")
@click.argument("kind", type=click.Choice(["person", "place"]))
@click.argument("key")
@click.argument("name")
@click.option("--old", "name_original", help="The name in the old spelling, as the sources write it.")
@click.option("--latin", "name_latin", help="The name in Latin letters.")
@click.option("--note", help="A short biography, or what the place is.")
@click.option("--born", "birth", help="Date of birth: 1866, 1866-10 or 1866-10-05.")
@click.option("--died", "death", help="Date of death.")
@click.option("--born-in", "birth_place", help="The register key of the place of birth.")
@click.option("--died-in", "death_place", help="The register key of the place of death.")
@click.option(
    "--id", "identifiers", multiple=True, help=f"AUTHORITY=NUMBER, AUTHORITY one of {', '.join(IDENTIFIERS)}."
)
@click.option("--source", "sources", multiple=True, help="Where the facts come from (a citation; repeatable).")
@pass_context
def register_add(
    context: Context, kind: str, key: str, name: str, identifiers: tuple[str, ...], sources, **fields
) -> None:
    """Add a person or a place under KEY (what a line's {@name|KEY} points at)."""
    pairs = [identifier.partition("=") for identifier in identifiers]
    if any(not sep for _, sep, _ in pairs):
        raise click.BadParameter("write identifiers as AUTHORITY=NUMBER, e.g. Wikidata=Q42", param_hint="--id")
    entity = Entity(
        key=key,
        name=name,
        kind=kind,
        identifiers={authority: number for authority, _, number in pairs},
        sources=[Source(text) for text in sources],
        **fields,
    )
    try:
        added = Register(context.edition).add(entity, context.user)
    except BadEntity as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Added {added.kind} {added.key}: {added.name}")


@register.command("list")
@click.option("--kind", type=click.Choice(["person", "place"]))
@pass_context
def register_list(context: Context, kind: str | None) -> None:
    """Each entry's key, kind and names (modern spelling first)."""
    for entity in Register(context.edition).entities(kind):
        click.echo(f"{entity.key}\t{entity.kind}\t{' / '.join(entity.names())}")


def _entry_line(entry) -> str:
    who = "; ".join(person.name for person in entry.authors)
    line = " — ".join(part for part in (who, entry.title, str(entry.year or "")) if part)
    return f"{line} (about the author)" if entry.type == "about" else line


def _bibliography_author(edition: Edition, key: str | None) -> Entity | None:
    """The person whose bibliography this is: ``key``, else the one person the bibliography
    names as author of a work or translator of a translation, else the register's one
    person; None where that leaves several (or nobody: then nothing is about anyone)."""
    register = Register(edition)
    if key:
        return register.get(key, "person")
    people = register.entities("person")
    if not people:
        return Entity(key="", name="")  # an empty register: no names, nobody to write about
    by_them = {
        person.ref
        for entry in Bibliography(edition).entries()
        for person in (entry.translators if entry.type == "translation" else entry.authors)
        if entry.type in ("work", "translation")
    }
    named = [person for person in people if person.ref in by_them]
    candidates = named or people
    return candidates[0] if len(candidates) == 1 else None
