"""The agent-facing side of the hand-off: agents' accounts and the desks they work at.

- `accounts`: agent accounts (hashed passwords, role, skill groups, chat limit) and their CLI;
- `console`: the agents' web console (live queue, chats, context, actions);
- `telegram_desk`: the same work from a Telegram group and private chats (python-telegram-bot).

This package depends on `bot.handoff` (the queue, presence, dispatch, `AgentDesk`),
never the other way round: the shopper side works without any desk installed.
"""
