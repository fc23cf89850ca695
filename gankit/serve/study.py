"""A real-vs-fake perceptual study page and its report (the Pix2Pix paper's AMT protocol).

Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks", sec. 4.2
(AMT perceptual studies): each trial pits a real image against a fake one; both are shown for one
second and then hidden, and the participant has unlimited time to say which was fake. The first
10 trials are practice with feedback, the 40 that follow have none. The *fooling rate* is the
share of main trials in which the participant took the fake for the real one.

The page is served by the standard library's ``http.server`` on 127.0.0.1. Images are reached
only through the trial they belong to (``/img/<session>/<trial>/<side>``), never by path, and
correctness is decided on the server. Each answer is appended to a JSONL file as one line with a
single ``write`` on an ``O_APPEND`` descriptor, then ``fsync`` (a crash loses at most the answer
being written, never earlier lines).
"""

from __future__ import annotations

import json
import math
import mimetypes
import os
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from gankit.core.errors import BadInputError, UsageError
from gankit.core.images import expand_inputs

PRACTICE_TRIALS = 10
MAIN_TRIALS = 40
DISPLAY_MS = 1000
_PARTICIPANT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class Trial:
    index: int
    phase: str
    real: Path
    fake: Path
    fake_side: str

    def path(self, side: str) -> Path:
        return self.fake if side == self.fake_side else self.real


@dataclass
class Session:
    participant: str
    trials: list[Trial]
    answered: int = 0
    started: float = field(default_factory=time.time)


def make_pairs(
    real_dir: str | os.PathLike[str], fake_dir: str | os.PathLike[str]
) -> tuple[list[tuple[Path, Path]], bool]:
    """(real, fake) pairs: by matching file stem when the folders share names (a fake made from
    the real image's input, as in the paper), else every real against every fake."""
    reals = expand_inputs([real_dir])
    fakes = expand_inputs([fake_dir])
    by_stem = {p.stem: p for p in fakes}
    paired = [(r, by_stem[r.stem]) for r in reals if r.stem in by_stem]
    if paired:
        return paired, True
    return [(r, f) for r in reals for f in fakes], False


def plan_trials(
    pairs: list[tuple[Path, Path]],
    rng: random.Random,
    practice: int = PRACTICE_TRIALS,
    main: int = MAIN_TRIALS,
) -> list[Trial]:
    """``practice + main`` trials; pairs are drawn without replacement while they last."""
    total = practice + main
    order: list[tuple[Path, Path]] = []
    while len(order) < total:
        batch = list(pairs)
        rng.shuffle(batch)
        order.extend(batch)
    return [
        Trial(i, "practice" if i < practice else "main", real, fake, rng.choice(("left", "right")))
        for i, (real, fake) in enumerate(order[:total])
    ]


