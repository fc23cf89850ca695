"""The perceptual study: planning, the JSONL record, the report's intervals, and a scripted
participant in Chromium."""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image
from serve_browser import browser_page

from gankit.cli import main as cli_main
from gankit.core.errors import BadInputError
from gankit.serve.study import (
    Study,
    make_server,
    plan_trials,
    read_answers,
    render_page,
    report,
    wilson_interval,
)


@pytest.fixture
def folders(tmp_path):
    real, fake = tmp_path / "real", tmp_path / "fake"
    real.mkdir()
    fake.mkdir()
    for i in range(3):
        Image.fromarray(np.full((32, 32, 3), 60 * i, np.uint8)).save(real / f"im{i}.png")
        Image.fromarray(np.full((32, 32, 3), 60 * i + 30, np.uint8)).save(fake / f"im{i}.png")
    return real, fake


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(20, 40)
    assert abs(lo - 0.3520) < 1e-3 and abs(hi - 0.6480) < 1e-3
    lo, hi = wilson_interval(0, 40)
    assert lo == 0.0 and abs(hi - 0.0876) < 1e-3


def test_plan_pairs_by_name_and_balances(folders):
    study = Study(*folders, folders[0].parent / "a.jsonl", seed=1)
    assert study.paired and len(study.pairs) == 3
    trials = plan_trials(study.pairs, random.Random(0))
    assert len(trials) == 50 and [t.phase for t in trials].count("practice") == 10
    assert all(t.real.name == t.fake.name for t in trials)
    assert {t.fake_side for t in trials} == {"left", "right"}


def test_report_per_participant_and_overall(tmp_path):
    path = tmp_path / "answers.jsonl"
    lines = [{"participant": "a", "phase": "practice", "fooled": True}]
    lines += [{"participant": "a", "phase": "main", "fooled": i < 10} for i in range(40)]
    lines += [{"participant": "b", "phase": "main", "fooled": i < 20} for i in range(40)]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"torn": ')
    result = report(read_answers([path]))
    a, b = result["per_participant"]
    assert (a["trials"], a["fooled"], a["rate"]) == (40, 10, 0.25)
    assert b["rate"] == 0.5 and b["ci95"] == pytest.approx(list(wilson_interval(20, 40)))
    overall = result["overall"]
    assert (overall["trials"], overall["fooled"]) == (80, 30)
    assert overall["participant_mean"] == pytest.approx(0.375)
    lo, hi = overall["participant_mean_ci95"]
    assert lo < 0.375 < hi
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n{}\n")
    with pytest.raises(BadInputError, match="not a JSON line"):
        read_answers([bad])


def test_default_page_follows_the_paper(folders, tmp_path):
    text = render_page(Study(*folders, tmp_path / "a.jsonl")).decode()
    assert "for 1 second(s)" in text
    assert "The first 10 trials are practice" in text and "the\n40 that follow" in text


def test_study_refuses_bad_requests(folders, tmp_path):
    study = Study(*folders, tmp_path / "a.jsonl", practice=1, main=1)
    with pytest.raises(BadInputError, match="participant id"):
        study.start("../etc")
    sid = study.start("p1")["session"]
    with pytest.raises(BadInputError, match="not the one being asked"):
        study.answer(sid, 1, "left", 10)
    with pytest.raises(BadInputError, match="left' or 'right"):
        study.answer(sid, 0, "up", 10)
    with pytest.raises(BadInputError, match="unknown session"):
        study.trial("0" * 16)


def test_cli_report_and_errors(tmp_path, capsys):
    path = tmp_path / "answers.jsonl"
    path.write_text(
        "".join(
            json.dumps({"participant": "a", "phase": "main", "fooled": i < 3}) + "\n"
            for i in range(10)
        )
    )
    assert cli_main(["study", "report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "30.0%" in out and "overall (pooled)" in out
    assert cli_main(["study", "report", str(tmp_path / "none.jsonl")]) == 2
    assert cli_main(["study", str(tmp_path / "x"), str(tmp_path / "y")]) == 2
    assert "not a folder of images" in capsys.readouterr().err


def test_scripted_participant_in_chromium(folders, tmp_path):
    """A participant answers 'left' to every trial; feedback only in practice; JSONL complete."""
    answers = tmp_path / "answers.jsonl"
    study = Study(*folders, answers, practice=2, main=4, display_ms=400, seed=7)
    server = make_server(study, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/img/../../etc/passwd", timeout=5)
        assert err.value.code == 404
        with browser_page() as page:
            page.goto(url)
            assert "for 0.4 second(s)" in page.inner_text("#intro")
            page.fill("#participant", "alice")
            page.click("#start")
            feedback = []
            for i in range(6):
                page.wait_for_function(
                    "document.getElementById('left').style.visibility === 'visible'"
                )
                assert page.is_disabled("#answer-left")
                page.wait_for_selector("#answer-left:not([disabled])")
                hidden = page.evaluate(
                    "getComputedStyle(document.getElementById('left')).visibility"
                )
                assert hidden == "hidden"
                page.click("#answer-left")
                if i < 2:
                    page.wait_for_function("document.getElementById('feedback').textContent !== ''")
                    feedback.append(page.inner_text("#feedback"))
                else:
                    page.wait_for_function(
                        "document.getElementById('feedback').textContent === ''"
                        " || !document.getElementById('done').classList.contains('hidden')"
                    )
            page.wait_for_selector("#done:not(.hidden)")
    finally:
        server.shutdown()
        server.server_close()
    records = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [r["phase"] for r in records] == ["practice"] * 2 + ["main"] * 4
    assert all(r["answer"] == "left" and r["participant"] == "alice" for r in records)
    assert all(r["correct"] == (r["fake_side"] == "left") for r in records)
    assert all(r["response_ms"] >= 0 for r in records)
    expected = ["Correct." if r["correct"] else "Wrong: that one was real." for r in records[:2]]
    assert feedback == expected


def test_cli_study_serves_on_localhost_and_stops_on_sigterm(folders, tmp_path):
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gankit.cli",
            "study",
            str(folders[0]),
            str(folders[1]),
            "--port",
            "0",
            "--answers",
            str(tmp_path / "a.jsonl"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("gankit study: http://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[2]
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "Real or fake?" in page and "for 1 second(s)" in page
        assert "3 pairs, paired by file name" in line
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
