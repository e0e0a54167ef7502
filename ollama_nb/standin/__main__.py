"""``python -m ollama_nb.standin [--port 11434]``: serve the demo stand-in until interrupted."""

from __future__ import annotations

import argparse
import time

from .server import StandInServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=11434)
    args = parser.parse_args()
    with StandInServer(port=args.port) as server:
        print(f"ollama_nb stand-in server listening on {server.url} (Ctrl-C to stop)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
