"""`segkit run` on hostile and oversized input (issue 11): every bad input fails alone, in one line.

Kinds: (1) a detection file that breaks its reader, (2) unbounded sizes, (3) labels and file names that
look like markup or terminal control, (5) numbers that are not numbers, (7) settings and secrets.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb

import segkit
import segkit.plugins.host
from segkit.cli import main
from segkit.inputs.detection_files import DROPPED_FIELDS_KEY
from segkit.inputs.readers.base import DetectionReader
from segkit.plugins.host import PluginHost, get_host

ROOT = Path(__file__).resolve().parents[1]
SIZE = (64, 48)
BOX = (8, 6, 40, 30)
RAW_CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e", "\r")


def strict_json(path: Path):
    """Parse as other tools do: NaN and Infinity are not JSON."""
    def refuse(name):
        raise ValueError(f"{path}: {name} is not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def one_error_line(output: str) -> str:
    assert output.startswith("error: ") and output.count("\n") == 1, output
    assert "Traceback" not in output and "╭" not in output
    return output


def header_only_png(width: int, height: int) -> bytes:
    """A PNG whose header says width x height and which holds no pixel data at all."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.fixture
def good(cli):
    write_rgb(cli.images / "good.png", SIZE)
    write_qwen(cli.dets / "good.json", [qwen_det(BOX, SIZE, "cup")])
    return cli


# -- kind 1: one detection file never stops the run ------------------------------------------------


