"""Plugin discovery and isolation: entry points, broken plugins, bad registrations, readiness."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import qwen_det, write_qwen, write_rgb

import segkit
from segkit.plugins import hookspecs
from segkit.plugins.host import DEFAULT_PLUGINS, PluginHost, get_host

SIZE = (64, 48)


def make_distribution(root: Path, dist: str, module: str, source: str, entry_name: str | None = None) -> Path:
    """A real installed distribution on disk: module + dist-info with a `segkit` entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"  # as pip names it
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[segkit]\n{entry_name or dist} = {module}\n")
    return root


GOOD_PLUGIN = """
    import numpy as np
    import segkit

    class Corner(segkit.Segmenter):
        '''Marks the top-left pixel of each box.'''

        def segment(self, image, boxes):
            masks = np.zeros((len(boxes), *image.shape[:2]), dtype=bool)
            for i, (x1, y1, _, _) in enumerate(boxes.astype(int)):
                masks[i, y1, x1] = True
            return segkit.Segmentation(masks=masks, scores=np.full(len(boxes), 0.5))

    @segkit.hookimpl
    def register_segmenters(register):
        register("corner", Corner, aliases=("corner-alias",))
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    return root


def test_entry_point_plugin_is_discovered_like_a_registry_package(site):
    make_distribution(site, "segkit-corner", "segkit_corner", GOOD_PLUGIN, entry_name="corner")
    host = PluginHost()
    entry = host.backend("corner")
    assert entry.plugin == "corner" and entry.description == "Marks the top-left pixel of each box."
    assert host.backend("corner-alias") is not None and host.backend("corner-alias").name == "corner"
    row = next(r for r in host.plugins() if r["name"] == "corner")
    assert row == {"name": "corner", "hooks": ["register_segmenters"], "distribution": "segkit-corner 0.1"}
    assert host.problems == []


def test_broken_plugin_is_a_warning_and_the_others_keep_working(site):
    make_distribution(site, "segkit-broken", "segkit_broken", "raise ImportError('needs libfoo 2')", "broken")
    make_distribution(site, "segkit-corner", "segkit_corner", GOOD_PLUGIN, entry_name="corner")
    host = PluginHost()
    assert {"mock", "corner"} <= set(host.backends())
    assert [(p.plugin, p.message) for p in host.problems] == [("broken", "failed to load: ImportError: needs libfoo 2")]


def test_blocked_plugins_are_not_loaded(site, monkeypatch):
    make_distribution(site, "segkit-corner", "segkit_corner", GOOD_PLUGIN, entry_name="corner")
    monkeypatch.setenv("SEGKIT_BLOCK_PLUGINS", "corner, other")
    assert "corner" not in PluginHost().backends()


def test_bad_registrations_are_reported_per_plugin(site):
    make_distribution(site, "segkit-bad", "segkit_bad", """
        import segkit
        from segkit.plugins.mock import MockSegmenter

        @segkit.hookimpl
        def register_segmenters(register):
            register("Bad_Name", MockSegmenter)
            register("not-a-class", object)
            register("mock", MockSegmenter)
            register("fine", MockSegmenter, shape="ellipse")
    """, "bad")
    make_distribution(site, "segkit-raises", "segkit_raises", """
        import segkit

        @segkit.hookimpl
        def register_segmenters(register):
            raise RuntimeError("boom")
    """, "raises")
    host = PluginHost()
    backends = host.backends()
    assert backends["fine"].params == {"shape": "ellipse"} and backends["mock"].plugin == "segkit.plugins.mock"
    messages = {p.message.split(":")[0] for p in host.problems}
    assert any("'Bad_Name' is invalid" in p.message for p in host.problems)
    assert any("'not-a-class'" in p.message and "not a segkit.Segmenter" in p.message for p in host.problems)
    assert any("'mock' is already registered by segkit.plugins.mock" in p.message for p in host.problems)
    assert ("raises", "register_segmenters failed: RuntimeError: boom") in [(p.plugin, p.message) for p in host.problems]
    assert messages  # every problem names what went wrong
    host.backends()  # calling the hooks again does not repeat the warnings
    assert len(host.problems) == 4


def test_misspelt_hook_is_caught(site):
    make_distribution(site, "segkit-typo", "segkit_typo", """
        import segkit

        @segkit.hookimpl
        def register_segmenter(register):
            pass
    """, "typo")
    host = PluginHost()
    assert [(p.plugin, p.message) for p in host.problems] == [
        ("typo", "implements unknown hook 'register_segmenter' (the hooks are: register_concept_segmenters, register_detection_readers, register_detectors, register_segmenters)")
    ]


def test_cli_reports_a_broken_plugin_and_still_runs(site, tmp_path):
    make_distribution(site, "segkit-broken", "segkit_broken", "raise ImportError('needs libfoo 2')", "broken")
    env = {"PYTHONPATH": str(site), "PATH": ""}
    listing = subprocess.run([sys.executable, "-m", "segkit", "backends"], capture_output=True, text=True, env=env)
    assert listing.returncode == 0
    assert "warning: plugin broken: failed to load: ImportError: needs libfoo 2" in " ".join(listing.stderr.split())
    assert "mock-ellipse" in listing.stdout


# -- hooks exercised through the CLI, with plugins registered at run time -------------------------------------


class NotReady(segkit.Segmenter):
    def check_ready(self):
        return segkit.Readiness.missing("weights.pt not found in checkpoints/; run checkpoints/download.sh")

    def segment(self, image, boxes):
        raise AssertionError("never called")


class WrongShape(segkit.Segmenter):
    def segment(self, image, boxes):
        return segkit.Segmentation(masks=np.zeros((len(boxes), 2, 2), bool), scores=np.ones(len(boxes)))


class FatalOnSecond(segkit.Segmenter):
    calls = 0

    def segment(self, image, boxes):
        type(self).calls += 1
        if type(self).calls >= 2:
            raise segkit.BackendFatalError("the API rejected the key (401); set ROBOFLOW_API_KEY")
        return segkit.Segmentation(masks=np.ones((len(boxes), *image.shape[:2]), bool), scores=np.ones(len(boxes)))


class LoadFails(segkit.Segmenter):
    def load(self):
        raise RuntimeError("CUDA out of memory\n  Tried to allocate 2.00 GiB\n  (more lines of torch detail)\n")

    def segment(self, image, boxes):
        raise AssertionError("never called")


class WithOptions(segkit.Segmenter):
    options_key = "withopts"

    class Options(segkit.NoOptions):
        iterations: int = 3
        device: str = "cpu"

    def segment(self, image, boxes):
        return segkit.Segmentation(masks=np.zeros((len(boxes), *image.shape[:2]), bool), scores=np.zeros(len(boxes)))

    def settings(self):
        return self.options.model_dump()


class TestPlugin:
    @staticmethod
    @segkit.hookimpl
    def register_segmenters(register):
        register("not-ready", NotReady)
        register("wrong-shape", WrongShape)
        register("fatal-on-second", FatalOnSecond)
        register("load-fails", LoadFails)
        register("with-options", WithOptions)


@pytest.fixture
def test_plugin():
    host = get_host()
    host.register(TestPlugin, name="test-plugin")
    FatalOnSecond.calls = 0
    yield host
    host.unregister("test-plugin")


@pytest.fixture
def images(cli):
    for stem in ("a", "b", "c"):
        write_rgb(cli.images / f"{stem}.png", SIZE)
        write_qwen(cli.dets / f"{stem}.json", [qwen_det((8, 6, 40, 30), SIZE)])
    return cli


def test_backends_listing_shows_readiness_and_why(test_plugin, cli):
    result = cli("backends", "--json")
    rows = {r["name"]: r for r in json.loads(result.output)["backends"]}
    assert rows["mock"]["ready"] is True and rows["mock"]["plugin"] == "segkit.plugins.mock"
    assert rows["not-ready"] == {
        "name": "not-ready", "aliases": [], "plugin": "test-plugin", "ready": False,
        "reason": "weights.pt not found in checkpoints/; run checkpoints/download.sh", "description": "",
    }
    table = cli("backends").output
    assert "not-ready" in table and "weights.pt not found" in " ".join(table.split())


def test_plugins_listing(test_plugin, cli):
    data = json.loads(cli("plugins", "--json").output)
    names = {p["name"]: p for p in data["plugins"]}
    assert set(DEFAULT_PLUGINS) <= set(names)
    assert names["segkit.plugins.mock"]["hooks"] == ["register_concept_segmenters", "register_segmenters"]
    assert names["segkit.plugins.builtin_readers"]["hooks"] == ["register_detection_readers"]
    assert {r["name"] for r in data["readers"]} >= {"qwen-json", "qwen-grounding", "coco"}
    assert "qwen-grounding" in cli("plugins").output


def test_a_backend_that_is_not_ready_stops_before_any_work(test_plugin, images):
    result = images.run("mock", "not-ready")
    assert result.exit_code == 2
    assert result.output == "error: backend 'not-ready' is not ready: weights.pt not found in checkpoints/; run checkpoints/download.sh\n"
    assert not (images.out / "json").exists()


def test_contract_violation_fails_the_image_and_names_the_backend(test_plugin, images):
    result = images.run("mock", "wrong-shape")
    assert result.exit_code == 1
    assert "backend 'wrong-shape' returned masks of shape (1, 2, 2) for 1 boxes on a 64x48 image" in " ".join(result.output.split())
    record = images.record("a")  # the other backend's work is kept
    assert list(record["backends"]) == ["mock"] and "wrong-shape" in record["failed_backends"]
    assert (images.out / record["detections"][0]["backends"]["mock"]["mask"]).is_file()


def test_fatal_backend_error_stops_the_run_and_keeps_what_was_written(test_plugin, images):
    result = images.run("fatal-on-second")
    assert result.exit_code == 1
    assert "error: run stopped: the API rejected the key (401); set ROBOFLOW_API_KEY" in result.output
    assert "Traceback" not in result.output
    # Images are in flight together, so which one met the error may vary; one image was done before it.
    records = [json.loads(p.read_text()) for p in sorted((images.out / "json").iterdir())]
    assert len(records) == 2  # the third image was never started
    assert sorted(bool(r["failed_backends"]) for r in records) == [False, True]
    done = next(r for r in records if not r["failed_backends"])
    assert (images.out / done["detections"][0]["backends"]["fatal-on-second"]["mask"]).is_file()
    rerun_after_fix = images.run("mock")
    assert rerun_after_fix.exit_code == 0


def test_load_failure_is_one_line(test_plugin, images):
    result = images.run("load-fails")
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        "error: backend 'load-fails' failed to load: RuntimeError: CUDA out of memory Tried to allocate 2.00 GiB"
    )


def test_backend_options_precedence(test_plugin, images):
    config = images.root / "c.yaml"
    config.write_text("options:\n  withopts:\n    iterations: 5\n    device: cuda\n")
    args = ["--config", str(config)]
    images.run("with-options", extra=args)
    assert images.record("a")["backends"]["with-options"]["settings"] == {"iterations": 5, "device": "cuda"}
    images.run("with-options", extra=[*args, "--force"], env={"SEGKIT_WITHOPTS_ITERATIONS": "7"})
    assert images.record("a")["backends"]["with-options"]["settings"]["iterations"] == 7
    images.run("with-options", extra=[*args, "--force", "-O", "withopts.iterations=9"], env={"SEGKIT_WITHOPTS_ITERATIONS": "7"})
    assert images.record("a")["backends"]["with-options"]["settings"] == {"iterations": 9, "device": "cuda"}
    bad = images.run("with-options", extra=["-O", "withopts.iterations=many"])
    assert bad.exit_code == 2 and "option withopts.iterations: Input should be a valid integer" in bad.output
    unknown = images.run("with-options", extra=["-O", "withopts.colour=red"])
    assert "unknown setting 'colour'" in unknown.output and "fields: iterations, device" in unknown.output


def test_every_hook_spec_has_a_test():
    specs = [name for name in dir(hookspecs) if name.startswith("register_")]
    assert specs == ["register_concept_segmenters", "register_detection_readers", "register_detectors", "register_segmenters"]
    tested = " ".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    for name in specs:
        assert f"def {name}(" in tested, f"hook {name} has no test that implements it"


def test_reader_hook_plugin(site, tmp_path):
    make_distribution(site, "segkit-csv", "segkit_csv", """
        import csv, io
        import segkit

        class CsvReader(segkit.DetectionReader):
            name = "csv"
            description = "image,x1,y1,x2,y2,label"
            suffixes = (".csv",)

            def parse(self, text, path):
                return list(csv.reader(io.StringIO(text)))

            def sniff(self, data, path):
                return bool(data) and len(data[0]) == 6

            def read(self, data, path, context):
                out = {}
                for i, (image, *box, label) in enumerate(data):
                    out.setdefault(image, []).append(segkit.RawDetection(i, label, tuple(map(float, box))))
                return out

        @segkit.hookimpl
        def register_detection_readers(register):
            register(CsvReader)
    """, "csv")
    host = PluginHost()
    assert host.reader("csv").plugin == "csv"
    from segkit.inputs.detection_files import load_detections
    from segkit.inputs.readers.base import ReaderContext

    source = tmp_path / "boxes.csv"
    source.write_text("a.png,1,2,3,4,cat\n")
    index = load_detections(source, {n: e.cls() for n, e in host.readers().items()}, "auto", ReaderContext())
    _, (_, reader, dets), _ = index.lookup(Path("a.png"))
    assert reader == "csv" and dets[0].box == (1, 2, 3, 4) and dets[0].label == "cat"


def test_the_core_and_plugin_listing_import_no_heavy_libraries():
    code = (
        "import sys, segkit.cli\n"
        "from segkit.plugins.host import get_host\n"
        "host = get_host()\n"
        "[e.create().check_ready() for e in host.backends().values() if e.cls.options_key is None]\n"
        "[e.create().check_ready() for e in host.detectors().values()]\n"
        "heavy = sorted(m for m in ('torch', 'sam2', 'ultralytics', 'inference_sdk', 'requests', 'httpx', 'aiohttp') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


class LeaksKey(segkit.Segmenter):
    def segment(self, image, boxes):
        raise segkit.ImageFailed("POST https://api.example/sam2?api_key=hunter22secret failed: 503 for key hunter22secret")


def test_secrets_in_backend_errors_never_reach_outputs(images):
    from segkit.redact import register_secret

    register_secret("hunter22secret")
    host = get_host()

    class Plugin:
        @staticmethod
        @segkit.hookimpl
        def register_segmenters(register):
            register("leaks-key", LeaksKey)

    host.register(Plugin, name="leaky-plugin")
    try:
        result = images.run("mock", "leaks-key")
    finally:
        host.unregister("leaky-plugin")
    assert result.exit_code == 1 and "failed: 503" in result.output
    written = "".join(p.read_text(encoding="utf-8") for p in images.out.rglob("*.json"))
    assert "failed: 503" in written
    assert "hunter22secret" not in result.output + written


def test_ctrl_c_keeps_whole_files_and_says_how_to_continue(site, tmp_path):
    import signal
    import time

    make_distribution(site, "segkit-slow", "segkit_slow", """
        import time
        import numpy as np
        import segkit

        class Slow(segkit.Segmenter):
            def segment(self, image, boxes):
                time.sleep(0.4)
                return segkit.Segmentation(np.ones((len(boxes), *image.shape[:2]), bool), np.ones(len(boxes)))

        @segkit.hookimpl
        def register_segmenters(register):
            register("slow", Slow)
    """, "slow")
    images, dets, out = tmp_path / "i", tmp_path / "d", tmp_path / "o"
    for i in range(12):
        write_rgb(images / f"{i:02d}.png", SIZE)
        write_qwen(dets / f"{i:02d}.json", [qwen_det((8, 6, 40, 30), SIZE)])
    args = [sys.executable, "-m", "segkit", "run", "-b", "slow", "-i", str(images), "-d", str(dets), "-o", str(out)]
    proc = subprocess.Popen(args, env={"PYTHONPATH": str(site), "PATH": ""}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not list((out / "json").glob("*.json")) and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted; the images already written are kept" in stderr and "Traceback" not in stderr + stdout
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    written = sorted((out / "json").glob("*.json"))
    assert 1 <= len(written) < 12
    for path in written:  # every record that exists is whole, and its masks exist
        record = json.loads(path.read_text())
        assert all((out / f).is_file() for f in record["files"])


def test_concept_backends_register_through_their_own_hook_into_the_one_namespace():
    import numpy as np

    import segkit

    class Finder(segkit.ConceptSegmenter):
        """finds nothing"""

        def segment_concepts(self, image, concepts):
            return segkit.ConceptInstances.empty(*image.shape[:2])

    class NotOne:
        pass

    class Plugin:
        @segkit.hookimpl
        def register_concept_segmenters(self, register):
            register("finder", Finder)
            register("not-one", NotOne)
            register("mock", Finder)  # a box backend's name: taken

    host = PluginHost(load_entry_points=False)
    host.register(Plugin(), name="concepts")
    found = host.backends()
    assert found["finder"].kind == "concept" and found["mock"].kind == "box"
    assert found["finder"].create().segment_concepts(np.zeros((4, 5, 3), np.uint8), []).masks.shape == (0, 4, 5)
    messages = [p.message for p in host.problems if p.plugin == "concepts"]
    assert any("'not-one'" in m and "segkit.ConceptSegmenter subclass" in m for m in messages)
    assert any("'mock' is already registered" in m for m in messages)
