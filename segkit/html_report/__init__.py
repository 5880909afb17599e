"""The HTML report: OUT/report.html, one static page a user opens in a browser, offline.

    assets.py   the pictures under OUT/html/ (image copies, mask overlays, thumbnails), made once and reused
    plots.py    the plots, as inline SVG (matplotlib)
    data.py     what the page shows, as one JSON document (report.json, eval.json, the image records)
    ground_truth.py  reading what `segkit eval` wrote
    page.py     the HTML: template, style and script from static/, the data embedded, a strict CSP
    writer.py   write_html_report(OUT): all of the above
"""

from segkit.html_report.writer import write_html_report

__all__ = ["write_html_report"]
