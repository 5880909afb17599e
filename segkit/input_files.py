"""Files a user names (by a flag, the environment or the config), read as untrusted input: bounded.

Every such file goes through here: detection files, ground truth (COCO JSON, mask PNGs), the config
file, label maps, class-name files, the font. ``read_limited`` reads a regular file of at most a given
size and refuses anything else unread: a folder, a FIFO (reading it would wait for a writer forever), a
device (``/dev/zero`` never ends), a file above the size limit. ``check_regular`` is the same check for a
file another library opens itself (a font). ``load_yaml`` parses YAML with the expansion of aliases
bounded (an alias bomb is a few hundred bytes that a walk over expands to billions of nodes) and deep
nesting refused, each as one line.

Each file kind is a ``FileKind``: what the file is called in a message, how to fix a bad one, and the
setting that bounds its size; every refusal is one ``SegkitError`` line naming the file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ByteSize

from segkit.errors import ConfigError, InputError

# How many nodes YAML aliases may add when expanded (each use of an alias counts its anchor's nodes).
MAX_ALIAS_NODES = 100_000


@dataclass(frozen=True)
class FileKind:
    """One kind of input file, for its messages."""

    noun: str  # "a detection file": "X is a FIFO (named pipe), not a detection file"
    fix: str  # how to point at a usable one: "pass a file or a folder of detection files"
    setting: str  # the limit on its size: "limits.max_detection_file_bytes"
    error: type[Exception] = InputError  # SegkitError kinds for what a user names; outputs use their own
    shrink: str = "split it"  # what to do about a file above the limit, besides raising it


DETECTION_FILE = FileKind("a detection file", "pass a file or a folder of detection files", "limits.max_detection_file_bytes")
GROUND_TRUTH_FILE = FileKind("a ground-truth file", "pass --gt a COCO JSON file or a folder of mask PNGs",
                             "limits.max_ground_truth_bytes")
CONFIG_FILE = FileKind("a config file", "pass --config a YAML file", "limits.max_config_file_bytes", ConfigError,
                       "shorten it (the config file is always read with the default limit)")
LABEL_MAP = FileKind("a label map", "pass --label-map a YAML or JSON file", "limits.max_config_file_bytes", ConfigError, "shorten it")
CLASS_NAMES = FileKind("a class-name file", "pass --gt-classes a text file", "limits.max_config_file_bytes", ConfigError, "shorten it")
FONT = FileKind("a font", "set viz.font to a TrueType/OpenType file (or null for the bundled font)", "", ConfigError)

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode: int) -> str | None:
    """What a file of this mode is when it is not a regular file ("a FIFO (named pipe)"), else None."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def _check(path: Path, info: os.stat_result, kind: FileKind, max_bytes: int | None) -> None:
    what = kind_of(info.st_mode)
    if what is not None:
        raise kind.error(f"{path} is {what}, not {kind.noun}; {kind.fix}")
    if max_bytes is not None and info.st_size > max_bytes:
        raise too_big(path, info.st_size, max_bytes, kind)


def too_big(path: Any, size: int, max_bytes: int, kind: FileKind) -> Exception:
    fix = f"{kind.shrink}, or raise {kind.setting} in the config" if kind.setting else kind.fix
    return kind.error(
        f"{path} is {ByteSize(size).human_readable()}, above the limit of {ByteSize(max_bytes).human_readable()} for"
        f" {kind.noun}; {fix}"
    )


def _unreadable(path: Path, exc: OSError, kind: FileKind) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return kind.error(f"{kind.noun.split(' ', 1)[1]} {path} does not exist; {kind.fix}")
    return kind.error(f"{path}: cannot read ({exc.strerror or exc}); check the path and its permissions")


def check_regular(path: Path, kind: FileKind, max_bytes: int | None = None) -> None:
    """Raise ``kind.error`` (one line) unless ``path`` is a regular file (of at most ``max_bytes``)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise _unreadable(path, exc, kind) from exc
    _check(path, info, kind, max_bytes)


def read_limited(path: Path, max_bytes: int, kind: FileKind = DETECTION_FILE) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; a FIFO, a device or a bigger file is refused unread."""
    try:
        _check(path, os.stat(path), kind, max_bytes)
        # O_NONBLOCK: should the path become a FIFO after the check, opening it does not wait for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(fd, "rb", buffering=0) as handle:
            info = os.fstat(handle.fileno())
            _check(path, info, kind, max_bytes)
            data = _read_upto(handle, info.st_size, max_bytes + 1)  # never more, should the file grow while it is read
    except OSError as exc:
        raise _unreadable(path, exc, kind) from exc
    if len(data) > max_bytes:
        raise too_big(path, len(data), max_bytes, kind)
    return data


def _read_upto(handle: Any, expected: int, most: int) -> bytes:
    """At most ``most`` bytes, allocating what the file holds: ``read(n)`` reserves n bytes up front,
    so a 2 KB file read with a 512 MiB bound would cost 512 MiB for a moment (in every reader thread)."""
    chunks = []
    left = most
    want = min(expected + 1, most)  # one more than its size: whether it grew since
    while left > 0:
        chunk = handle.read(min(want, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
        want = min(left, 1 << 20)  # grown since it was measured: on in small steps
    return b"".join(chunks)


def read_text(path: Path, max_bytes: int, kind: FileKind = DETECTION_FILE) -> str:
    """A file's text: a regular file of at most ``max_bytes``, UTF-8 (a BOM allowed)."""
    data = read_limited(path, max_bytes, kind)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise kind.error(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc


# -- YAML ----------------------------------------------------------------------------------------------


class _TooManyAliasNodes(Exception):
    pass


class _SelfReference(Exception):
    pass


def _alias_growth(root: yaml.Node, limit: int) -> None:
    """Raise when expanding every alias under ``root`` would add more than ``limit`` nodes, or never end.

    Each node is measured once (a DAG walk): linear in the document, whatever its aliases expand to.
    """
    expanded: dict[int, int] = {}  # id(node) -> nodes it expands to
    open_nodes: set[int] = set()
    distinct = 0

    def size(node: yaml.Node) -> int:
        nonlocal distinct
        key = id(node)
        if key in expanded:
            return expanded[key]
        if key in open_nodes:
            raise _SelfReference
        open_nodes.add(key)
        distinct += 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        total = 1
        for child in children:
            total += size(child)
            if total - distinct > limit:
                raise _TooManyAliasNodes
        open_nodes.discard(key)
        expanded[key] = total
        return total

    size(root)


def load_yaml(text: str, path: Path, kind: FileKind, max_alias_nodes: int = MAX_ALIAS_NODES) -> Any:
    """The YAML (or JSON) document in ``text``; ``kind.error`` (one line naming ``path``) when it is not
    valid, nests too deeply, refers to itself, or its aliases expand to more than ``max_alias_nodes`` nodes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _alias_growth(node, max_alias_nodes)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise kind.error(f"{path}{where}: not valid YAML ({problem}); fix the file") from None
    except RecursionError:
        raise kind.error(f"{path}: nested too deeply to be {kind.noun}; fix the file") from None
    except _SelfReference:
        raise kind.error(f"{path}: a YAML alias refers to the node that holds it; fix the file") from None
    except _TooManyAliasNodes:
        raise kind.error(f"{path}: its YAML aliases (*name) expand to more than {max_alias_nodes:,} nodes;"
                         " write the values out, or use fewer aliases") from None
    finally:
        loader.dispose()
