"""Where inputs are read and outputs written: a local folder, or an object store named by a URL.

A location is a ``pathlib.Path`` for a local (or shared) folder, which stays the fast path: plain ``os``
calls, nothing in between. A URL (``s3://bucket/prefix``, or any other fsspec protocol: ``gs://``,
``az://``, ``memory://``) becomes a ``UPath`` (universal-pathlib over fsspec), which has the same
methods (``/``, ``name``, ``stem``, ``iterdir``, ``read_bytes``, ``exists``), so the code that lists and
reads inputs and names outputs is the same for both. Three things differ, and are done here:

* writing: an object is written whole in one request (``write_object``). S3 has no rename, and needs
  none: a PUT is atomic, readers see the old object or the new one, never part of one;
* reading with a size bound (``read_limited``): the size comes from the object's metadata;
* checking a location before a run (``check_location``): no credentials, a missing bucket or a missing
  storage library end in one line that says what to do, before anything is written.

Credentials and endpoints come from the environment as the storage library reads them (for S3:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` or ``AWS_PROFILE`` or an instance role, and
``AWS_ENDPOINT_URL`` for an S3-compatible store); URLs need ``pip install 'segkit[s3]'``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path, PurePath
from typing import Annotated, Any

from pydantic import PlainValidator

from segkit.errors import InputError

URL = re.compile(r"^(?P<protocol>[A-Za-z][A-Za-z0-9+.-]+)://")
INSTALL_HINT = "pip install 'segkit[s3]' (universal-pathlib and s3fs; gcsfs or adlfs for gs:// and az://)"


def as_location(value: Any) -> Any:
    """A Path for a local path (or ``file://`` URL), a UPath for any other URL."""
    if isinstance(value, PurePath) or is_remote(value):
        return value
    text = str(value)
    match = URL.match(text)
    if match is None:
        return Path(text)
    if match["protocol"].lower() == "file":
        return Path(text[len("file://"):])
    try:
        from upath import UPath
    except ImportError:
        raise InputError(f"{text}: reading and writing URLs needs universal-pathlib: {INSTALL_HINT}") from None
    try:
        location = UPath(text)
        location.fs  # the filesystem is made lazily: a missing gcsfs or adlfs would surface mid-run
        return location
    except (ImportError, ValueError) as exc:  # the protocol's fsspec package is not installed, or unknown
        raise InputError(f"{text}: no storage library for {match['protocol']}:// ({exc}); {INSTALL_HINT}") from None


# A path field that also takes a URL (RunJob, Settings): strings become a Path or a UPath.
Location = Annotated[Path, PlainValidator(as_location)]


def is_remote(path: Any) -> bool:
    """True for a UPath on an object store (anything that is not a local pathlib path)."""
    if isinstance(path, (PurePath, str)):
        return False
    upath = sys.modules.get("upath")  # never imported when no URL was given
    return upath is not None and isinstance(path, upath.UPath)


def write_object(path: Any, data: bytes) -> None:
    """Write an object whole, in one request: atomic on S3 and the other object stores."""
    path.fs.pipe_file(path.path, data)


def read_limited(path: Any, max_bytes: int) -> bytes | None:
    """The bytes of an object of at most ``max_bytes``; None when it is bigger (read nothing then)."""
    info = path.fs.info(path.path)
    if info.get("type") == "directory":
        raise IsADirectoryError(21, "a folder, not a file", str(path))
    if int(info.get("size") or 0) > max_bytes:
        return None
    data = path.fs.cat_file(path.path, start=0, end=max_bytes + 1)
    return None if len(data) > max_bytes else data


def check_location(location: Any, flag: str, output: bool = False) -> None:
    """For a URL: one InputError line when it cannot be used (no credentials, no bucket, no access).

    An input must exist; an output's bucket (the first part of the path) must exist: segkit never
    creates buckets. Local paths are checked where they are used."""
    if not is_remote(location):
        return
    bucket = location.path.strip("/").split("/", 1)[0]
    if not bucket:
        raise InputError(f"{flag} {location}: no bucket in the URL; pass {location.protocol}://BUCKET or {location.protocol}://BUCKET/PREFIX")
    try:
        if output or not _found(location, location.path):
            if not _found(location, bucket):
                raise InputError(f"{flag} {location}: bucket {bucket!r} does not exist (or is not visible with these"
                                 " credentials); create it or pass another bucket")
            if not output:
                raise InputError(f"{flag} {location} does not exist; check the URL")
    except InputError:
        raise
    except Exception as exc:
        raise storage_error(exc, location, flag) from None


def _found(location: Any, path: str) -> bool:
    try:
        location.fs.info(path)
    except FileNotFoundError:
        return False
    return True


STORAGE_PACKAGES = ("botocore", "aiobotocore", "boto3", "s3fs", "fsspec", "upath", "gcsfs", "google", "adlfs", "azure")


def from_storage_library(exc: BaseException) -> bool:
    """True for an exception an object-store library raised (botocore's credential and client errors are
    not OSErrors); a bug of segkit's own is not one."""
    return type(exc).__module__.split(".", 1)[0] in STORAGE_PACKAGES


def storage_error(exc: BaseException, location: Any, flag: str) -> InputError:
    """One line for what the storage library raised about a location."""
    kind = type(exc).__name__
    if "Credentials" in kind:  # botocore's NoCredentialsError, PartialCredentialsError
        return InputError(f"{flag} {location}: no credentials for {location.protocol}:// (set AWS_ACCESS_KEY_ID and"
                          " AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run where an instance role grants access)")
    if isinstance(exc, PermissionError):
        return InputError(f"{flag} {location}: access denied ({exc}); check that the credentials may read and write it")
    return InputError(f"{flag} {location}: cannot reach it ({kind}: {exc}); check the URL, the network and"
                      " AWS_ENDPOINT_URL for an S3-compatible store")


__all__ = ["Location", "as_location", "check_location", "from_storage_library", "is_remote", "read_limited", "storage_error",
           "write_object"]
