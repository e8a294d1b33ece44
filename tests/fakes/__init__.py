"""Local stand-ins for outside services the tests talk to over real HTTP (the Telegram Bot API, ...)."""
