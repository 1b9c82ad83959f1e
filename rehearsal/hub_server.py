"""A loopback Hugging Face hub that serves the stand-in (`checkpoints/standin/`) to the lab's real loading calls.

    with StandinHub(manifest) as hub:          # hub.endpoint -> HF_ENDPOINT for the child processes
        ...
        hub.repos_served()                      # which repo ids were served (proves the hub path was taken)

It answers the routes huggingface_hub 2.4 uses for transformers' `from_pretrained` / `pipeline` and
datasets' `load_dataset` (read from huggingface_hub's file_download.py, hf_api.py and utils/_http.py):

- `GET /api/{models,datasets}/<id>[/revision/<rev>]`      repo info: sha, siblings (with sizes, blob ids, LFS)
- `GET /api/{models,datasets}/<id>/tree/<rev>[/<path>]`   folder listing (`recursive` honoured)
- `POST /api/{models,datasets}/<id>/paths-info/<rev>`      info on the form's `paths`
- `HEAD|GET /<id>/resolve/<rev>/<file>`, `/datasets/<id>/resolve/<rev>/<file>`: small files with
  `X-Repo-Commit`, `ETag` (git blob id) and `Content-Length`; LFS files (.safetensors, .bin) as the hub
  does, a 302 to a second loopback port standing in for the CDN, with `X-Linked-Etag` (sha256) and
  `X-Linked-Size`; byte ranges (206) for partial reads.
- a missing file: 404 with `X-Error-Code: EntryNotFound` (and the commit); an unknown repo: 401
  `RepoNotFound`; an unknown revision: 404 `RevisionNotFound`; anything else: 404, logged as unknown.

A test fixture and `make rehearse` helper, not part of the lab. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .standin import STANDIN_DIR

API_ROUTE = re.compile(r"^/api/(?P<kind>models|datasets)/(?P<repo>[^/]+/[^/]+)(?P<rest>/.*)?$")
RESOLVE_ROUTE = re.compile(r"^/(?P<datasets>datasets/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
LFS_ROUTE = re.compile(r"^/lfs/(?P<sha256>[0-9a-f]{64})$")
RANGE = re.compile(r"^bytes=(?P<start>\d*)-(?P<end>\d*)$")
LAST_MODIFIED = "2023-03-01T00:00:00.000Z"


class HubError(Exception):
    """An error answer: HTTP status, the hub's X-Error-Code, and a message."""

    def __init__(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit


class StandinHub:
    """Two loopback servers over the stand-in: the hub API + resolve routes, and a 'CDN' port for LFS files."""

    def __init__(self, manifest: dict[str, Any], root: Path = STANDIN_DIR) -> None:
        self.root, self.repos = root, manifest["repos"]
        self.lfs = {
            record["sha256"]: self.repo_folder(repo_id) / name
            for repo_id, repo in self.repos.items()
            for name, record in repo["files"].items()
            if "sha256" in record
        }
        self.log: list[dict[str, Any]] = []  # every request: method, path, status, repo
        self.lock = threading.Lock()
        self.api = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self))
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self))
        self.threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        """The value for HF_ENDPOINT."""
        return f"http://127.0.0.1:{self.api.server_address[1]}"

    @property
    def cdn_endpoint(self) -> str:
        """Where LFS files are redirected to (another origin, as the hub's CDN is)."""
        return f"http://127.0.0.1:{self.cdn.server_address[1]}"

    def __enter__(self) -> "StandinHub":
        """Start both servers, each in a daemon thread."""
        for server in (self.api, self.cdn):
            server.daemon_threads = True
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop both servers and close their sockets."""
        for server in (self.api, self.cdn):
            server.shutdown()
            server.server_close()

    def repo_folder(self, repo_id: str) -> Path:
        """Where a repo's files live in the stand-in."""
        return self.root / f"{self.repos[repo_id]['type']}s" / repo_id

    def record(self, method: str, path: str, status: int, repo: str | None) -> None:
        """Append one request to the log."""
        with self.lock:
            self.log.append({"method": method, "path": path, "status": status, "repo": repo})

    def repos_served(self) -> set[str]:
        """Repo ids that were answered with a success (2xx/3xx) at least once."""
        return {entry["repo"] for entry in self.log if entry["repo"] and entry["status"] < 400}

    def routes(self) -> list[str]:
        """The distinct requests answered, as sorted 'METHOD /path -> status' lines (queries dropped)."""
        return sorted({f"{e['method']} {urlsplit(e['path']).path} -> {e['status']}" for e in self.log})

    def repo(self, kind: str, repo_id: str) -> dict[str, Any]:
        """A repo's manifest record; HubError 401 RepoNotFound for unknown ids or the wrong kind."""
        repo = self.repos.get(repo_id)
        if repo is None or repo["type"] != kind:
            raise HubError(401, "RepoNotFound", f"Repository Not Found for {kind} {repo_id}.")
        return repo

    def check_revision(self, repo: dict[str, Any], revision: str) -> None:
        """Accept 'main' or the repo's commit sha; HubError 404 RevisionNotFound otherwise."""
        if unquote(revision) not in ("main", repo["sha"]):
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {unquote(revision)}")

    def info(self, kind: str, repo_id: str) -> dict[str, Any]:
        """The JSON of /api/{models,datasets}/<id>: what model_info / dataset_info parse."""
        repo = self.repo(kind, repo_id)
        info = {
            "_id": repo["sha"][:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": repo["sha"],
            "lastModified": LAST_MODIFIED,
            "createdAt": LAST_MODIFIED,
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "cardData": {},
            "siblings": [sibling(name, record) for name, record in repo["files"].items()],
            "usedStorage": sum(record["size"] for record in repo["files"].values()),
        }
        if kind == "model":
            config = json.loads((self.repo_folder(repo_id) / "config.json").read_text())
            info.update(modelId=repo_id, library_name="transformers", config={"architectures": config["architectures"], "model_type": config["model_type"]})
        return info

    def entries(self, repo: dict[str, Any], folder: str, recursive: bool) -> list[dict[str, Any]]:
        """Tree entries under `folder` ('' = root): files and directories, direct children unless recursive."""
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        files = {name: record for name, record in repo["files"].items() if name.startswith(prefix)}
        if prefix and not files:
            raise HubError(404, "EntryNotFound", f"{folder} does not exist on main", repo["sha"])
        out, dirs = [], set()
        for name, record in files.items():
            parts = name[len(prefix):].split("/")
            for depth in range(1, len(parts)):
                if recursive or depth == 1:
                    dirs.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                out.append(tree_file(name, record))
        return [tree_dir(path) for path in sorted(dirs)] + out

    def paths_info(self, repo: dict[str, Any], paths: list[str]) -> list[dict[str, Any]]:
        """paths-info: the entries of the paths that exist (files or folders), silently skipping the rest."""
        out = []
        for path in paths:
            path = path.strip("/")
            if path in repo["files"]:
                out.append(tree_file(path, repo["files"][path]))
            elif any(name.startswith(path + "/") for name in repo["files"]):
                out.append(tree_dir(path))
        return out


def sibling(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """One entry of a repo info's `siblings` (with blob metadata, as `?blobs=true` returns)."""
    entry: dict[str, Any] = {"rfilename": name, "size": record["size"], "blobId": record["blob_id"]}
    if "sha256" in record:
        entry["lfs"] = {"size": record["size"], "sha256": record["sha256"], "pointerSize": record["pointer_size"]}
    return entry


def tree_file(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A file entry of /tree and /paths-info."""
    entry: dict[str, Any] = {"type": "file", "oid": record["blob_id"], "size": record["size"], "path": name}
    if "sha256" in record:
        entry["lfs"] = {"oid": record["sha256"], "size": record["size"], "pointerSize": record["pointer_size"]}
    return entry


def tree_dir(path: str) -> dict[str, Any]:
    """A directory entry of /tree and /paths-info."""
    return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}


def make_handler(hub: StandinHub) -> type[BaseHTTPRequestHandler]:
    """The request handler class bound to `hub`."""

    class Handler(BaseHTTPRequestHandler):
        """Answers one request from the stand-in."""

        protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects; every answer carries Content-Length

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the default stderr log (the hub keeps its own)."""

        def do_GET(self) -> None:
            """GET: API JSON, file bytes (whole or a range), or an error."""
            self.answer("GET")

        def do_HEAD(self) -> None:
            """HEAD: the GET's headers without a body (what hf_hub_download asks first)."""
            self.answer("HEAD")

        def do_POST(self) -> None:
            """POST: paths-info."""
            self.answer("POST")

        def answer(self, method: str) -> None:
            """Route the request; turn a HubError into the hub's error answer; log it."""
            path = urlsplit(self.path).path
            self.repo_id: str | None = None
            try:
                status = self.route(method, path)
            except HubError as error:
                headers = {"X-Error-Code": error.code, "X-Error-Message": error.message}
                if error.commit:
                    headers["X-Repo-Commit"] = error.commit
                status = self.send(error.status, json.dumps({"error": error.message}).encode(), "application/json", headers, method)
            except (BrokenPipeError, ConnectionResetError):
                status = 499  # the client hung up mid-answer
            except Exception as error:  # noqa: BLE001 -- a bug here must show in the log as a 500, not a dropped connection
                status = self.send(500, repr(error).encode(), "text/plain", {}, method)
            hub.record(method, self.path, status, self.repo_id)

        def route(self, method: str, path: str) -> int:
            """Dispatch on the path; return the status sent."""
            if match := LFS_ROUTE.match(path):
                if match["sha256"] not in hub.lfs:
                    raise HubError(404, "EntryNotFound", "No such LFS object.")
                return self.send_file(hub.lfs[match["sha256"]], {}, method)
            if match := API_ROUTE.match(path):
                return self.api(method, match["kind"][:-1], unquote(match["repo"]), match["rest"] or "")
            if match := RESOLVE_ROUTE.match(path):
                return self.resolve(method, "dataset" if match["datasets"] else "model", unquote(match["repo"]), match["rev"], unquote(match["file"]))
            raise HubError(404, "UnknownRoute", f"The stand-in hub does not serve {method} {path}.")

        def api(self, method: str, kind: str, repo_id: str, rest: str) -> int:
            """The /api/{models,datasets}/<id>... routes."""
            repo = hub.repo(kind, repo_id)
            self.repo_id = repo_id
            query = parse_qs(urlsplit(self.path).query)
            if method in ("GET", "HEAD") and (rest == "" or rest.startswith("/revision/")):
                if rest:
                    hub.check_revision(repo, rest[len("/revision/"):])
                return self.send_json(hub.info(kind, repo_id), method)
            if method == "GET" and rest.startswith("/tree/"):
                revision, _, folder = rest[len("/tree/"):].partition("/")
                hub.check_revision(repo, revision)
                recursive = query.get("recursive", ["False"])[0].lower() in ("true", "1")
                return self.send_json(hub.entries(repo, unquote(folder), recursive), method)
            if method == "POST" and rest.startswith("/paths-info/"):
                hub.check_revision(repo, rest[len("/paths-info/"):])
                form = self.read_form()
                return self.send_json(hub.paths_info(repo, form.get("paths", [])), method)
            raise HubError(404, "UnknownRoute", f"The stand-in hub does not serve {method} /api/{kind}s/{repo_id}{rest}.")

        def resolve(self, method: str, kind: str, repo_id: str, revision: str, name: str) -> int:
            """/<id>/resolve/<rev>/<file>: small files served here, LFS files redirected to the 'CDN'."""
            repo = hub.repo(kind, repo_id)
            self.repo_id = repo_id
            hub.check_revision(repo, revision)
            record = repo["files"].get(name)
            if record is None:
                raise HubError(404, "EntryNotFound", f"{name} does not exist on {unquote(revision)}", repo["sha"])
            headers = {"X-Repo-Commit": repo["sha"]}
            if "sha256" in record:
                location = f"{hub.cdn_endpoint}/lfs/{record['sha256']}"
                headers.update({"Location": location, "X-Linked-Etag": f'"{record["sha256"]}"', "X-Linked-Size": str(record["size"]), "ETag": f'"{record["blob_id"]}"'})
                return self.send(302, f"Found. Redirecting to {location}".encode(), "text/plain", headers, method)
            headers["ETag"] = f'"{record["blob_id"]}"'
            return self.send_file(hub.repo_folder(repo_id) / name, headers, method)

        def read_form(self) -> dict[str, list[str]]:
            """The POST body as a url-encoded form (or JSON, which newer clients may send)."""
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                values = json.loads(body)
                return {key: value if isinstance(value, list) else [value] for key, value in values.items()}
            return parse_qs(body)

        def send_json(self, value: Any, method: str) -> int:
            """Answer 200 with JSON."""
            return self.send(200, json.dumps(value).encode(), "application/json", {}, method)

        def send_file(self, path: Path, headers: dict[str, str], method: str) -> int:
            """Answer with a file's bytes: all of them (200) or the asked range (206), streamed with sendfile."""
            size = path.stat().st_size
            start, end, status = 0, size - 1, 200
            if (match := RANGE.match(self.headers.get("Range", ""))) and size:
                start = int(match["start"]) if match["start"] else max(size - int(match["end"]), 0)
                end = min(int(match["end"]), size - 1) if match["start"] and match["end"] else size - 1
                status = 206
                headers = {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}
            self.send_response(status)
            for key, value in {**headers, "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes", "Content-Length": str(end - start + 1)}.items():
                self.send_header(key, value)
            self.end_headers()
            if method != "HEAD":
                with path.open("rb") as file:
                    file.seek(start)
                    if status == 200:
                        self.wfile.flush()
                        self.connection.sendfile(file)
                    else:
                        shutil.copyfileobj(LimitedReader(file, end - start + 1), self.wfile)
            return status

        def send(self, status: int, body: bytes, content_type: str, headers: dict[str, str], method: str) -> int:
            """Answer with a small in-memory body."""
            self.send_response(status)
            for key, value in {**headers, "Content-Type": content_type, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(body)
            return status

    return Handler


class LimitedReader:
    """A file reader that stops after `limit` bytes (for range answers)."""

    def __init__(self, file: Any, limit: int) -> None:
        self.file, self.left = file, limit

    def read(self, size: int = -1) -> bytes:
        """Read at most `size` bytes, never past the limit."""
        size = self.left if size < 0 else min(size, self.left)
        data = self.file.read(size)
        self.left -= len(data)
        return data
