"""The conversations, one module each. ``bot.app`` wires them into the engine's registry."""
