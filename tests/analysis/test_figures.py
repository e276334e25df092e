"""The analysis figures: their formats (parsed, not only named), shared panel ranges, titles and colours."""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from kdlab.analysis import write_analysis
from kdlab.analysis.figures import STEMS, dissection_figure, evolution_figure, main_figure
from kdlab.analysis.runs import run_label
from kdlab.errors import ConfigError
from kdlab.plotting import FigureFormat, figure_grid, plt

SRC = Path(__file__).parents[2] / "src" / "kdlab"
SVG = "{http://www.w3.org/2000/svg}"


def pdf_structure(data: bytes) -> dict:
    """Parse a PDF's frame: header, the cross-reference table startxref points at, every object it
    lists found at its offset, and the page tree from the trailer's /Root. Raises AssertionError."""
    assert data.startswith(b"%PDF-1."), data[:16]
    assert data.rstrip().endswith(b"%%EOF")
    start = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))
    assert data[start:start + 4] == b"xref"
    head = re.compile(rb"xref\s+(\d+)\s+(\d+)\s+").match(data, start)
    first, count = int(head.group(1)), int(head.group(2))
    entries = re.findall(rb"(\d{10}) (\d{5}) ([nf])", data[head.end():head.end() + 20 * count])
    assert len(entries) == count
    objects = {}
    for num, (offset, _, kind) in enumerate(entries, start=first):
        if kind == b"n":
            at = int(offset)
            assert re.compile(rb"%d 0 obj" % num).match(data, at), f"object {num} is not at its offset {at}"
            objects[num] = at
    trailer = data[data.index(b"trailer", start):]
    root = int(re.search(rb"/Root (\d+) 0 R", trailer).group(1))

    def body(num: int) -> bytes:
        return data[objects[num]:data.index(b"endobj", objects[num])]

    assert b"/Type /Catalog" in body(root)
    pages = int(re.search(rb"/Pages (\d+) 0 R", body(root)).group(1))
    return {"objects": len(objects), "pages": int(re.search(rb"/Count (\d+)", body(pages)).group(1))}


def test_write_analysis_as_pdf_and_svg(pair, tmp_path):
    teacher, student = pair
    for fmt in ("pdf", "svg"):
        written = write_analysis(teacher, student, out=tmp_path / fmt, figure_format=FigureFormat(fmt, dpi=200))
        assert [p.name for p in written.figures] == [f"{stem}.{fmt}" for stem in STEMS]
        assert written.figure_format == FigureFormat(fmt, 200) and written.report == tmp_path / fmt / "deviations.json"
        for path in written.figures:
            data = path.read_bytes()
            if fmt == "svg":
                root = ET.fromstring(data)
                assert root.tag == f"{SVG}svg"
                # svg.fonttype none: titles are text a journal's editor can change, not glyph outlines
                texts = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
                assert "student (mlp)" in texts and "teacher (mlp)" in texts, path.name
            else:
                pdf = pdf_structure(data)
                assert pdf["pages"] == 1 and pdf["objects"] > 5
                # pdf.fonttype 42: the fonts are embedded TrueType (text stays text)
                assert b"/FontFile2" in data, path.name
    assert not list((tmp_path / "pdf").glob("*.png"))


def test_pdf_check_rejects_a_damaged_file(pair, tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.savefig(tmp_path / "f.pdf")
    plt.close(fig)
    data = (tmp_path / "f.pdf").read_bytes()
    pdf_structure(data)
    with pytest.raises(AssertionError):
        pdf_structure(data[:-200] + data[-150:])  # fifty bytes gone: the offsets point elsewhere


def _panels(fig):
    return [ax for ax in fig.axes if ax.axison]


def test_evolution_panels_share_one_range(analysis):
    fig = evolution_figure(analysis)
    panels = _panels(fig)
    assert len(panels) == len(analysis.evolution) == 3
    limits = {(ax.get_xlim(), ax.get_ylim()) for ax in panels}
    assert len(limits) == 1
    (x_lim, y_lim), = limits
    assert x_lim == y_lim  # X and Y are both phi of a probability: one square range
    values = np.concatenate([np.concatenate([d.x, d.y]) for _, d in analysis.evolution])
    assert x_lim[0] <= values.min() and values.max() <= x_lim[1]
    # each step's own range differs, so the shared one is not an accident of the data
    own = {(float(d.y.min()), float(d.y.max())) for _, d in analysis.evolution}
    assert len(own) == 3
    assert [ax.get_title().split(":")[0] for ax in panels] == ["student step 4", "student step 8", "student step 12"]
    plt.close(fig)


def test_dissection_panels_share_one_range(analysis):
    fig = dissection_figure(analysis)
    panels = _panels(fig)
    assert len(panels) == 4
    assert len({(ax.get_xlim(), ax.get_ylim()) for ax in panels}) == 1
    d = analysis.splits["test"]
    lo, hi = panels[0].get_xlim()
    assert lo <= min(d.x.min(), d.y.min()) and max(d.x.max(), d.y.max()) <= hi
    assert "test points by who is right against the original labels" in fig._suptitle.get_text()
    plt.close(fig)


def test_titles_name_the_runs_and_models(pair, analysis, tmp_path):
    assert analysis.pair_title == "student (mlp) against teacher (mlp), student step 12"
    fig = main_figure(analysis)
    assert fig._suptitle.get_text() == analysis.pair_title
    plt.close(fig)
    fig = evolution_figure(analysis)
    assert fig._suptitle.get_text().startswith("student (mlp) over its training against teacher (mlp) at its step 12")
    plt.close(fig)
    assert run_label(tmp_path) == tmp_path.name  # no stored config: the folder's name


def test_shared_grid_keeps_x_labels_above_an_empty_panel():
    fig, axes = figure_grid(5, cols=4, share=True)
    fig.canvas.draw()
    shown = [ax.xaxis.get_major_ticks()[0].label1.get_visible() for ax in axes[:5]]
    # row 1: only the panel with one below it hides its labels; row 2: the one panel shows them
    assert shown == [False, True, True, True, True]
    assert not any(ax.axison for ax in axes[5:])
    plt.close(fig)


def test_figure_format_mistakes_are_one_line():
    with pytest.raises(ConfigError, match="figure format 'jpg' is not one of png, pdf, svg"):
        FigureFormat("jpg")
    with pytest.raises(ConfigError, match="dpi"):
        FigureFormat("png", 0)


@pytest.mark.parametrize("module", ["analysis/figures.py", "reports/c4.py", "reports/c5.py", "reports/complexity.py",
                                    "reports/eigenspace.py", "reports/gradient_space.py"])
def test_figures_use_the_named_colours(module):
    """Colours come from kdlab.plotting's roles: no matplotlib names ('tab:blue'), cycle slots ('C0'),
    single letters ('k') or maps outside the style (a red-green 'RdYlGn' is what this replaced)."""
    source = (SRC / module).read_text()
    literals = re.findall(r"""\b(?:color|c|cmap)\s*=\s*(f?["'][^"']*["'])""", source)
    formats = re.findall(r"""["']([a-z]?--?|[a-z]?[o*s]-?)["']""", source)  # "k--" and the like set a colour too
    assert not [s for s in literals if s not in ('"white"', '"black"')], literals
    assert not [f for f in formats if f[:1].isalpha() and f[:1] not in "os"], formats
    assert not re.search(r"""["'](tab:\w+|C\d)["']|cmap=["'](?!cividis)""", source)
