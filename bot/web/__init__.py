"""The shopper-facing web chat page (and, later, the agent console).

`bot.web.server.create_app(rasa_url)` builds the Sanic app; run it with
`python -m bot.web.server --port 8080 --rasa-url http://localhost:5005`.
"""