class Study:
    """The study's state: image pairs, sessions in progress and the answers file."""

    def __init__(
        self,
        real_dir: str | os.PathLike[str],
        fake_dir: str | os.PathLike[str],
        answers: str | os.PathLike[str],
        practice: int = PRACTICE_TRIALS,
        main: int = MAIN_TRIALS,
        display_ms: int = DISPLAY_MS,
        seed: int | None = None,
    ):
        if practice < 0 or main < 1 or display_ms < 1:
            raise UsageError("need practice >= 0, trials >= 1 and display time >= 1 ms")
        for d in (real_dir, fake_dir):
            if not Path(d).is_dir():
                raise BadInputError(f"{d}: not a folder of images")
        self.pairs, self.paired = make_pairs(real_dir, fake_dir)
        self.answers = Path(answers)
        self.answers.parent.mkdir(parents=True, exist_ok=True)
        self.practice, self.main, self.display_ms = practice, main, display_ms
        self.rng = random.Random(seed)
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()

    def start(self, participant: str) -> dict[str, Any]:
        if not _PARTICIPANT.match(participant or ""):
            raise BadInputError("participant id: 1-64 letters, digits, '.', '_' or '-'")
        with self.lock:
            sid = secrets.token_hex(8)
            trials = plan_trials(self.pairs, self.rng, self.practice, self.main)
            self.sessions[sid] = Session(participant, trials)
        return {
            "session": sid,
            "practice": self.practice,
            "trials": self.main,
            "display_ms": self.display_ms,
        }

    def _session(self, sid: str) -> Session:
        if sid not in self.sessions:
            raise BadInputError("unknown session; reload the page")
        return self.sessions[sid]

    def trial(self, sid: str) -> dict[str, Any]:
        s = self._session(sid)
        if s.answered >= len(s.trials):
            return {"done": True}
        t = s.trials[s.answered]
        return {
            "done": False,
            "index": t.index,
            "phase": t.phase,
            "number": t.index + 1 - (0 if t.phase == "practice" else self.practice),
            "of": self.practice if t.phase == "practice" else self.main,
            "left": f"/img/{sid}/{t.index}/left",
            "right": f"/img/{sid}/{t.index}/right",
        }

    def image(self, sid: str, index: int, side: str) -> Path:
        s = self._session(sid)
        if side not in ("left", "right") or not 0 <= index < len(s.trials):
            raise BadInputError("no such image")
        return s.trials[index].path(side)

    def answer(self, sid: str, index: int, choice: str, response_ms: float) -> dict[str, Any]:
        """Record that the participant called ``choice`` (left/right) the fake."""
        if choice not in ("left", "right"):
            raise BadInputError("answer must be 'left' or 'right'")
        with self.lock:
            s = self._session(sid)
            if index != s.answered or index >= len(s.trials):
                raise BadInputError(f"trial {index} is not the one being asked")
            t = s.trials[index]
            correct = choice == t.fake_side
            record = {
                "participant": s.participant,
                "session": sid,
                "trial": index,
                "phase": t.phase,
                "real": t.real.name,
                "fake": t.fake.name,
                "fake_side": t.fake_side,
                "answer": choice,
                "correct": correct,
                "fooled": not correct,
                "response_ms": round(float(response_ms), 1),
                "time": time.time(),
            }
            append_jsonl(self.answers, record)
            s.answered += 1
        reply: dict[str, Any] = {"done": s.answered >= len(s.trials)}
        if t.phase == "practice":
            reply["correct"] = correct
        return reply


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line with one write on an O_APPEND descriptor, then fsync."""
    data = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


PAGE = "study.html"
"""The participant page (HTML + JS), shipped as package data in ``gankit/data``."""


def render_page(study: Study) -> bytes:
    from importlib.resources import files

    page = files("gankit").joinpath("data", PAGE).read_text(encoding="utf-8")
    return (
        page.replace("__SECONDS__", f"{study.display_ms / 1000:g}")
        .replace("__PRACTICE__", str(study.practice))
        .replace("__MAIN__", str(study.main))
    ).encode()


def make_handler(study: Study) -> type[BaseHTTPRequestHandler]:
    page = render_page(study)

    class Handler(BaseHTTPRequestHandler):
        server_version = "gankit-study"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: dict[str, Any]) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlparse(self.path)
            try:
                if url.path in ("/", "/index.html"):
                    self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
                elif url.path == "/api/trial":
                    sid = parse_qs(url.query).get("session", [""])[0]
                    self._json(HTTPStatus.OK, study.trial(sid))
                elif m := re.fullmatch(r"/img/([0-9a-f]{16})/(\d+)/(left|right)", url.path):
                    path = study.image(m[1], int(m[2]), m[3])
                    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    self._send(HTTPStatus.OK, path.read_bytes(), ctype)
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            except BadInputError as err:
                self._json(HTTPStatus.NOT_FOUND, {"error": str(err)})

        def do_POST(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            try:
                length = int(self.headers.get("Content-Length") or 0)
                if length > 4096:
                    raise BadInputError("request too large")
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise BadInputError("expected a JSON object")
                if url.path == "/api/start":
                    self._json(HTTPStatus.OK, study.start(str(body.get("participant", ""))))
                elif url.path == "/api/answer":
                    reply = study.answer(
                        str(body.get("session", "")),
                        int(body.get("index", -1)),
                        str(body.get("answer", "")),
                        float(body.get("response_ms", 0.0)),
                    )
                    self._json(HTTPStatus.OK, reply)
                else:
                    self._json(HTTPStatus.NOT_FOUND, {"error": "not found"})
            except (BadInputError, ValueError, TypeError) as err:
                self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)})

    return Handler


def make_server(study: Study, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A threaded HTTP server for ``study`` (not started; call ``serve_forever``)."""
    try:
        server = ThreadingHTTPServer((host, port), make_handler(study))
    except OSError as err:
        raise UsageError(f"cannot listen on {host}:{port} ({err.strerror or err})") from None
    server.daemon_threads = True
    return server


# -- report -------------------------------------------------------------------------------------
Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (Wilson 1927; Agresti & Coull 1998)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def read_answers(paths: list[str | os.PathLike[str]]) -> list[dict[str, Any]]:
    """Records from JSONL files (a torn last line from a crash is skipped, others are errors)."""
    records: list[dict[str, Any]] = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise BadInputError(f"{p}: no such answers file")
        lines = p.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                if i == len(lines) - 1:
                    continue
                raise BadInputError(f"{p}:{i + 1}: not a JSON line") from None
            if not isinstance(rec, dict) or not {"participant", "phase", "fooled"} <= set(rec):
                raise BadInputError(f"{p}:{i + 1}: not a study answer record")
            records.append(rec)
    return records


def report(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Fooling rate with a 95% interval per participant and overall (main trials only).

    Per participant and pooled over all trials: Wilson score intervals. Across participants
    (two or more): the mean of their rates with a Student-t interval, which also counts the
    spread between people.
    """
    main = [r for r in records if r.get("phase") == "main"]
    if not main:
        raise BadInputError("no main-phase answers to report (practice trials are not counted)")
    people: dict[str, list[bool]] = {}
    for r in main:
        people.setdefault(str(r["participant"]), []).append(bool(r["fooled"]))
    rows = []
    for name, fooled in sorted(people.items()):
        k, n = sum(fooled), len(fooled)
        lo, hi = wilson_interval(k, n)
        rows.append(
            {"participant": name, "trials": n, "fooled": k, "rate": k / n, "ci95": [lo, hi]}
        )
    k = sum(r["fooled"] for r in rows)
    n = sum(r["trials"] for r in rows)
    overall: dict[str, Any] = {
        "participants": len(rows),
        "trials": n,
        "fooled": k,
        "rate": k / n,
        "ci95": list(wilson_interval(k, n)),
    }
    if len(rows) >= 2:
        from scipy import stats

        rates = [r["rate"] for r in rows]
        mean = sum(rates) / len(rates)
        sd = math.sqrt(sum((x - mean) ** 2 for x in rates) / (len(rates) - 1))
        half = stats.t.ppf(0.975, len(rates) - 1) * sd / math.sqrt(len(rates))
        overall["participant_mean"] = mean
        overall["participant_mean_ci95"] = [max(0.0, mean - half), min(1.0, mean + half)]
    return {"per_participant": rows, "overall": overall}
