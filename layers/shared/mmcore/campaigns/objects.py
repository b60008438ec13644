"""An audience's CSV object in S3: where it is, its header, and a plain copy of a gzip one.

Step Functions' Distributed Map reads CSV with its ItemReader but cannot read gzip. A ``.csv.gz`` (or any
object starting with gzip's magic bytes) is therefore first decompressed to a plain object beside it, as a
stream: parts of :data:`PART_BYTES` go up by multipart upload as they are inflated, so memory stays at about
one part whatever the size. Measured by ``benchmarks/s3_import.py`` (tens of MB/s on one vCPU: a 15-minute
Lambda inflates tens of GB, far more than any audience). The plain copy expires with the bucket's lifecycle.
"""

from __future__ import annotations

import csv
import io
import re
import zlib
from typing import Any

from mmcore.campaigns.models import S3_URI

GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024  # enough for any header row
PART_BYTES = 8 * 1024 * 1024  # multipart upload parts (S3: at least 5 MiB but the last)
PLAIN_PREFIX = "plain/"  # where decompressed copies go


def parse_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); ValueError for anything else."""
    if not re.match(S3_URI, uri):
        raise ValueError(f"not an s3://bucket/key.csv[.gz] URI: {uri!r}")
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bucket, key


def head(s3: Any, bucket: str, key: str) -> tuple[list[str] | None, bool]:
    """The object's header row (None when empty) and whether it is gzip. Raises the client's NoSuchKey."""
    raw = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEAD_BYTES - 1}")["Body"].read()
    gzipped = raw[:2] == GZIP_MAGIC
    if gzipped:
        raw = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(raw, HEAD_BYTES)
    text = raw.decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(text)), None), gzipped


def plain_copy(s3: Any, bucket: str, key: str, campaign_id: str) -> str:
    """Decompress a gzip object to ``plain/<campaign_id>.csv`` in the same bucket, streaming; its key."""
    target = f"{PLAIN_PREFIX}{campaign_id}.csv"
    inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
    upload = s3.create_multipart_upload(Bucket=bucket, Key=target, ContentType="text/csv")["UploadId"]
    parts: list[dict[str, Any]] = []
    buffer = bytearray()

    def flush() -> None:
        number = len(parts) + 1
        answer = s3.upload_part(
            Bucket=bucket, Key=target, UploadId=upload, PartNumber=number, Body=bytes(buffer)
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        buffer.clear()

    try:
        for chunk in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1024 * 1024):
            buffer += inflate.decompress(chunk)
            if len(buffer) >= PART_BYTES:
                flush()
        buffer += inflate.flush()
        if buffer or not parts:
            flush()
        s3.complete_multipart_upload(
            Bucket=bucket, Key=target, UploadId=upload, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=upload)
        raise
    return target


def upload_url(s3: Any, bucket: str, key: str, expires: int) -> str:
    """A presigned PUT of the audience's object."""
    return s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires, HttpMethod="PUT"
    )
