"""The agents' web console: log in, see the live queue, take chats, answer shoppers.

`bot.desk.console.server.create_app(...)` builds the Sanic app; run it with
`python -m bot.desk.console.server --port 8090`.
"""
