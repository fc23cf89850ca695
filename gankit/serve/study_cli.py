"""``gankit study REAL_DIR FAKE_DIR`` (serve the page) and ``gankit study report FILE``."""

from __future__ import annotations

import json
import signal
import threading

from gankit.core.cliutil import ArgumentParser


def _serve(prog: str, argv: list[str]) -> int:
    from gankit.serve import study as st

    parser = ArgumentParser(
        prog=prog,
        description="Serve a real-vs-fake study page (Pix2Pix sec. 4.2 protocol): "
        "1 s display, unlimited answer time, practice trials with feedback, then trials without.",
    )
    parser.add_argument("real_dir", help="folder of real images")
    parser.add_argument("fake_dir", help="folder of generated images (same names pair them)")
    parser.add_argument(
        "--answers", default="study-answers.jsonl", help="JSONL file the answers are appended to"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any)")
    parser.add_argument("--practice", type=int, default=st.PRACTICE_TRIALS)
    parser.add_argument("--trials", type=int, default=st.MAIN_TRIALS)
    parser.add_argument("--display-ms", type=int, default=st.DISPLAY_MS)
    parser.add_argument("--seed", type=int, default=None, help="trial order seed")
    args = parser.parse_args(argv)
    study = st.Study(
        args.real_dir,
        args.fake_dir,
        args.answers,
        args.practice,
        args.trials,
        args.display_ms,
        args.seed,
    )
    server = st.make_server(study, args.host, args.port)
    host, port = server.server_address[:2]
    mode = "paired by file name" if study.paired else "random real/fake pairs"
    # SIGTERM asks serve_forever to return (from a thread: shutdown() waits for the loop),
    # rather than raising KeyboardInterrupt wherever the main thread happens to be.
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    signal.signal(signal.SIGTERM, lambda *_: stopper.ident or stopper.start())
    print(
        f"gankit study: http://{host}:{port}/ ({len(study.pairs)} pairs, {mode}); answers "
        f"-> {args.answers} (Ctrl+C to stop)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _report(prog: str, argv: list[str]) -> int:
    from gankit.serve.study import read_answers, report

    parser = ArgumentParser(prog=prog, description="fooling rate with 95% intervals")
    parser.add_argument("answers", nargs="+", help="JSONL answer file(s)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    result = report(read_answers(args.answers))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'participant':<24} {'trials':>6} {'fooled':>6} {'rate':>7}  95% CI (Wilson)")
    for r in result["per_participant"]:
        lo, hi = r["ci95"]
        print(
            f"{r['participant']:<24} {r['trials']:>6} {r['fooled']:>6} {r['rate']:>7.1%}  "
            f"[{lo:.1%}, {hi:.1%}]"
        )
    o = result["overall"]
    lo, hi = o["ci95"]
    print(
        f"{'overall (pooled)':<24} {o['trials']:>6} {o['fooled']:>6} {o['rate']:>7.1%}  "
        f"[{lo:.1%}, {hi:.1%}]"
    )
    if "participant_mean" in o:
        lo, hi = o["participant_mean_ci95"]
        print(
            f"mean over {o['participants']} participants: {o['participant_mean']:.1%} "
            f"[{lo:.1%}, {hi:.1%}] (Student t)"
        )
    return 0


def main(prog: str, argv: list[str]) -> int:
    """Entry point of ``gankit study``."""
    if not argv or argv[0] in ("-h", "--help"):
        print(
            f"usage: {prog} REAL_DIR FAKE_DIR [options]\n       {prog} report ANSWERS.jsonl "
            "[...]\n\nA real-vs-fake perceptual study page (Pix2Pix protocol) and its report."
        )
        return 0 if argv else 2
    if argv[0] == "report":
        return _report(f"{prog} report", argv[1:])
    return _serve(prog, argv)
