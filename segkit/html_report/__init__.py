"""The HTML report: OUT/report.html, one static page a user opens in a browser, offline.

    model.py        the page's data, typed: the inline index, the row chunks and the mask chunks
    page_writer.py  PageWriter: image records in (one at a time, any order), chunks and the page out
    tallies.py      what the writer keeps of every detection: histograms, the worst few
    plots.py        the plots, as inline SVG (matplotlib), from those counts
    palette.py      the colours the page draws masks in
    page.py         the HTML: template, style and script from static/, the index embedded, a strict CSP
    writer.py       write_html_report(OUT): the page rebuilt from an output folder's records

The pictures are made earlier, as each image finishes (segkit.outputs.previews): one JPEG per image and
its masks at that scale in the image record; static/report.js draws overlays and thumbnails from them.
"""

from segkit.html_report.page_writer import HtmlReportError, PageSettings, PageWriter
from segkit.html_report.writer import write_html_report

__all__ = ["HtmlReportError", "PageSettings", "PageWriter", "write_html_report"]
