"""The stand-in Ollama server from the command line.

    python -m ollama_nb.standin [--port 11434] [--cassette FILE [--speed 2]]
    python -m ollama_nb.standin record --upstream http://127.0.0.1:11434 --out FILE [--port 11435]

The first serves the demo model (answering from a cassette first, with its recorded pacing);
the second records what a real Ollama answers, through a proxy, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import errno
import time

from .cassette import Cassette, Recorder
from .server import StandInServer


def _wait() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def _busy(port: int) -> SystemExit:
    return SystemExit(
        f"Port {port} is in use (an Ollama already running?): pick another with --port, e.g. --port {port + 1}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ollama_nb.standin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("mode", nargs="?", choices=["serve", "record"], default="serve")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--cassette", help="replay this cassette (serve)")
    parser.add_argument("--speed", type=float, default=1.0, help="replay pacing factor (serve)")
    parser.add_argument("--upstream", default="http://127.0.0.1:11434", help="the real Ollama (record)")
    parser.add_argument("--out", help="the cassette to write (record)")
    args = parser.parse_args(argv)
    if args.mode == "record":
        if not args.out:
            parser.error("record needs --out FILE")
        try:
            recorder = Recorder(args.upstream, port=args.port or 11435)
        except OSError as exc:
            raise _busy(args.port or 11435) if exc.errno == errno.EADDRINUSE else exc from None
        with recorder:
            print(
                f"Recording {args.upstream} at {recorder.url}: set OLLAMA_HOST={recorder.url} (Ctrl-C to stop)",
                flush=True,
            )
            _wait()
        print(f"Wrote {recorder.cassette.save(args.out)} ({len(recorder.cassette.exchanges)} exchanges)")
        return
    cassette = Cassette.load(args.cassette) if args.cassette else None
    try:
        server = StandInServer(port=args.port or 11434, cassette=cassette, speed=args.speed)
    except OSError as exc:
        raise _busy(args.port or 11434) if exc.errno == errno.EADDRINUSE else exc from None
    with server:
        print(f"ollama_nb stand-in server listening on {server.url} (Ctrl-C to stop)", flush=True)
        _wait()


if __name__ == "__main__":
    main()
