"""The Express receiver of docs/webhook.md, run with node against real signed deliveries: it verifies
them with the standardwebhooks npm package, tells a verdict from a decision, drops a repeat."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from proctoring.notify import StaticSecret, WebhookNotifier
from proctoring.oversight import decision_event
from proctoring_local.stand_ins.template import ROOT
from tests.builders import WEBHOOK_SECRET


@pytest.fixture(scope="module")
def receiver_dir(tmp_path_factory):
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed (Debian: apt-get install nodejs npm)")
    folder = tmp_path_factory.mktemp("receiver")
    code = re.search(r"```js\n(.*?)```", (ROOT / "docs" / "webhook.md").read_text(), re.S)
    assert code, "docs/webhook.md has no js block"
    (folder / "receiver.js").write_text(code.group(1))
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "express@4", "standardwebhooks@1"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm could not install express and standardwebhooks: {installed.stderr[-300:]}")
    return folder


def test_the_express_receiver_verifies_tells_apart_and_drops_a_repeat(receiver_dir):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    env = {**os.environ, "PORT": str(port), "PROCTORING_WEBHOOK_SECRET": WEBHOOK_SECRET}
    node = subprocess.Popen(["node", "receiver.js"], cwd=receiver_dir, env=env, stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/proctoring"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        notifier = WebhookNotifier(url, StaticSecret(WEBHOOK_SECRET), allow_http=True)
        document = {"status": "ALERT", "reason": "NO_FACE", "reasons": [], "s3_input": "s3://b/images/e/u/c.jpg"}
        assert notifier.send(document, "upload-1")["http_status"] == 204
        record = {"id": "d1", "action": "dismiss", "by": "Dr. Rivera", "reason": "r", "counts_as_alert": False}
        event = decision_event(record, {**document, "exam_id": "e", "user_id": "u"}, 0)
        for _ in range(2):  # the same decision delivered twice (a lost response)
            assert notifier.deliver(event, "decision-d1")["http_status"] == 204
        forged = WebhookNotifier(url, StaticSecret("whsec_" + "A" * 40), allow_http=True)
        with pytest.raises(Exception, match="401"):
            forged.send(document, "upload-2")
    finally:
        node.terminate()
        output = node.communicate(timeout=10)[0]
    assert output.splitlines() == [
        "ALERT for s3://b/images/e/u/c.jpg: NO_FACE",
        "Dr. Rivera dismissed s3://b/images/e/u/c.jpg; standing alerts 0",
    ]
