"""Starting and stopping the whole assistant: Redis, action server, Rasa server, web chat (`Stack`)."""
