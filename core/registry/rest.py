"""Reading a model version from an MLflow tracking server over its REST API, without mlflow.

Serving against a team's `mlflow server` needs four read calls: the registered model (its
aliases and audit tags), the version (source, tags), the list of its artifacts and each file.
MLflow's Python client makes the same calls, but importing it costs ~2 CPU s (its package
imports pandas, its GenAI and tracing layers: `python -X importtime -c "import mlflow"`, 1.8 s
on the project's 2-core VM), which put a fresh API replica's first registry answer at ~3.8 s
against the 3 s target. These reads need only `requests`, which the health probe already uses.

Endpoints (MLflow REST API, https://mlflow.org/docs/latest/api_reference/rest-api.html, and the
artifacts service of `mlflow server --serve-artifacts`, mlflow/protos/mlflow_artifacts.proto):
    GET /api/2.0/mlflow/registered-models/get?name=N
    GET /api/2.0/mlflow/model-versions/get?name=N&version=V
    GET /api/2.0/mlflow/runs/get?run_id=R                 (a run's artifact root: /model's report)
    GET /api/2.0/mlflow-artifacts/artifacts?path=P        (list a folder)
    GET /api/2.0/mlflow-artifacts/artifacts/P             (one file)

When it applies (`reader_for`): an http(s) tracking URI and no client credential or TLS
variable of MLflow set (core.config.MLFLOW_CLIENT_VARIABLES): MLflow's client knows
them all, so with any of them it reads as before. A version whose artifacts are not proxied by
the server (`mlflow-artifacts:/...`) is downloaded by MLflow's client too (`download_source`).
Writes (logging, registering, promoting) always go through MLflow's client.
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import quote, urlparse

from core.config import Settings, mask_uri, mlflow_client_variables, mlflow_http_timeout
from core.registry.errors import NotRegisteredError, RegistryError, RegistryUnavailable

API = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
ARTIFACTS_SCHEME = "mlflow-artifacts"
# A model folder bigger than this is refused while it downloads (a server that never stops).
MAX_DOWNLOAD_BYTES = 4 * 1024**3
MAX_TEXT_BYTES = 10 * 1024 * 1024  # a run's report read as text (core.artifacts' JSON cap)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RegisteredModel:
    """The parts of a registered model serving reads: `name`, `aliases` {alias: version},
    `tags` {key: value} (the audit trail)."""

    name: str
    aliases: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    """The parts of a model version serving reads, named as MLflow's entity names them:
    `name`, `version` (str), `source` (artifact URI), `run_id`, `tags`, `description`,
    `creation_timestamp` (epoch milliseconds)."""

    name: str
    version: str
    source: str
    run_id: str | None
    tags: dict[str, str]
    description: str
    creation_timestamp: int


def applies(settings: Settings) -> bool:
    """True when the settings' registry is read over REST (see the module docstring)."""
    uri = settings.tracking_uri.lower()
    return uri.startswith(("http://", "https://")) and not mlflow_client_variables()


def reader_for(settings: Settings) -> ServerReader | None:
    """A ServerReader for these settings, or None when MLflow's client must read."""
    return ServerReader(settings.tracking_uri) if applies(settings) else None


def _pairs(items: Any, key: str, value: str) -> dict[str, str]:
    return {str(item[key]): str(item.get(value, "")) for item in items or () if key in item}


