"""A redeploy starts its new generation with that generation's own supervision settings, not the old ones."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from tests.support.stack import Stack

SLOW_HEALTH_SERVER = textwrap.dedent(
    """
    import json, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                time.sleep(1.5)  # answers, but slowly: only a probe timeout above 1.5 s sees it healthy
            body = json.dumps({"status": "ok"} if self.path == "/health" else {"jobs": []}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """
)


def test_the_new_generation_is_probed_with_the_new_specs_settings(stack: Stack, tmp_path: Path) -> None:
    script = tmp_path / "slow_health.py"
    script.write_text(SLOW_HEALTH_SERVER)
    first = stack.spec(supervision={"probe_timeout_s": 0.5})
    stack.add_location(first)
    slow = first | {
        "command": [sys.executable, str(script), "{port}"],
        "startup_timeout_s": 15,
        "supervision": {"probe_timeout_s": 5},
    }

    response = stack.client.put(f"/api/locations/{first['name']}", json=slow)

    assert response.status_code == 200, response.text
    view = stack.wait_location(first["name"], {"LOADED"}, timeout_s=30, generation=2)
    assert view["spec"]["supervision"]["probe_timeout_s"] == 5
    history = [
        event["message"] for event in stack.client.get(f"/api/locations/{first['name']}/events").json()["events"]
    ]
    assert not any("redeploy to generation 2 failed" in message for message in history), history
