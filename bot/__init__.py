"""Trợ lý OCOP runtime: settings, the engine, the Inbound/Outbound vocabulary, rules and channels."""

__version__ = "0.1.0"
