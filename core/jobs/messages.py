"""What the dashboard and a training process say to each other: JSON, never pickle.

Both directions are length-prefixed byte messages (`Connection.send_bytes`/`recv_bytes`) holding
one JSON object each; nothing received is ever unpickled, so a process that can write to a
pipe can at worst send a message that is refused (`JobMessageError`), never run code.

- The job, parent -> child: {"config": TrainConfig fields, "settings": Settings.to_env()}; the
  child rebuilds both through their own validation (`TrainConfig`, `Settings.from_env`).
- Events, child -> parent, decoded to tuples:
  ("progress", step, fraction, message), ("done", JobResult), ("failed", message),
  ("cancelled", step).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from core.config import Settings
from core.errors import PredictionDexError

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a result with every metric is a few kB
MAX_TEXT_CHARS = 2000


class JobMessageError(PredictionDexError):
    """A message between the dashboard and a training process was refused (not our JSON)."""

    default_hint = "The training process is not a PredictionDex one, or is broken: train again."


@dataclass(frozen=True)
class JobResult:
    """What a finished training reports (plain data from core.train's TrainResult).

    Fields: model_type, params (hyperparameters fitted), metrics (MLflow name -> value),
    version (registered number, None without MLflow), promoted (now holds Production),
    promotion_message (one sentence, '' without MLflow), promotion_evidence (the champion/
    challenger comparison behind the decision, '' when none was made), run_id / run_url (None without
    MLflow), exported_to (models/ folder written, or None), seconds (step -> wall seconds).
    """

    model_type: str
    params: dict[str, Any]
    metrics: dict[str, float]
    version: int | None = None
    promoted: bool = False
    promotion_message: str = ""
    promotion_evidence: str = ""
    run_id: str | None = None
    run_url: str | None = None
    exported_to: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, result: Any) -> JobResult:
        """The plain summary of a core.train TrainResult."""
        return cls(
            model_type=str(result.model_type),
            params={str(k): _plain(v) for k, v in result.params.items()},
            metrics={str(k): float(v) for k, v in result.metrics.items()},
            version=result.version,
            promoted=bool(result.promoted),
            promotion_message=str(result.promotion_message),
            promotion_evidence=_evidence(result),
            run_id=result.run_id,
            run_url=result.run_url,
            exported_to=result.exported_to,
            seconds={str(k): float(v) for k, v in result.seconds.items()},
        )


def _evidence(result: Any) -> str:
    """'v7 vs Production v5: +0.0012 [−0.0031, +0.0047], p = 0.21 (no significant difference)'
    when the promotion compared the new version with Production, else ''."""
    publication = getattr(result, "publication", None)
    promotion = getattr(publication, "promotion", None)
    if promotion is None or promotion.evidence is None:
        return ""
    return f"{promotion.evidence_text} ({promotion.evidence.verdict})"


def _plain(value: Any) -> Any:
    """A JSON-ready scalar (numpy numbers become Python ones)."""
    return value.item() if hasattr(value, "item") else value


def _dumps(message: dict) -> bytes:
    return json.dumps(message, default=_plain, allow_nan=True).encode("utf-8")


def _loads(data: bytes) -> dict:
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise JobMessageError(f"refused a message of {len(data)} bytes that is not JSON") from None
    if not isinstance(message, dict):
        raise JobMessageError("refused a JSON message that is not an object")
    return message


def receive(connection: Connection) -> dict:
    """One JSON object from the connection (at most MAX_MESSAGE_BYTES).

    Raises:
        EOFError: the other side closed the pipe.
        JobMessageError: the bytes are not a JSON object, or too many of them.
    """
    try:
        data = connection.recv_bytes(MAX_MESSAGE_BYTES)
    except OSError:
        if connection.closed:  # recv_bytes closes a read-only end it refused for its length
            raise JobMessageError("refused a message longer than 4 MB") from None
        raise
    return _loads(data)


def send_job(connection: Connection, config: Any, settings: Settings) -> None:
    """Send the job (a TrainConfig and the Settings) as JSON."""
    connection.send_bytes(
        _dumps({"config": config.model_dump(mode="json"), "settings": settings.to_env()})
    )


def receive_job(connection: Connection) -> tuple[Any, Settings]:
    """(TrainConfig, Settings) rebuilt through their own validation.

    Raises:
        JobMessageError: not a job message (TrainingError/ConfigError: a value they refuse).
    """
    from core.train import TrainConfig

    message = receive(connection)
    config, env = message.get("config"), message.get("settings")
    if set(message) != {"config", "settings"} or not isinstance(config, dict):
        raise JobMessageError("refused a job message without exactly 'config' and 'settings'")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise JobMessageError("refused a job message whose settings are not text variables")
    return TrainConfig(**config), Settings.from_env(env)


def send_event(connection: Connection, event: tuple) -> None:
    """Send one event tuple (see the module docstring) as JSON."""
    kind, *rest = event
    if kind == "progress":
        step, fraction, message = rest
        body = {"step": step, "fraction": float(fraction), "message": message}
    elif kind == "done":
        body = {"result": asdict(rest[0])}
    elif kind == "failed":
        body = {"message": rest[0]}
    else:
        body = {"step": rest[0]}
    connection.send_bytes(_dumps({"kind": kind, **body}))


def receive_event(connection: Connection) -> tuple:
    """The next event as a tuple, checked field by field.

    Raises:
        EOFError: the training process closed its end (it ended or died).
        JobMessageError: anything but one of the four events with fields of the right types.
    """
    message = receive(connection)
    kind = message.get("kind")
    if kind == "progress":
        fraction = message.get("fraction")
        if not isinstance(fraction, int | float) or not math.isfinite(fraction):
            raise JobMessageError("refused a progress event without a finite fraction")
        return ("progress", _text(message, "step"), float(fraction), _text(message, "message"))
    if kind == "done":
        return ("done", _result(message.get("result")))
    if kind == "failed":
        return ("failed", _text(message, "message"))
    if kind == "cancelled":
        return ("cancelled", _text(message, "step"))
    raise JobMessageError(f"refused an event of unknown kind {str(kind)[:40]!r}")


def _text(message: dict, key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str):
        raise JobMessageError(f"refused an event whose {key!r} is not text")
    return value[:MAX_TEXT_CHARS]


def _result(value: Any) -> JobResult:
    if not isinstance(value, dict):
        raise JobMessageError("refused a 'done' event without a result object")
    try:
        result = JobResult(**value)
    except TypeError:
        raise JobMessageError("refused a result with unknown or missing fields") from None
    typed = (
        isinstance(result.model_type, str)
        and isinstance(result.params, dict)
        and isinstance(result.metrics, dict)
        and all(isinstance(v, int | float) for v in result.metrics.values())
        and (result.version is None or type(result.version) is int)
        and isinstance(result.promoted, bool)
        and isinstance(result.promotion_message, str)
        and isinstance(result.promotion_evidence, str)
        and isinstance(result.seconds, dict)
    )
    if not typed:
        raise JobMessageError("refused a result whose fields have the wrong types")
    return result
