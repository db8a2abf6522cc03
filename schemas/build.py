"""Rebuild workbench.rng from the ODD source workbench.odd.

Needs saxonche (``pip install saxonche``) and a checkout of the TEI Consortium's
Stylesheets (https://github.com/TEIC/Stylesheets, tag v7.57.0); neither is needed
to run the workbench, only to change the schema. Usage:

    python schemas/build.py --stylesheets ../Stylesheets

It runs TEI's own pipeline: odds/odd2odd.xsl (expands the ODD against
p5subset.xml, TEI P5 4.8.0) then odds/odd2relax.xsl.
"""

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(stylesheets: Path, odd: Path, out: Path) -> None:
    from saxonche import PySaxonProcessor

    with PySaxonProcessor(license=False) as proc, tempfile.TemporaryDirectory() as tmp:
        xslt = proc.new_xslt30_processor()
        compiled = Path(tmp) / "compiled.odd"
        odd2odd = xslt.compile_stylesheet(stylesheet_file=str(stylesheets / "odds/odd2odd.xsl"))
        odd2odd.set_parameter("defaultSource", proc.make_string_value((HERE / "p5subset.xml").as_uri()))
        odd2odd.transform_to_file(source_file=str(odd), output_file=str(compiled))
        odd2relax = xslt.compile_stylesheet(stylesheet_file=str(stylesheets / "odds/odd2relax.xsl"))
        odd2relax.transform_to_file(source_file=str(compiled), output_file=str(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stylesheets", type=Path, required=True, help="checkout of TEIC/Stylesheets")
    parser.add_argument("--odd", type=Path, default=HERE / "workbench.odd")
    parser.add_argument("--out", type=Path, default=HERE / "workbench.rng")
    args = parser.parse_args()
    build(args.stylesheets.resolve(), args.odd.resolve(), args.out.resolve())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