class ServerReader:
    """Read-only calls to one tracking server. Every failure leaves as a RegistryError:
    RegistryUnavailable when the server cannot be reached or answers 5xx/429, NotRegisteredError
    for an unknown registered model, RegistryError (naming `core.registry list`) for an unknown
    version, RegistryError for anything else it answers."""

    def __init__(self, uri: str, timeout: float | None = None) -> None:
        self.base = uri.rstrip("/")
        self.where = mask_uri(uri)
        self.timeout = timeout if timeout is not None else mlflow_http_timeout()

    def _get(self, path: str, params: dict[str, str] | None, action: str, stream: bool = False):
        import requests

        try:
            response = requests.get(
                f"{self.base}{path}", params=params, timeout=(self.timeout, self.timeout),
                allow_redirects=False, stream=stream,
            )  # fmt: skip
        except requests.Timeout:
            raise RegistryUnavailable(
                f"{self.where} did not answer within {self.timeout:.1f} s ({action})"
            ) from None
        except requests.RequestException as error:
            raise RegistryUnavailable(
                f"could not {action}: {self.where} is not reachable ({type(error).__name__})"
            ) from None
        if response.status_code == 200:
            return response
        code, message = _error_of(response)
        response.close()
        if response.status_code == 429 or response.status_code >= 500:
            raise RegistryUnavailable(
                f"could not {action}: {self.where} answered HTTP {response.status_code}"
            )
        raise (
            _NotFound(code, message)
            if code == "RESOURCE_DOES_NOT_EXIST"
            else RegistryError(
                f"could not {action} at {self.where}: HTTP {response.status_code} {code} "
                f"{message[:300]}".rstrip()
            )
        )

    def _json(self, path: str, params: dict[str, str], action: str) -> dict:
        response = self._get(path, params, action)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RegistryError(
                f"could not {action}: {self.where} did not answer a JSON object (is it an MLflow "
                "server?)"
            )
        return body

    def get_registered(self, name: str) -> RegisteredModel:
        """The registered model `name`. Raises NotRegisteredError when it does not exist."""
        try:
            body = self._json(f"{API}/registered-models/get", {"name": name}, "read the model")
        except _NotFound:
            raise NotRegisteredError(
                f"model {name!r} is not registered yet: train one with `python -m core.train`."
            ) from None
        model = body.get("registered_model") or {}
        return RegisteredModel(
            name=str(model.get("name", name)),
            aliases=_pairs(model.get("aliases"), "alias", "version"),
            tags=_pairs(model.get("tags"), "key", "value"),
        )

    def get_version(self, name: str, number: int) -> ModelVersion:
        """Version `number` of `name`. Raises RegistryError when it does not exist."""
        params = {"name": name, "version": str(number)}
        try:
            body = self._json(f"{API}/model-versions/get", params, "read the model version")
        except _NotFound:
            raise RegistryError(
                f"version {number} of {name} does not exist: pick one listed by "
                "`python -m core.registry list`."
            ) from None
        version = body.get("model_version") or {}
        return ModelVersion(
            name=str(version.get("name", name)),
            version=str(version.get("version", number)),
            source=str(version.get("source", "")),
            run_id=version.get("run_id") or None,
            tags=_pairs(version.get("tags"), "key", "value"),
            description=str(version.get("description") or ""),
            creation_timestamp=int(version.get("creation_timestamp") or 0),
        )

    def run_artifacts(self, run_id: str) -> str | None:
        """The proxied path of a run's artifact root, None when the server does not serve it
        (MLflow's client reads it then). Raises RegistryError as the other reads."""
        body = self._json(f"{API}/runs/get", {"run_id": run_id}, f"read run {run_id}")
        info = (body.get("run") or {}).get("info") or {}
        return self.proxied_path(str(info.get("artifact_uri", "")))

    def read_text(self, root: str, path: str) -> str | None:
        """The UTF-8 text of the file `path` under the proxied folder `root` (a run's
        artifacts), None when there is no such file. Raises RegistryError as the other reads."""
        folder, _, name = f"{root}/{path.strip('/')}".rpartition("/")
        listing = self._json(ARTIFACTS_API, {"path": folder}, f"list {folder}")
        if name not in {str(entry.get("path", "")) for entry in listing.get("files") or ()}:
            return None
        remote = f"{folder}/{_safe_name(name)}"
        text = io.BytesIO()
        self._fetch(remote, text, MAX_TEXT_BYTES, f"read {remote}")
        return text.getvalue().decode("utf-8", errors="replace")

    def proxied_path(self, source: str) -> str | None:
        """The server-side path of a `mlflow-artifacts:/...` source of this server, else None
        (another scheme or host: MLflow's client downloads it)."""
        parsed = urlparse(source)
        if parsed.scheme != ARTIFACTS_SCHEME:
            return None
        if parsed.netloc and parsed.netloc != urlparse(self.base).netloc:
            return None
        path = parsed.path.strip("/")
        return path or None

    def download(self, remote: str, destination: Path) -> Path:
        """Download the folder `remote` (a proxied path) into destination/<its name>; return it.

        Raises:
            RegistryError: an unsafe name in the listing, a folder over MAX_DOWNLOAD_BYTES, or
                a failed call (RegistryUnavailable when the server cannot be reached).
        """
        local = Path(destination) / PurePosixPath(remote).name
        local.mkdir(parents=True, exist_ok=True)
        self._download_folder(remote, local, MAX_DOWNLOAD_BYTES)
        return local

    def _download_folder(self, remote: str, local: Path, budget: int) -> int:
        """Download `remote` into `local` within `budget` bytes; the bytes left."""
        listing = self._json(ARTIFACTS_API, {"path": remote}, f"list {remote}")
        for entry in listing.get("files") or ():
            name = _safe_name(str(entry.get("path", "")))
            if entry.get("is_dir"):
                (local / name).mkdir(exist_ok=True)
                budget = self._download_folder(f"{remote}/{name}", local / name, budget)
            else:
                with open(local / name, "wb") as out:
                    file = f"{remote}/{name}"
                    budget -= self._fetch(file, out, budget, f"download {file}")
        return budget

    def _fetch(self, remote: str, out: BinaryIO, limit: int, action: str) -> int:
        """Stream the proxied file `remote` into `out`; its size in bytes.

        Raises RegistryError when it is larger than `limit` bytes (a server that never stops),
        or as the other calls.
        """
        size = 0
        with self._get(f"{ARTIFACTS_API}/{quote(remote)}", None, action, stream=True) as response:
            for chunk in response.iter_content(chunk_size=_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise RegistryError(
                        f"{remote} from {self.where} is larger than the {limit:,} bytes allowed: "
                        "refused"
                    )
                out.write(chunk)
        return size


class _NotFound(RegistryError):
    """The server answered RESOURCE_DOES_NOT_EXIST (turned into the caller's own error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")


def _error_of(response) -> tuple[str, str]:
    """MLflow's (error_code, message) of an error answer, or ("", the first line of text)."""
    try:
        body = response.json()
    except ValueError:
        lines = response.text.strip().splitlines()
        return "", lines[0][:300] if lines else ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error_code", "")), str(body.get("message", ""))


def _safe_name(listed: str) -> str:
    """The last component of a listed artifact path, refused when it could leave the folder."""
    name = posixpath.basename(listed.rstrip("/"))
    if name in ("", ".", "..") or "\\" in name or "\x00" in name:
        raise RegistryError(f"the server listed an unsafe artifact name {listed[:100]!r}: refused")
    return name
