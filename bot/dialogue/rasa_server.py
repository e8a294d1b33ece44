"""Rasa's command line with bot.dialogue.rasa_speedups installed: `python -m bot.dialogue.rasa_server run ...`.

`make run`, the tests and the benchmark start Rasa this way; plain `rasa ...`
keeps working in the project, only without the speedups. For `run`, the HTTP
API's token comes from the environment (`SHOP_RASA_API_TOKEN`, see
`bot.runtime.secrets_store`) rather than the command line, where every local
user could read it.
"""
from __future__ import annotations

import sys

from bot.config import load_settings
from bot.dialogue import rasa_speedups
from bot.privacy.logs import install_masking


def with_api_token(argv: list[str], token: str | None) -> list[str]:
    """`argv` with `--auth-token <token>` added to a `run` that has none."""
    if not token or not argv or argv[0] != "run" or any(a.split("=")[0] in ("--auth-token", "-t") for a in argv):
        return argv
    return [*argv, f"--auth-token={token}"]  # "=": a token may start with "-"


def main() -> None:
    install_masking()
    rasa_speedups.install()
    from rasa.__main__ import main as rasa_main

    # Changes this process's own copy only: /proc/<pid>/cmdline keeps the original arguments.
    sys.argv = [sys.argv[0], *with_api_token(sys.argv[1:], load_settings().rasa_api_token)]
    rasa_main()


if __name__ == "__main__":
    main()
