"""Hand-off to human agents: when the bot lets go, the queue agents take conversations from, and the way back.

- `triggers.yml`: every trigger and threshold; `frustration`: the per-turn frustration score;
  `escalation`: group, priority, queue or ticket, what the shopper is told;
- `queue`: the Redis queue (atomic Lua claims, aging); `presence`: agents' heartbeats; `dispatch`: assignment
  and the sweep; `positions`: queue places pushed to waiting shoppers; `keys`: every Redis key;
- `gate`: who owns a conversation, checked before NLU in every channel; `outbound`: messages to a shopper
  on any channel; `transcript`: everything said kept in Rasa's tracker;
- `desk`: what an agent does (claim, send, note, transfer, close), shared by the console and Telegram desk;
- `hours`: the agents' working hours per channel and holidays; `leave_message`: the callback ticket outside them;
- `service`: the parts a process uses, built once from the settings.
"""
