"""`segkit export`: an output folder's masks as a dataset that a training or labelling tool loads as it is.

    job.py          ExportJob -> export_job(): the library call (`segkit export` only turns flags into one)
    source.py       reading the output folder image by image: the chosen backends' masks, their labels
    filters.py      what makes a dataset worth training on: classes, --min-score, quality flags, --agree, the split
    polygons.py     masks as polygons (supervision), a mask in several pieces as ONE polygon
    target.py       the dataset folder: its manifest, what is already written (resume), what is not ours
    formats/        one writer per format: yolo_seg.py, coco.py, labelstudio.py, cvat.py
    libraries.py    the optional libraries of ``segkit[export]``, imported only when an export runs

Every image is read, filtered and written on its own (one image's masks in memory at a time per worker);
the formats that are one file (COCO JSON, Label Studio tasks) are assembled at the end by streaming the
per-image parts, so memory stays bounded on 100k images.
"""
