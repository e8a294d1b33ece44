"""Hand-off to human agents: when agents work, and how a shopper's request reaches them.

- `hours`: the agents' working hours and holidays, and the texts that state them;
- `leave_message`: the callback ticket agents answer in working hours.
"""
