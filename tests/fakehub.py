"""A local HTTP server standing in for the Hugging Face Hub (set HF_ENDPOINT to its URL).

It implements what `create_repo`, `upload_folder` and `get_space_runtime` call: repo creation, card
validation, preupload, commit, and the Space's runtime with scripted stages.
Every request is recorded, so tests can assert what was (or was not) sent.
"""

from __future__ import annotations

import base64
import json
from http.server import BaseHTTPRequestHandler

import yaml
from localserver import LocalServer

VALID_TOKEN = "hf_validTOKENfor0the0fake0hub00000000"


class FakeHub(LocalServer):
    """`with FakeHub(taken={"someone/taken"}) as hub: ... hub.requests, hub.repos, hub.files`."""

    def __init__(self, taken=(), valid_token=VALID_TOKEN, stages=("RUNNING",)):
        self.stages = list(stages)  # what the runtime endpoint answers, one per call; the last one stays
        self.requests: list[dict] = []
        self.repos: dict[str, dict] = {}
        self.files: dict[str, dict[str, bytes]] = {}
        self.cards: list[dict] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, code, obj):
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                hub.requests.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:2] == ["api", "spaces"] and parts[-1] == "runtime":
                    stage = hub.stages.pop(0) if len(hub.stages) > 1 else hub.stages[0]
                    return self.reply(200, {"stage": stage, "hardware": {"current": "cpu-basic", "requested": None},
                                            "requestedHardware": None, "sleepTime": None, "storage": None})
                self.reply(404, {"error": "not implemented in the fake hub"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append({"method": "POST", "path": self.path,
                                     "auth": self.headers.get("Authorization"), "body": body})
                if self.headers.get("Authorization") != f"Bearer {valid_token}":
                    return self.reply(401, {"error": "Invalid credentials in Authorization header"})
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    p = json.loads(body)
                    repo = f"{p['organization']}/{p['name']}"
                    if repo in taken:
                        return self.reply(403, {"error": f"You don't have the rights to create a space under the namespace \"{p['organization']}\""})
                    hub.repos[repo] = p
                    return self.reply(200, {"url": f"http://{self.headers['Host']}/spaces/{repo}", "name": repo})
                if parts[:2] == ["api", "validate-yaml"]:  # the Space card's front matter
                    meta = yaml.safe_load(json.loads(body)["content"].split("---")[1])
                    hub.cards.append(meta)
                    bad = [k for k in ("title", "sdk", "sdk_version", "app_file") if not meta.get(k)]
                    if bad or meta["sdk"] not in ("gradio", "docker", "static"):
                        return self.reply(400, {"errors": [{"message": f"bad or missing {bad}"}]})
                    return self.reply(200, {"errors": [], "warnings": []})
                if parts[:2] == ["api", "spaces"] and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    return self.reply(200, {"files": [{"path": f["path"], "uploadMode": "regular",
                                                       "shouldIgnore": False} for f in files]})
                if parts[:2] == ["api", "spaces"] and parts[4] == "commit":
                    repo = f"{parts[2]}/{parts[3]}"
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            content = base64.b64decode(item["value"]["content"])
                            hub.files.setdefault(repo, {})[item["value"]["path"]] = content
                    host = self.headers["Host"]
                    return self.reply(200, {"commitUrl": f"http://{host}/spaces/{repo}/commit/{'a' * 40}",
                                            "commitOid": "a" * 40})
                self.reply(404, {"error": f"not implemented in the fake hub: {self.path}"})

        super().__init__(Handler)

    @property
    def url(self) -> str:
        return self.base
