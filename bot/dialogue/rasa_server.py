"""Rasa's command line with bot.dialogue.rasa_speedups installed: `python -m bot.dialogue.rasa_server run ...`.

`make run`, the tests and the benchmark start Rasa this way; plain `rasa ...`
keeps working in the project, only without the speedups.
"""
from __future__ import annotations

from bot.dialogue import rasa_speedups


def main() -> None:
    rasa_speedups.install()
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
