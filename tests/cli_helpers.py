"""Helpers shared by segkit's own tests (tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from segkit.cli import app


def write_qwen(path: Path, detections: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"detections": detections}, ensure_ascii=False), encoding="utf-8")
    return path


def qwen_det(box_px, size, label="thing", confidence=0.9) -> dict:
    w, h = size
    x1, y1, x2, y2 = box_px
    return {"bbox_xyxy_norm": [x1 / w, y1 / h, x2 / w, y2 / h], "label_ja": label, "confidence": confidence}


def write_rgb(path: Path, size=(64, 48), seed=0) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return rgb


class Cli:
    def __init__(self, root: Path):
        self.root = root
        self.images = root / "images"
        self.dets = root / "dets"
        self.out = root / "out"
        self.images.mkdir()
        self.dets.mkdir()

    def __call__(self, *args: str, env: dict | None = None):
        return CliRunner().invoke(app, [str(a) for a in args], env=env)

    def run(self, *backends: str, extra=(), env=None):
        args = ["run", "--images", self.images, "--detections", self.dets, "--out", self.out, "--conf", "0"]
        for b in backends:
            args += ["--backend", b]
        return self(*args, *extra, env=env)

    def record(self, stem: str) -> dict:
        return json.loads((self.out / "json" / f"{stem}.json").read_text(encoding="utf-8"))