def test_a_deep_array_or_a_5000_digit_number_fails_only_its_image(good):
    cli = good
    for stem in ("deep", "digits"):
        write_rgb(cli.images / f"{stem}.png", SIZE)
    (cli.dets / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (cli.dets / "digits.json").write_text('{"detections": [{"bbox_xyxy_norm": [0, 0, ' + "1" * 5000 + ", 1]}]}")
    result = cli.run("mock")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "deep.json: JSON nested too deeply to read" in result.output
    assert "digits.json: JSON that cannot be read (Exceeds the limit (4300 digits)" in result.output
    assert cli.record("good")["detections"][0]["label"] == "cup"
    failures = strict_json(cli.out / "failures.json")
    assert sorted(f["image"] for f in failures) == ["deep.png", "digits.png"]
    assert all(len(f["error"]) < 400 for f in failures)


class BrokenReader(DetectionReader):
    """A plugin's reader that fails in its own way on files whose name says so."""

    name = "brittle"
    suffixes = (".brittle",)

    def parse(self, text, path):
        if "parse" in path.stem:
            raise KeyError("parser state")
        return text

    def sniff(self, data, path):
        if "sniff" in path.stem:
            raise AttributeError("sniffer")
        return True

    def read(self, data, path, context):
        if "read" in path.stem:
            raise ZeroDivisionError("reader bug")
        if "returns" in path.stem:
            return [1, 2, 3]
        return {path.stem: []}


@pytest.fixture
def brittle_plugin():
    class Plugin:
        @staticmethod
        @segkit.hookimpl
        def register_detection_readers(register):
            register(BrokenReader)

    host = get_host()
    host.register(Plugin, name="brittle-plugin")
    yield
    host.unregister("brittle-plugin")


def test_anything_a_plugin_reader_raises_fails_only_that_file(good, brittle_plugin):
    cli = good
    stems = ("in-parse", "in-sniff", "in-read", "returns-junk", "fine")
    for stem in stems:
        write_rgb(cli.images / f"{stem}.png", SIZE)
        (cli.dets / f"{stem}.brittle").write_text("anything")
    result = cli.run("mock")
    assert result.exit_code == 1 and "Traceback" not in result.output
    out = " ".join(result.output.split())
    assert "in-parse.brittle: the brittle reader failed parsing it (KeyError: 'parser state')" in out
    assert "in-sniff.brittle: the brittle reader failed sniffing it (AttributeError: sniffer)" in out
    assert "in-read.brittle: the brittle reader failed reading it (ZeroDivisionError: reader bug)" in out
    assert "returns-junk.brittle: the brittle reader returned [1, 2, 3], not detections per image" in out
    failed = sorted(f["image"] for f in strict_json(cli.out / "failures.json"))
    assert failed == ["in-parse.png", "in-read.png", "in-sniff.png", "returns-junk.png"]
    assert (cli.out / "json" / "fine.json").is_file() and (cli.out / "json" / "good.json").is_file()


def test_a_single_detection_file_that_cannot_be_read_is_one_error_line(good):
    cli = good
    coco = cli.root / "all.json"
    coco.write_text('[{"image_id": 1, "bbox": [1, 2, 3, 4], "score": ' + "[" * 100_000)
    result = cli("run", "-b", "mock", "-i", cli.images, "-d", coco, "-o", cli.out)
    assert result.exit_code == 2
    assert one_error_line(result.output).startswith(f"error: {coco}: JSON nested too deeply to read")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_a_device_as_detections_is_refused_unread(good, kind):
    """In a subprocess with a timeout: reading a FIFO without a writer would wait forever."""
    cli = good
    if kind == "fifo":
        source = cli.root / "boxes.json"
        os.mkfifo(source)
        expected = f"error: {source} is a FIFO (named pipe), not a detection file"
    else:
        source = Path("/dev/zero")
        expected = "error: /dev/zero is a character device, not a detection file"
    args = ["run", "-b", "mock", "-i", str(cli.images), "-d", str(source), "-o", str(cli.out)]
    done = subprocess.run([sys.executable, "-m", "segkit", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert one_error_line(done.stderr).startswith(expected) and done.stdout == ""


def test_a_detection_file_above_the_size_limit_fails_unread(good):
    cli = good
    write_rgb(cli.images / "huge.png", SIZE)
    with open(cli.dets / "huge.json", "wb") as handle:
        handle.truncate(65 * 2**20)  # sparse: 65 MiB that take no disk and are never read
    write_rgb(cli.images / "big.png", SIZE)
    write_qwen(cli.dets / "big.json", [qwen_det(BOX, SIZE, "x" * 100)] * 20)
    config = cli.root / "limits.yaml"
    config.write_text("limits:\n  max_detection_file_bytes: 2KiB\n")
    result = cli.run("mock")
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and "huge.json is 65.0MiB, above the limit of 64.0MiB for a detection file" in out
    assert (cli.out / "json" / "big.json").is_file()
    result = cli.run("mock", extra=["--config", config, "--force"])
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and f"{cli.dets / 'big.json'} is 3.6KiB, above the limit of 2.0KiB for a detection file" in out
    assert "split it, or raise limits.max_detection_file_bytes in the config" in out


# -- kind 2: sizes bounded by settings -------------------------------------------------------------


def test_an_image_above_the_pixel_limit_is_refused_before_decoding(good):
    cli = good
    (cli.images / "bomb.png").write_bytes(header_only_png(12000, 12000))  # 12000x12000 in 57 bytes
    write_qwen(cli.dets / "bomb.json", [qwen_det(BOX, SIZE)])
    result = cli.run("mock")
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "bomb.png is 12000x12000 (144.0 megapixels), above the limit of 64.0 megapixels" in out
    assert "raise limits.max_image_pixels in the config" in out
    assert (cli.out / "json" / "good.json").is_file()
    config = cli.root / "limits.yaml"
    config.write_text("limits:\n  max_image_pixels: 3000\n")  # the 64x48 image has 3072
    result = cli.run("mock", extra=["--force", "--config", config])
    assert "good.png is 64x48 (0.0 megapixels), above the limit of 0.0 megapixels" in " ".join(result.output.split())


def test_the_pixel_limit_is_segkits_setting_not_pillows(tmp_path):
    from segkit.errors import ImageFailed
    from segkit.inputs.images import load_rgb

    path = tmp_path / "big.png"
    path.write_bytes(header_only_png(10000, 10000))  # 100 MP: Pillow alone would warn, then refuse at 179 MP
    with pytest.raises(ImageFailed, match="above the limit of 64.0 megapixels"):
        load_rgb(path)
    with pytest.raises(ImageFailed) as caught:  # allowed: decoding starts, and finds no pixel data
        load_rgb(path, max_pixels=200_000_000)
    assert "megapixels" not in str(caught.value) and "bomb" not in str(caught.value).lower()


def test_the_default_config_documents_every_limit():
    from segkit.config import LimitSettings, load_settings

    documented = load_settings(ROOT / "configs" / "default.yaml").limits
    assert documented == LimitSettings()
    assert set(LimitSettings.model_fields) <= set((ROOT / "configs" / "default.yaml").read_text().split("limits:")[1].replace(":", " ").split())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"`limits.{name}`" in readme for name in LimitSettings.model_fields)


def test_huge_fields_and_labels_are_bounded_and_marked(good):
    cli = good
    det = qwen_det(BOX, SIZE, "L" * 5000)
    det.update(notes="n" * 1_000_000, extra={"k": 1}, more=[1.5, 2.5])
    write_rgb(cli.images / "fat.png", SIZE)
    write_qwen(cli.dets / "fat.json", [det] * 3)
    result = cli.run("mock")
    assert result.exit_code == 0, result.output
    record = cli.record("fat")
    for entry in record["detections"]:
        assert entry["label"] == "L" * 199 + "…"
        source = entry["source"]
        assert source["extra"] == {"k": 1} and source["more"] == [1.5, 2.5]
        assert source["label_ja"] == "L" * 5000  # the original label, within the 16 KiB of fields
        assert "notes" not in source and source[DROPPED_FIELDS_KEY]["fields"] == 1
        assert source[DROPPED_FIELDS_KEY]["names"] == ["notes"]
    sizes = [p.stat().st_size for p in cli.out.rglob("*.json")]
    assert max(sizes) < 100_000
    assert len(record["detections"][0]["label"]) == 200


def test_a_huge_bad_value_is_shown_as_a_short_preview(good):
    cli = good
    write_rgb(cli.images / "bad.png", SIZE)
    write_qwen(cli.dets / "bad.json", [{"bbox_xyxy_norm": ["9" * 100_000, 0, 1, 1]}])
    write_rgb(cli.images / "list.png", SIZE)
    write_qwen(cli.dets / "list.json", [{"bbox_xyxy_norm": list(range(100_000))}])
    result = cli.run("mock")
    assert result.exit_code == 1 and len(result.output) < 3000
    errors = {f["image"]: f["error"] for f in strict_json(cli.out / "failures.json")}
    assert "detection 0 bbox_xyxy_norm is [0, 1, 2, 3, 4, 5, ...], expected a list of 4 numbers" in errors["list.png"]
    assert all(len(e) < 400 for e in errors.values())


# -- kind 3: labels and file names are data ---------------------------------------------------------

NASTY_LABELS = ["[/]", "[bold red]loud", "\x1b]0;pwned\x07title", "two\nlines", "\x1b[2J\x9b31mclear", "rtl\u202eexe.txt"]
NASTY_STEM = "evil\x1b]0;pwned\x07[bold red]\nname"  # no "/": it would be a folder


def assert_no_raw_controls(text: str) -> None:
    for char in RAW_CONTROLS:
        assert char not in text, f"{char!r} reached the terminal"
    for label in NASTY_LABELS + [NASTY_STEM]:
        if "\n" in label:
            assert label not in text


def test_markup_and_control_characters_in_labels_and_names_never_reach_the_terminal(cli):
    write_rgb(cli.images / "plain.png", SIZE)
    dets = [qwen_det(BOX, SIZE, label) for label in NASTY_LABELS]
    dets.append(qwen_det((8, 6, 8, 30), SIZE, "[/]flat\x1b]0;x\x07"))  # no area: a warning with its label
    write_qwen(cli.dets / "plain.json", dets)
    write_rgb(cli.images / f"{NASTY_STEM}.png", SIZE)  # a file name with ESC, OSC, markup and a newline
    write_qwen(cli.dets / f"{NASTY_STEM}.json", [qwen_det(BOX, SIZE, "[bold red]x")])
    write_rgb(cli.images / f"{NASTY_STEM}2.png", SIZE)
    (cli.dets / f"{NASTY_STEM}2.json").write_text("{broken")  # its failure line names the file
    result = cli.run("mock", "mock-ellipse", extra=["--worst", "20"])
    out = result.output
    assert result.exit_code == 1 and "Traceback" not in out and "MarkupError" not in out
    assert_no_raw_controls(out)
    assert "[bold red]loud" in out and "[/]" in out  # shown literally, not applied
    assert "\\x1b]0;pwned\\x07title" in out and "two\\nlines" in out  # shown as escapes
    assert "evil\\x1b]0;pwned\\x07[bold red]\\nname2.json: not valid JSON" in " ".join(out.split())
    assert "warning: plain.png: detection 6 ([/]flat\\x1b]0;x\\x07) skipped" in " ".join(out.split())
    # the JSON keeps the original text
    assert [d["label"] for d in cli.record("plain")["detections"]] == NASTY_LABELS
    named = cli.record(NASTY_STEM)
    assert named["image"] == f"{NASTY_STEM}.png" and named["detections"][0]["label"] == "[bold red]x"
    assert (cli.out / named["panel"]).is_file()  # a newline in the name no longer fails the image
    failures = strict_json(cli.out / "failures.json")
    assert [f["image"] for f in failures] == [f"{NASTY_STEM}2.png"]
    report = strict_json(cli.out / "report.json")
    assert {e["label"] for e in report["labels"]} >= set(NASTY_LABELS)


class Shady(segkit.Segmenter):
    """[bold red]shady\x1b]0;pwned\x07 backend"""

    def check_ready(self):
        return segkit.Readiness.missing("[/] needs \x1b[2Jnothing\nat all, see https://user:pw@example.com/")

    def segment(self, image, boxes):
        raise segkit.ImageFailed("never")


def test_the_backends_and_plugins_listings_print_plugin_text_as_data(cli):
    class Plugin:
        @staticmethod
        @segkit.hookimpl
        def register_segmenters(register):
            register("shady", Shady, aliases=("sh[/]ady",))

    host = get_host()
    host.register(Plugin, name="shady[/]\x1b]0;pwned\x07plugin")
    try:
        listing = cli("backends")
        plugins = cli("plugins")
        as_json = cli("backends", "--json")
    finally:
        host.unregister("shady[/]\x1b]0;pwned\x07plugin")
    for result in (listing, plugins, as_json):
        assert result.exit_code == 0, result.output
        assert_no_raw_controls(result.output)
        assert "pw@" not in result.output
    assert "[/] needs" in listing.output and "\\x1b[2Jnothing\\nat" in listing.output  # the cell wraps after these
    assert "shady[/]\\x1b]0;pwne" in plugins.output  # the cell wraps after it
    row = next(r for r in json.loads(as_json.output)["backends"] if r["name"] == "shady")
    assert row["reason"] == "[/] needs \x1b[2Jnothing\nat all, see https://user:***@example.com/"


# -- kind 5: numbers that are not numbers ----------------------------------------------------------


def test_nan_and_infinite_confidences_are_skipped_with_a_reason_and_outputs_are_strict_json(cli):
    write_rgb(cli.images / "q.png", SIZE)
    (cli.dets / "q.json").write_text(
        '{"detections": ['
        '{"bbox_xyxy_norm": [0.1, 0.1, 0.5, 0.5], "label": "nan", "confidence": NaN},'
        '{"bbox_xyxy_norm": [0.1, 0.1, 0.5, 0.5], "label": "inf", "confidence": Infinity},'
        '{"bbox_xyxy_norm": [0.1, 0.1, 0.5, 0.5], "label": "text-nan", "confidence": "nan"},'
        '{"bbox_xyxy_norm": [NaN, 0.1, 0.5, 0.5], "label": "nan-box", "confidence": 0.9},'
        '{"bbox_xyxy_norm": [0.1, 0.1, 1e999, 0.5], "label": "inf-box", "confidence": 0.9},'
        '{"bbox_xyxy_norm": [0.1, 0.1, 0.5, 0.5], "label": "kept", "confidence": 0.9, "area": -Infinity}]}'
    )
    write_rgb(cli.images / "1.png", SIZE)
    coco = cli.root / "coco.json"
    coco.write_text('[{"image_id": 1, "bbox": [1, 2, 30, 20], "score": -Infinity, "category_id": 1},'
                    ' {"image_id": 1, "bbox": [1, 2, 30, 20], "score": 0.8, "category_id": 2}]')
    result = cli("run", "-b", "mock", "-i", cli.images, "-d", cli.dets, "-o", cli.out, "--conf", "0.5")
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    for label, value in (("nan", "nan"), ("inf", "inf"), ("text-nan", "nan")):
        assert f"detection {['nan', 'inf', 'text-nan'].index(label)} ({label}) skipped: its confidence is {value}, not a number" in out
    record = strict_json(cli.out / "json" / "q.json")
    assert [d["label"] for d in record["detections"]] == ["kept"]
    assert record["detections"][0]["source"]["area"] is None
    assert sorted(s["label"] for s in record["skipped"]) == ["inf", "inf-box", "nan", "nan-box", "text-nan"]
    for path in cli.out.rglob("*.json"):
        strict_json(path)
    coco_out = cli.root / "coco-out"
    assert cli("run", "-b", "mock", "-i", cli.images, "-d", coco, "-o", coco_out, "--conf", "0.5").exit_code == 0
    assert [d["label"] for d in strict_json(coco_out / "json" / "1.json")["detections"]] == ["class_2"]


# -- kind 7: settings and secrets ------------------------------------------------------------------


def test_an_unknown_options_family_is_an_error_with_a_did_you_mean(good):
    cli = good
    result = cli.run("mock", extra=["-O", "grabcutt.iterations=9"])
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert "unknown options family 'grabcutt' (-O grabcutt.iterations=…); did you mean 'grabcut'?" in line
    assert "known families: " in line and "mock" in line
    config = cli.root / "typo.yaml"
    config.write_text("options:\n  sam2:\n    device: cpu\n  mokc:\n    latency_ms: 1\n")
    result = cli.run("mock", extra=["--config", config])
    assert result.exit_code == 2
    assert "unknown options family 'mokc' (options.mokc in the config); did you mean 'mock'?" in one_error_line(result.output)
    assert cli("backends", "-O", "nothing.x=1").exit_code == 2


def test_the_default_config_runs_with_only_the_core_and_grabcut_installed(tmp_path, monkeypatch):
    """The README's main command: configs/default.yaml has sections for plugins that may be absent."""
    monkeypatch.setenv("SEGKIT_BLOCK_PLUGINS", "sam2,ultralytics,roboflow")
    monkeypatch.setattr(segkit.plugins.host, "_host", PluginHost())
    monkeypatch.chdir(ROOT)
    from typer.testing import CliRunner

    from segkit.cli import app

    result = CliRunner().invoke(app, ["run", "-b", "mock-ellipse", "--limit", "1", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "error" not in result.output
    result = CliRunner().invoke(app, ["run", "-b", "mock-ellipse", "--limit", "1", "-o", str(tmp_path / "out"),
                                      "-O", "sam2.device=cpu"])
    assert result.exit_code == 0
    assert "warning: -O sam2.device: the segkit-sam2 plugin, which reads options.sam2, is not installed" in result.output


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["run"], {"SEGKIT_CONF": "abc"}, "error: Invalid value for '--conf' (env var: 'SEGKIT_CONF'):"),
        (["run", "--conf", "nan"], {}, "error: Invalid value for '--conf'"),
        (["run", "--nope"], {}, "error: No such option: --nope"),
        (["frobnicate"], {}, "error: No such command 'frobnicate'; see `segkit --help`"),
        (["compare"], {}, "error: Missing argument 'out_dir'; see `segkit compare --help`"),
        (["run", "--limit"], {}, "error: Option '--limit' requires an argument"),
    ],
)
def test_usage_errors_are_one_error_line_and_exit_2(args, env, message, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and one_error_line(captured.err).startswith(message)


def test_help_and_version_still_work_through_main(capsys):
    assert main(["--version"]) == 0 and capsys.readouterr().out == f"segkit {segkit.__version__}\n"
    assert main(["run", "--help"]) == 0 and "SEGKIT_CONF" in capsys.readouterr().out
    assert main([]) == 2 and "Usage: segkit" in capsys.readouterr().out


def test_the_installed_command_prints_one_line_for_a_bad_environment_value(tmp_path):
    env = {**os.environ, "SEGKIT_CONF": "abc"}
    done = subprocess.run([sys.executable, "-m", "segkit", "run"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)
    assert done.returncode == 2 and one_error_line(done.stderr).startswith("error: Invalid value for '--conf'")


def test_credentials_in_a_url_are_never_echoed(good):
    cli = good
    url = "https://user:s3cretpass@host.example/segment?api_key=k3yvalue"
    result = cli.run("mock", extra=["-O", f"mock.latency_ms={url}"])
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert "option mock.latency_ms: Input should be a valid number" in line and "https://user:***@" in line
    assert "s3cretpass" not in line and "k3yvalue" not in line
    config = cli.root / "leaky.yaml"
    config.write_text(f"out: {url}\nconf: {url}\n")
    result = cli.run("mock", extra=["--config", config])
    assert result.exit_code == 2 and "s3cretpass" not in result.output and "k3yvalue" not in result.output


def test_two_detection_files_for_one_image_warn_naming_both(good):
    cli = good
    write_rgb(cli.images / "x.png", SIZE)
    write_qwen(cli.dets / "x.json", [qwen_det(BOX, SIZE, "from-json")])
    (cli.dets / "x.txt").write_text('```json\n[{"bbox_2d": [1, 2, 30, 20], "label": "from-txt"}]\n```')
    result = cli.run("mock")
    assert result.exit_code == 0
    assert (f"warning: x.json and x.txt in {cli.dets} both hold detections for 'x'; using x.json and ignoring x.txt"
            in " ".join(result.output.split()))
    assert [d["label"] for d in cli.record("x")["detections"]] == ["from-json"]
