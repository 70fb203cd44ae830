"""A file beyond the Lambda payload never passes through a function (SPEC §5.13): during a 20 MiB
round trip — upload-url, the presigned PUT, the read that redirects, the presigned GET — the
memory high-water mark of the process that runs the chat-files function stays far below the size
of the file. Measured with tracemalloc over the whole round trip, in a process that holds nothing
else of the transfer: S3 is a moto server in a process of its own and the transfers are curl's.
The same measurement of a staged chat upload (whose bytes do travel in the request) shows the
file, so the measurement is one that sees a held file."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import boto3
import httpx
import pytest
from molecule_core.platform.aws import reset_clients

from tests.conftest import ApiClient, create_workspace, set_env
from tests.file_helpers import MIB, sha256_of, write_random

FILE_SIZE = 20 * MIB
BUCKET = "molecule-memory-test"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3_process(platform_env: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server as its own process, the files bucket in it, the platform pointed at it."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.wait(timeout=0.1)  # paces the loop and notices a crash
        credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
        set_env(platform_env, AWS_ENDPOINT_URL_S3=endpoint, FILES_BUCKET=BUCKET, AWS_PROFILE=None, **credentials)
        reset_clients()
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=20)
        reset_clients()


def curl(*args: str) -> None:
    subprocess.run(["curl", "--silent", "--show-error", "--fail", *args], check=True, timeout=120)


def test_a_20_mib_presigned_round_trip_never_holds_the_file_in_the_function(
    api: ApiClient, dev: str, s3_process: str, tmp_path: Path, record_property: pytest.RecordProperty
) -> None:
    workspace = create_workspace(api, dev, name="laptop", external=True)
    workspace_id, token = str(workspace["id"]), workspace["connection"]["auth_token"]
    original, fetched = write_random(tmp_path / "big.bin", FILE_SIZE), tmp_path / "fetched.bin"
    api.get(f"/workspaces/{workspace_id}/files/00000000-0000-4000-8000-000000000000", token=token)  # warm up

    peaks: dict[str, int] = {}  # step → high-water mark, bytes traced since the round trip began
    rises: dict[str, int] = {}  # step → how far above its starting point the step went

    def measured(step: str, action: Callable[[], T]) -> T:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = action()
        peaks[step] = tracemalloc.get_traced_memory()[1]
        rises[step] = peaks[step] - before
        return result

    tracemalloc.start()
    try:
        granted = measured(
            "POST upload-url (cold S3 client)",
            lambda: api.post(
                f"/workspaces/{workspace_id}/files/upload-url",
                json_body={"name": "big.bin", "size": FILE_SIZE, "mimeType": "application/octet-stream"},
                token=token,
            ),
        )
        grant = granted.json()
        measured(
            "presigned PUT (curl -> S3)",
            lambda: curl(
                "--upload-file",
                str(original),
                "--header",
                "Content-Type: application/octet-stream",
                grant["upload_url"],
            ),
        )
        redirect = measured(
            "GET files/{id} -> 302",
            lambda: api.get(f"/workspaces/{workspace_id}/files/{grant['file_id']}", token=token),
        )
        measured("presigned GET (S3 -> curl)", lambda: curl("--output", str(fetched), redirect.headers["location"]))
        round_trip_peak = max(peaks.values())  # the round trip's high-water mark

        # the control: a staged chat upload carries its bytes through the function
        content = b"\x01" * (4 * MIB)
        body = (
            b'--b\r\nContent-Disposition: form-data; name="files"; filename="small.bin"\r\n\r\n'
            + content
            + b"\r\n--b--"
        )
        del content
        staged = measured(
            "control: 4 MiB staged chat upload",
            lambda: api.post(
                f"/workspaces/{workspace_id}/chat/uploads",
                body=body,
                headers={"content-type": "multipart/form-data; boundary=b"},
                token=token,
            ),
        )
        chat_upload_rise = rises["control: 4 MiB staged chat upload"]
    finally:
        tracemalloc.stop()

    assert granted.status == 201, granted.text
    assert redirect.status == 302
    assert staged.status == 200, staged.text
    assert sha256_of(fetched) == sha256_of(original)  # byte for byte through S3
    record_property("round_trip_peak_bytes", round_trip_peak)
    record_property("chat_upload_rise_bytes", chat_upload_rise)
    print(
        "\ntraced memory of the function's process (KiB): high-water mark since the round trip began / rise in the step"
    )
    for step, peak in peaks.items():
        print(f"  {step:<36} {peak / 1024:>8.0f} {rises[step] / 1024:>8.0f}")
    assert round_trip_peak < 2 * MIB  # not the file (20 MiB each way), nor any sizeable part of it
    assert chat_upload_rise > 4 * MIB  # the same measurement does see a file that passes through
